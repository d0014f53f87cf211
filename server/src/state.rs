//! What every handler shares.

use std::ops::Deref;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::Config;
use crate::inference::enrichment::Enrichment;
use crate::inference::learned::LearnedNetworks;
use crate::inference::ProviderChain;
use crate::store::Store;

/// Shared state, behind one `Arc`: axum clones the state for every request, and one
/// reference count is much cheaper than one per part (the store alone holds several,
/// a channel sender among them). Its parts are reached through [`Deref`].
#[derive(Debug, Clone)]
pub struct AppState(Arc<SharedState>);

impl Deref for AppState {
    type Target = SharedState;

    fn deref(&self) -> &SharedState {
        &self.0
    }
}

/// What [`AppState`] shares.
#[derive(Debug)]
pub struct SharedState {
    /// The configuration the server started with.
    pub config: Arc<Config>,
    /// The database.
    pub store: Store,
    /// Queue of sessions to enrich.
    pub enrichment: Enrichment,
    /// Networks learned from signups (updated after each signup's commit).
    pub learned: Arc<LearnedNetworks>,
    /// The inference providers (the redirect settles in-memory answers at once).
    pub chain: Arc<ProviderChain>,
    /// Base of the tracking URLs handed out, without a trailing slash.
    pub public_base: Arc<str>,
    /// SHA-256 of the admin token; `None` disables the admin API.
    admin_token_digest: Option<[u8; 32]>,
}

impl AppState {
    /// Bundles the parts.
    pub fn new(
        config: Config,
        store: Store,
        enrichment: Enrichment,
        learned: Arc<LearnedNetworks>,
        chain: Arc<ProviderChain>,
        public_base: String,
    ) -> Self {
        let admin_token_digest = config
            .admin_token
            .as_deref()
            .filter(|t| !t.is_empty())
            .map(|t| Sha256::digest(t.as_bytes()).into());
        Self(Arc::new(SharedState {
            config: Arc::new(config),
            store,
            enrichment,
            learned,
            chain,
            public_base: public_base.into(),
            admin_token_digest,
        }))
    }
}

impl SharedState {
    /// Whether the admin API is enabled.
    pub fn admin_enabled(&self) -> bool {
        self.admin_token_digest.is_some()
    }

    /// Compares a presented token with the configured one in constant time. Hashing
    /// both first makes the comparison independent of the tokens' lengths too.
    pub fn admin_token_matches(&self, presented: &str) -> bool {
        let Some(expected) = &self.admin_token_digest else {
            return false;
        };
        let presented: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        bool::from(expected.ct_eq(&presented))
    }

    /// Whether cookies should carry `Secure` (the public URL is https).
    pub fn secure_cookies(&self) -> bool {
        self.public_base.starts_with("https://")
    }
}
