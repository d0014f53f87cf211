//! Company inference: providers that map a click's IP to a company, and the background
//! enrichment that settles each click's inference after the redirect has been answered.

pub mod enrichment;
pub mod ip_table;

use std::net::IpAddr;

use crate::store::inferences::InferredCompany;

/// Something that can name the company behind an IP address.
pub trait CompanyProvider: Send + Sync + std::fmt::Debug {
    /// Short name recorded as the inference's `source`.
    fn name(&self) -> &'static str;
    /// The company for `ip`, if this provider knows it.
    fn lookup(&self, ip: IpAddr) -> Option<InferredCompany>;
}

/// Providers asked in order; the first answer wins.
#[derive(Debug, Default)]
pub struct ProviderChain {
    providers: Vec<Box<dyn CompanyProvider>>,
}

impl ProviderChain {
    /// A chain asking `providers` in the given order.
    pub fn new(providers: Vec<Box<dyn CompanyProvider>>) -> Self {
        Self { providers }
    }

    /// The first provider's answer for `ip`.
    pub fn lookup(&self, ip: IpAddr) -> Option<InferredCompany> {
        self.providers.iter().find_map(|p| p.lookup(ip))
    }
}
