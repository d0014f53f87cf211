//! An external enrichment service (IPinfo-style) as an inference provider: one GET per
//! IP to a configured URL template, bounded by a timeout, a rate limit and a circuit
//! breaker so that a slow or failing service costs neither the server nor the service.
//!
//! The answer is read the way IPinfo shapes it: a `company` object
//! (`name`, `domain`, `type`), else an `asn` object (`asn`, `name`, `domain`, `type`),
//! else an `org` string such as `"AS15169 Google LLC"`; `"bogon": true` (a private
//! address) and 404 mean "not known". A missing or unrecognised `type` is classified
//! from the name with the same rules as the public ASN data.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use naano_core::circuit::{BreakerConfig, CircuitBreaker};
use naano_core::{classify_org, OrgKind};
use serde::Deserialize;

use super::ip_table::normalize_domain;
use super::{Answer, CompanyInference, LookupFuture, ProviderError};

/// Confidence of the service's `company` answer, and of its ASN-level answers.
const COMPANY_CONFIDENCE: f64 = 0.7;
const ASN_LEVEL_CONFIDENCE: f64 = 0.5;
/// How long to wait after a 429 without `Retry-After`.
const DEFAULT_THROTTLE_WAIT: Duration = Duration::from_secs(1);

/// Settings of the external provider.
#[derive(Debug, Clone)]
pub struct HttpProviderConfig {
    /// URL with `{ip}` where the address goes, e.g. `https://ipinfo.io/{ip}/json`.
    pub url_template: String,
    /// Sent as `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// Per-request timeout (connect + answer).
    pub timeout: Duration,
    /// Requests per second at most.
    pub rate_per_second: NonZeroU32,
    /// When to stop calling a failing service, and for how long.
    pub breaker: BreakerConfig,
}

/// Why the provider could not be built.
#[derive(Debug, thiserror::Error)]
pub enum HttpProviderError {
    /// The template has no `{ip}` or is not an http(s) URL.
    #[error("--enrich-url must be an http(s) URL containing {{ip}}, got {0:?}")]
    BadTemplate(String),
    /// The HTTP client could not be built (TLS set-up).
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// The external provider.
#[derive(Debug)]
pub struct HttpProvider {
    client: reqwest::Client,
    config: HttpProviderConfig,
    limiter: RateLimiter<NotKeyed, InMemoryState, DefaultClock>,
    breaker: Mutex<CircuitBreaker>,
}

impl HttpProvider {
    /// Validates the settings and builds the client.
    pub fn new(config: HttpProviderConfig) -> Result<Self, HttpProviderError> {
        let t = &config.url_template;
        let valid = t.contains("{ip}")
            && url::Url::parse(&t.replace("{ip}", "192.0.2.1"))
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
        if !valid {
            return Err(HttpProviderError::BadTemplate(t.clone()));
        }
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .user_agent(concat!("naano-server/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| HttpProviderError::Client(e.to_string()))?;
        Ok(Self {
            client,
            limiter: RateLimiter::direct(Quota::per_second(config.rate_per_second)),
            breaker: Mutex::new(CircuitBreaker::new(config.breaker)),
            config,
        })
    }

    fn breaker(&self) -> std::sync::MutexGuard<'_, CircuitBreaker> {
        // The breaker's state is a few integers, valid after any panic mid-update.
        self.breaker
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn fetch(&self, ip: IpAddr) -> Result<Option<Answer>, ProviderError> {
        // Rate limit first: a throttled call must not take a half-open breaker's trial.
        if let Err(not_until) = self.limiter.check() {
            return Err(ProviderError::RateLimited(
                not_until.wait_time_from(DefaultClock::default().now()),
            ));
        }
        if !self.breaker().allow(Instant::now()) {
            return Err(ProviderError::CircuitOpen);
        }
        let result = self.call(ip).await;
        match &result {
            Ok(_) | Err(ProviderError::RateLimited(_)) => self.breaker().on_success(),
            Err(_) => self.breaker().on_failure(Instant::now()),
        }
        result
    }

    async fn call(&self, ip: IpAddr) -> Result<Option<Answer>, ProviderError> {
        let url = self.config.url_template.replace("{ip}", &ip.to_string());
        let mut request = self.client.get(url);
        if let Some(token) = &self.config.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(transport_error)?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            let wait = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map_or(DEFAULT_THROTTLE_WAIT, Duration::from_secs);
            return Err(ProviderError::RateLimited(wait));
        }
        if !status.is_success() {
            return Err(ProviderError::Status(status.as_u16()));
        }
        let body = response.bytes().await.map_err(transport_error)?;
        let parsed: ServiceAnswer =
            serde_json::from_slice(&body).map_err(|e| ProviderError::Malformed(e.to_string()))?;
        Ok(parsed.into_answer())
    }
}

fn transport_error(err: reqwest::Error) -> ProviderError {
    if err.is_timeout() {
        ProviderError::Timeout
    } else {
        ProviderError::Transport(err.to_string())
    }
}

impl CompanyInference for HttpProvider {
    fn name(&self) -> &'static str {
        "http"
    }

