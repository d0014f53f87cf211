//! Company inference: providers that name the organisation behind a click's IP, the
//! chain that asks them in priority order, and the background enrichment that settles
//! each click's inference after its redirect has been answered.
//!
//! The chain, highest priority first (see [`crate::Server::start`]):
//! 1. the user's own `cidr,company,domain,confidence` table (`ip_table`),
//! 2. networks learned from confirmed signups (`learned`),
//! 3. an external HTTP enrichment service, when configured (`http`),
//! 4. public IP-to-ASN data (`asn`).
//!
//! The first provider with an answer decides, whatever the answer's kind: an ISP or a
//! cloud answer is a decision too ("no company"), not a reason to ask the next one.

pub mod asn;
pub mod csv_source;
pub mod enrichment;
pub mod http;
pub mod ip_table;
pub mod learned;

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use naano_core::OrgKind;

/// One provider's answer for an IP.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Answer {
    /// The organisation's name (for a non-business kind, the ISP's or cloud's name).
    pub company: String,
    /// Web domain, lowercase, without `www.`, when known.
    pub domain: Option<String>,
    /// In [0, 1].
    pub confidence: f64,
    /// Which provider said so (`ip_table`, `learned`, `http`, `asn`, `admin`).
    pub source: String,
    /// What kind of organisation it is; only [`OrgKind::Business`] is attributed.
    pub kind: OrgKind,
}

impl Answer {
    /// Whether this answer names a company to attribute the visit to.
    pub fn is_attributable(&self) -> bool {
        self.kind.is_attributable()
    }
}

/// Why a provider could not answer; every variant is worth retrying later.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    /// No answer within the provider's timeout.
    #[error("timed out")]
    Timeout,
    /// The service answered with an error status.
    #[error("answered HTTP {0}")]
    Status(u16),
    /// The answer could not be understood.
    #[error("malformed answer: {0}")]
    Malformed(String),
    /// Connection-level failure.
    #[error("transport: {0}")]
    Transport(String),
    /// The circuit breaker is open: the service failed repeatedly and is left alone.
    #[error("circuit open after repeated failures")]
    CircuitOpen,
    /// Our own rate limit (or the service's 429) says wait.
    #[error("rate limited; retry in {0:?}")]
    RateLimited(Duration),
}

/// A provider lookup in flight.
pub type LookupFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<Answer>, ProviderError>> + Send + 'a>>;

/// Something that can name the organisation behind an IP address.
pub trait CompanyInference: Send + Sync + std::fmt::Debug {
    /// Short name recorded as the inference's `source`.
    fn name(&self) -> &'static str;
    /// The organisation behind `ip`; `Ok(None)` when this provider does not know it.
    fn lookup(&self, ip: IpAddr) -> LookupFuture<'_>;

    /// The answer straight from memory, for providers that need no I/O (`Some(None)`:
    /// not known); `None` for a provider that must go to the network.
    fn lookup_now(&self, _ip: IpAddr) -> Option<Option<Answer>> {
        None
    }
}

/// A provider that answers from memory (a table, an index): it gets
/// [`CompanyInference`] for free, answering both at once and asynchronously.
pub trait InMemoryProvider: Send + Sync + std::fmt::Debug {
    /// Short name recorded as the inference's `source`.
    const NAME: &'static str;
    /// The answer for `ip`, if known.
    fn find(&self, ip: IpAddr) -> Option<Answer>;
}

impl<T: InMemoryProvider> CompanyInference for T {
    fn name(&self) -> &'static str {
        T::NAME
    }

    fn lookup(&self, ip: IpAddr) -> LookupFuture<'_> {
        Box::pin(std::future::ready(Ok(self.find(ip))))
    }

    fn lookup_now(&self, ip: IpAddr) -> Option<Option<Answer>> {
        Some(self.find(ip))
    }
}

/// What the chain decided for an IP.
#[derive(Debug, Clone, PartialEq)]
pub enum ChainOutcome {
    /// A provider answered (any kind).
    Answer(Answer),
    /// Every provider was asked; none knows this IP.
    Unknown,
    /// A provider failed before any answer: retry the whole lookup later.
    Retry(ProviderError),
}

/// Providers asked in order; the first answer wins.
#[derive(Debug, Default, Clone)]
pub struct ProviderChain {
    providers: Vec<Arc<dyn CompanyInference>>,
}

impl ProviderChain {
    /// A chain asking `providers` in the given order.
    pub fn new(providers: Vec<Arc<dyn CompanyInference>>) -> Self {
        Self { providers }
    }

