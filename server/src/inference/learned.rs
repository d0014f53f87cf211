//! Networks learned from signups, as an inference provider: a click from a /24 (or /48)
//! where a signup confirmed a company is inferred as that company.
//!
//! The database's `learned_networks` table is the truth; this is its in-memory copy, so
//! a lookup is one hash probe. A signup's write hands back what it learned and the copy
//! is updated at once; a periodic refresh picks up rows other processes wrote.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;
use std::sync::{Arc, RwLock};

use naano_core::OrgKind;

use super::{Answer, InMemoryProvider};
use crate::sql_params;
use crate::store::signup::LearnedNetwork;
use crate::store::{Store, StoreError};

/// Confidence of a network confirmed by `confirmations` signups in a row: 0.85 for the
/// first, rising towards 0.95 — above public ASN data (0.5), since a person working
/// there said so, yet below certainty, since people move and offices share buildings.
pub fn learned_confidence(confirmations: i64) -> f64 {
    let n = confirmations.max(1) as f64;
    0.95 - 0.1 / n
}

#[derive(Debug, Clone)]
struct Entry {
    company: String,
    domain: Option<String>,
    confirmations: i64,
    updated_at: i64,
}

/// The learned networks, keyed by the network itself rather than its CIDR text: every
/// click looks its network up here, and formatting it as text first cost more than the
/// rest of the lookup.
#[derive(Debug, Default)]
pub struct LearnedNetworks {
    networks: RwLock<HashMap<IpNet, Entry>>,
}

/// The /24 or /48 of `ip`, the network [`naano_core::client_network`] names.
fn network_of(ip: IpAddr) -> Option<IpNet> {
    let (address, bits) = naano_core::client_network_prefix(ip);
    IpNet::new(address, bits).ok()
}

impl LearnedNetworks {
    /// Takes in what a write learned (newer than what is held).
    pub fn record(&self, learned: &LearnedNetwork) {
        // Rows are written from `client_network`, so they always parse; anything else
        // was written by hand and cannot match a click anyway.
        let Ok(network) = learned.network.parse::<IpNet>().map(|n| n.trunc()) else {
            tracing::debug!(network = %learned.network, "learned network is not a CIDR; ignored");
            return;
        };
        // Held already, or something newer is: the common case on a refresh, which
        // reads back this process's own signups too. Checked under the read lock first
        // so that it never holds up the redirects' lookups.
        let held = |e: &Entry| {
            e.updated_at > learned.updated_at
                || (e.updated_at == learned.updated_at
                    && e.confirmations == learned.confirmations
                    && e.company == learned.company)
        };
        if self
            .networks
            .read()
            .is_ok_and(|map| map.get(&network).is_some_and(held))
        {
            return;
        }
        let Ok(mut map) = self.networks.write() else {
            return;
        };
        if !map.get(&network).is_some_and(held) {
            map.insert(
                network,
                Entry {
                    company: learned.company.clone(),
                    domain: learned.domain.clone(),
                    confirmations: learned.confirmations,
                    updated_at: learned.updated_at,
                },
            );
        }
    }

    /// Loads rows changed at or after `since` (Unix ms); returns the newest change
    /// seen, the `since` of the next refresh.
    ///
    /// In any order: [`Self::record`] keeps the newest row of each network. Rows are
    /// taken in as they are read, on the read's blocking thread: under many
    /// signups a refresh reads back tens of thousands of rows (this process's own
    /// among them), and doing that on an async worker stalled a quarter of the
    /// runtime's requests for as long.
    pub async fn refresh(self: &Arc<Self>, store: &Store, since: i64) -> Result<i64, StoreError> {
        let this = Arc::clone(self);
        store
            .read(move |tx| {
                let mut newest = since;
                tx.query(
                    "SELECT network, company, domain, confirmations, updated_at
                     FROM learned_networks WHERE updated_at >= ?",
                    sql_params![since],
                    &mut |r| {
                        let learned = LearnedNetwork {
                            network: r.text(0)?,
                            company: r.text(1)?,
                            domain: r.opt_text(2)?,
                            confirmations: r.int(3)?,
                            updated_at: r.int(4)?,
                        };
                        newest = newest.max(learned.updated_at);
                        this.record(&learned);
                        Ok(())
                    },
                )?;
                Ok(newest)
            })
            .await
    }

    /// Number of networks held.
    pub fn len(&self) -> usize {
        self.networks.read().map_or(0, |m| m.len())
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl InMemoryProvider for LearnedNetworks {
    const NAME: &'static str = "learned";

    /// The learned company of `ip`'s network.
    fn find(&self, ip: IpAddr) -> Option<Answer> {
        let network = network_of(ip)?;
        let map = self.networks.read().ok()?;
        let entry = map.get(&network)?;
        Some(Answer {
            company: entry.company.clone(),
            domain: entry.domain.clone(),
            confidence: learned_confidence(entry.confirmations),
            source: Self::NAME.into(),
            kind: OrgKind::Business,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn learned(network: &str, company: &str, confirmations: i64, at: i64) -> LearnedNetwork {
        LearnedNetwork {
            network: network.into(),
            company: company.into(),
            domain: None,
            confirmations,
            updated_at: at,
        }
    }

    #[test]
    fn a_click_from_the_same_network_gets_the_learned_company() {
        let l = LearnedNetworks::default();
        l.record(&learned("203.0.113.0/24", "Acme", 1, 10));
        let hit = l.find("203.0.113.200".parse().unwrap()).unwrap();
        assert_eq!(
            (hit.company.as_str(), hit.source.as_str()),
            ("Acme", "learned")
        );
        assert_eq!(hit.confidence, learned_confidence(1));
        assert!(l.find("203.0.114.1".parse().unwrap()).is_none());
    }

    #[test]
    fn rows_named_by_client_network_match_the_clicks_they_came_from() {
        let l = LearnedNetworks::default();
        for (at, ip) in ["2001:db8:acde::1", "::ffff:198.51.100.7"]
            .iter()
            .enumerate()
        {
            let ip: IpAddr = ip.parse().unwrap();
            l.record(&learned(
                &naano_core::client_network(ip),
                "Acme",
                1,
                at as i64,
            ));
        }
        for (ip, known) in [
            ("2001:db8:acde:ffff::9", true),
            ("2001:db8:acdf::1", false),
            ("198.51.100.250", true),
            ("::ffff:198.51.100.1", true),
            ("198.51.101.1", false),
        ] {
            assert_eq!(l.find(ip.parse().unwrap()).is_some(), known, "{ip}");
        }
        l.record(&learned("not a network", "Nobody", 1, 9));
        assert_eq!(l.len(), 2, "a row that is not a CIDR is ignored");
    }

    #[test]
    fn older_news_does_not_replace_newer() {
        let l = LearnedNetworks::default();
        l.record(&learned("203.0.113.0/24", "Globex", 1, 20));
        l.record(&learned("203.0.113.0/24", "Acme", 3, 10));
        assert_eq!(
            l.find("203.0.113.1".parse().unwrap()).unwrap().company,
            "Globex"
        );
    }

    #[test]
    fn confidence_rises_with_confirmations_and_stays_below_one() {
        let c: Vec<f64> = (1..=5).map(learned_confidence).collect();
        assert!(c.windows(2).all(|w| w[0] < w[1]), "{c:?}");
        assert!(c[0] > crate::inference::asn::ASN_CONFIDENCE);
        assert!(learned_confidence(1_000_000) < 1.0);
    }
}