    fn lookup(&self, ip: IpAddr) -> LookupFuture<'_> {
        Box::pin(self.fetch(ip))
    }
}

/// The parts of an IPinfo-style answer we read; everything else is ignored.
#[derive(Debug, Deserialize)]
struct ServiceAnswer {
    #[serde(default)]
    bogon: bool,
    company: Option<Entity>,
    asn: Option<Entity>,
    org: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Entity {
    name: Option<String>,
    domain: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    asn: Option<String>,
}

impl ServiceAnswer {
    fn into_answer(self) -> Option<Answer> {
        if self.bogon {
            return None;
        }
        let from_entity = |e: Entity, confidence: f64| {
            let name = e.name.filter(|n| !n.trim().is_empty())?;
            let asn = e.asn.as_deref().and_then(parse_asn).unwrap_or(0);
            let kind = e
                .kind
                .and_then(|k| k.parse::<OrgKind>().ok())
                .unwrap_or_else(|| classify_org(asn, &name));
            Some(Answer {
                company: name.trim().to_owned(),
                domain: e
                    .domain
                    .filter(|d| !d.is_empty())
                    .map(|d| normalize_domain(&d)),
                confidence,
                source: "http".into(),
                kind,
            })
        };
        if let Some(answer) = self
            .company
            .and_then(|c| from_entity(c, COMPANY_CONFIDENCE))
        {
            return Some(answer);
        }
        if let Some(answer) = self.asn.and_then(|a| from_entity(a, ASN_LEVEL_CONFIDENCE)) {
            return Some(answer);
        }
        // "AS15169 Google LLC"
        let org = self.org?;
        let (asn, name) = org.split_once(' ').unwrap_or(("", org.as_str()));
        let asn = parse_asn(asn).unwrap_or(0);
        let name = name.trim();
        (!name.is_empty()).then(|| Answer {
            company: name.to_owned(),
            domain: None,
            confidence: ASN_LEVEL_CONFIDENCE,
            source: "http".into(),
            kind: classify_org(asn, name),
        })
    }
}

fn parse_asn(raw: &str) -> Option<u32> {
    raw.trim().trim_start_matches("AS").parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Option<Answer> {
        serde_json::from_str::<ServiceAnswer>(json)
            .unwrap()
            .into_answer()
    }

    #[test]
    fn reads_company_then_asn_then_org() {
        let a = parse(
            r#"{"ip":"1.2.3.4","company":{"name":"Acme Corp","domain":"www.acme.com","type":"business"},
                "asn":{"asn":"AS64500","name":"Acme Transit","type":"isp"}}"#,
        )
        .unwrap();
        assert_eq!(
            (
                a.company.as_str(),
                a.domain.as_deref(),
                a.kind,
                a.confidence
            ),
            (
                "Acme Corp",
                Some("acme.com"),
                OrgKind::Business,
                COMPANY_CONFIDENCE
            )
        );
        let a = parse(r#"{"asn":{"asn":"AS7922","name":"Comcast Cable Communications, LLC","domain":"comcast.com"}}"#).unwrap();
        assert_eq!((a.kind, a.confidence), (OrgKind::Isp, ASN_LEVEL_CONFIDENCE));
        let a = parse(r#"{"org":"AS15169 Google LLC"}"#).unwrap();
        assert_eq!(
            (a.company.as_str(), a.kind),
            ("Google LLC", OrgKind::Hosting)
        );
        let a = parse(r#"{"company":{"name":"Globex","type":"hosting"}}"#).unwrap();
        assert_eq!(a.kind, OrgKind::Hosting, "the service's own type wins");
    }

    #[test]
    fn bogons_and_empty_answers_are_unknown() {
        assert_eq!(parse(r#"{"ip":"10.0.0.1","bogon":true}"#), None);
        assert_eq!(parse(r#"{"ip":"192.0.2.1"}"#), None);
        assert_eq!(parse(r#"{"company":{"name":"  "}}"#), None);
    }

    #[test]
    fn templates_are_checked() {
        let config = |t: &str| HttpProviderConfig {
            url_template: t.into(),
            token: None,
            timeout: Duration::from_secs(1),
            rate_per_second: NonZeroU32::MIN,
            breaker: BreakerConfig {
                failure_threshold: 1,
                open_for: Duration::from_secs(1),
            },
        };
        assert!(HttpProvider::new(config("https://ipinfo.example/{ip}/json")).is_ok());
        for bad in ["https://ipinfo.example/json", "ftp://x/{ip}", "{ip}"] {
            assert!(HttpProvider::new(config(bad)).is_err(), "{bad}");
        }
    }
}
