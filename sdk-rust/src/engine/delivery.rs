//! Delivering one event: attempts, classification of each answer, and the retry schedule.

use std::time::{Duration, Instant};

use naano_core::{classify, Disposition, ErrorBody, ErrorCode, SignupResponse};
use tokio::sync::Semaphore;

use super::Event;
use crate::config::Config;
use crate::error::{SignupOutcome, TrackError};
use crate::stats::Counters;

/// The engine's one pooled client: keep-alive connections, rustls, no redirects (a
/// redirect means a wrong base URL) and no retries of its own (the engine decides).
pub(super) fn http_client(config: &Config) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(&config.user_agent)
        .timeout(config.request_timeout)
        .connect_timeout(config.connect_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(Duration::from_secs(60))
        .tcp_nodelay(true)
        .build()
}

enum Attempt {
    Delivered(SignupOutcome),
    Retry {
        pending: bool,
        error: TrackError,
        retry_after: Option<Duration>,
    },
    GiveUp(TrackError),
}

/// Tries until delivered, a final answer, the retry budget or the event's deadline.
pub(super) async fn deliver(
    http: &reqwest::Client,
    config: &Config,
    counters: &Counters,
    slots: &Semaphore,
    event: &Event,
) -> Result<SignupOutcome, TrackError> {
    let url = format!("{}/api/track/signup", config.base_url);
    let mut pending_retries = 0usize;
    let mut transient_attempts = 0u32;
    loop {
        let left = event.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(TrackError::Timeout);
        }
        let outcome = {
            // The slot is held only while a request is in flight: an event waiting on its
            // backoff never keeps another from being sent.
            let _slot = slots.acquire().await;
            tokio::time::timeout(left, attempt(http, &url, event))
                .await
                .unwrap_or(Attempt::Retry {
                    pending: false,
                    error: TrackError::Timeout,
                    retry_after: None,
                })
        };
        let (delay, error) = match outcome {
            Attempt::Delivered(outcome) => return Ok(outcome),
            Attempt::GiveUp(error) => return Err(error),
            Attempt::Retry {
                pending: true,
                error,
                retry_after,
            } => {
                let Some(base) = config.retry.pending_delays.get(pending_retries) else {
                    return Err(error);
                };
                pending_retries += 1;
                (retry_after.map_or(*base, |server| server.max(*base)), error)
            }
            Attempt::Retry {
                pending: false,
                error,
                retry_after,
            } => {
                transient_attempts += 1;
                if transient_attempts >= config.retry.transient_max_attempts {
                    return Err(error);
                }
                let backoff = config.retry.transient_backoff(transient_attempts);
                // The server knows best when it can take the request again; the event's
                // deadline (checked below) still bounds the wait.
                let delay = retry_after.map_or(backoff, |server| server.max(backoff));
                (delay, error)
            }
        };
        if Instant::now() + delay >= event.deadline {
            return Err(error);
        }
        counters
            .retried
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tokio::time::sleep(delay).await;
    }
}

async fn attempt(http: &reqwest::Client, url: &str, event: &Event) -> Attempt {
    let transport = |err: reqwest::Error| Attempt::Retry {
        pending: false,
        error: if err.is_timeout() {
            TrackError::Timeout
        } else {
            TrackError::Transport(err.to_string())
        },
        retry_after: None,
    };
    let response = match http
        .post(url)
        .header("Idempotency-Key", &event.id)
        .json(&event.signup)
        .send()
        .await
    {
        Ok(response) => response,
        Err(err) => return transport(err),
    };
    let status = response.status().as_u16();
    let retry_after = retry_after(response.headers());
    let body = match response.bytes().await {
        Ok(body) => body,
        Err(err) => return transport(err),
    };
    let code = serde_json::from_slice::<ErrorBody>(&body)
        .ok()
        .and_then(|b| b.code);
    match classify(status, code) {
        Disposition::Delivered => match serde_json::from_slice::<SignupResponse>(&body) {
            Ok(response) => Attempt::Delivered(response.into()),
            // Recorded, but the answer is unreadable: a retry would replay the same answer.
            Err(_) => Attempt::GiveUp(TrackError::Http { status, code: None }),
        },
        Disposition::RetryPending => Attempt::Retry {
            pending: true,
            error: TrackError::InferencePending,
            retry_after,
        },
        Disposition::RetryTransient => Attempt::Retry {
            pending: false,
            error: TrackError::Http { status, code },
            retry_after,
        },
        Disposition::GiveUp => Attempt::GiveUp(match (status, code) {
            (404, Some(ErrorCode::SessionNotFound)) => TrackError::SessionNotFound,
            _ => TrackError::Http { status, code },
        }),
    }
}

/// `Retry-After` in seconds (the form the Naano server sends).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds))
}