    /// The providers' names, in order (logged at start).
    pub fn names(&self) -> Vec<&'static str> {
        self.providers.iter().map(|p| p.name()).collect()
    }

    /// The chain's decision when every provider it has to ask answers from memory; `None`
    /// as soon as one would need the network. The redirect uses this to settle a click
    /// in the click's own write: no job, no second write, and still no I/O before the
    /// visitor is redirected (an in-memory lookup costs well under a microsecond).
    pub fn lookup_now(&self, ip: IpAddr) -> Option<ChainOutcome> {
        let ip = naano_core::canonical_ip(ip);
        for provider in &self.providers {
            if let Some(answer) = provider.lookup_now(ip)? {
                return Some(ChainOutcome::Answer(answer));
            }
        }
        Some(ChainOutcome::Unknown)
    }

    /// Asks each provider in turn. A failing provider stops the chain with
    /// [`ChainOutcome::Retry`] — a lower provider's answer must not replace a better one
    /// that is only temporarily unavailable — unless `give_up_on_failures` is set (the
    /// job's last attempt), in which case the failing provider is skipped. A rate-limit
    /// wait is never skipped: it is not a failure and does not use up attempts.
    pub async fn lookup(&self, ip: IpAddr, give_up_on_failures: bool) -> ChainOutcome {
        let ip = naano_core::canonical_ip(ip);
        for provider in &self.providers {
            match provider.lookup(ip).await {
                Ok(Some(answer)) => return ChainOutcome::Answer(answer),
                Ok(None) => {}
                // Waiting for a rate limit is not a failure: never a reason to skip.
                Err(err @ ProviderError::RateLimited(_)) => return ChainOutcome::Retry(err),
                Err(err) if give_up_on_failures => {
                    tracing::warn!(provider = provider.name(), error = %err, %ip,
                        "provider still failing on the last attempt; asking the next one");
                }
                Err(err) => return ChainOutcome::Retry(err),
            }
        }
        ChainOutcome::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A provider with a fixed behaviour, to test the chain's rules.
    #[derive(Debug)]
    struct Fixed(&'static str, Result<Option<OrgKind>, ProviderError>);

    impl CompanyInference for Fixed {
        fn name(&self) -> &'static str {
            self.0
        }
        fn lookup(&self, _ip: IpAddr) -> LookupFuture<'_> {
            let result = self.1.clone().map(|kind| {
                kind.map(|kind| Answer {
                    company: format!("{} answer", self.0),
                    domain: None,
                    confidence: 0.5,
                    source: self.0.into(),
                    kind,
                })
            });
            Box::pin(std::future::ready(result))
        }
        fn lookup_now(&self, _ip: IpAddr) -> Option<Option<Answer>> {
            let answer = self.1.clone().ok()?.map(|kind| Answer {
                company: format!("{} answer", self.0),
                domain: None,
                confidence: 0.5,
                source: self.0.into(),
                kind,
            });
            Some(answer)
        }
    }

    fn chain(providers: Vec<Fixed>) -> ProviderChain {
        ProviderChain::new(
            providers
                .into_iter()
                .map(|p| Arc::new(p) as Arc<dyn CompanyInference>)
                .collect(),
        )
    }

    fn source(outcome: &ChainOutcome) -> Option<&str> {
        match outcome {
            ChainOutcome::Answer(a) => Some(&a.source),
            _ => None,
        }
    }

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));

    #[tokio::test]
    async fn first_answer_wins_in_order_whatever_its_kind() {
        let c = chain(vec![
            Fixed("table", Ok(None)),
            Fixed("learned", Ok(Some(OrgKind::Business))),
            Fixed("asn", Ok(Some(OrgKind::Business))),
        ]);
        assert_eq!(source(&c.lookup(IP, false).await), Some("learned"));

        let c = chain(vec![
            Fixed("asn", Ok(Some(OrgKind::Isp))),
            Fixed("later", Ok(Some(OrgKind::Business))),
        ]);
        let outcome = c.lookup(IP, false).await;
        assert_eq!(source(&outcome), Some("asn"), "an ISP answer decides too");
        assert!(matches!(outcome, ChainOutcome::Answer(a) if !a.is_attributable()));
    }

    #[test]
    fn in_memory_chains_decide_now_and_network_ones_wait() {
        let memory = chain(vec![
            Fixed("table", Ok(None)),
            Fixed("asn", Ok(Some(OrgKind::Isp))),
        ]);
        assert!(
            matches!(memory.lookup_now(IP), Some(ChainOutcome::Answer(a)) if a.source == "asn")
        );
        assert_eq!(
            chain(vec![Fixed("t", Ok(None))]).lookup_now(IP),
            Some(ChainOutcome::Unknown)
        );
        let with_network = ProviderChain::new(vec![
            Arc::new(Fixed("table", Ok(None))) as Arc<dyn CompanyInference>,
            Arc::new(Remote),
            Arc::new(Fixed("asn", Ok(Some(OrgKind::Business)))),
        ]);
        assert_eq!(
            with_network.lookup_now(IP),
            None,
            "the remote one must be asked first"
        );
        let known_first = ProviderChain::new(vec![
            Arc::new(Fixed("table", Ok(Some(OrgKind::Business)))) as Arc<dyn CompanyInference>,
            Arc::new(Remote),
        ]);
        assert!(matches!(
            known_first.lookup_now(IP),
            Some(ChainOutcome::Answer(_))
        ));
    }

    /// A provider that needs the network.
    #[derive(Debug)]
    struct Remote;

    impl CompanyInference for Remote {
        fn name(&self) -> &'static str {
            "remote"
        }
        fn lookup(&self, _ip: IpAddr) -> LookupFuture<'_> {
            Box::pin(std::future::ready(Ok(None)))
        }
    }

    #[tokio::test]
    async fn nobody_knows_is_unknown() {
        let c = chain(vec![Fixed("a", Ok(None)), Fixed("b", Ok(None))]);
        assert_eq!(c.lookup(IP, false).await, ChainOutcome::Unknown);
        assert_eq!(chain(vec![]).lookup(IP, false).await, ChainOutcome::Unknown);
    }

    #[tokio::test]
    async fn a_failure_stops_the_chain_until_the_last_attempt() {
        let c = chain(vec![
            Fixed("table", Ok(None)),
            Fixed("http", Err(ProviderError::Timeout)),
            Fixed("asn", Ok(Some(OrgKind::Business))),
        ]);
        assert_eq!(
            c.lookup(IP, false).await,
            ChainOutcome::Retry(ProviderError::Timeout)
        );
        assert_eq!(source(&c.lookup(IP, true).await), Some("asn"));
    }
}
