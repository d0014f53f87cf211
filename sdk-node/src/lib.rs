//! The Node binding of the Naano engine (`naano` on npm). Thin: it converts types and
//! turns engine results into promises. The JavaScript layer (`index.js`) adds the typed
//! error classes, request helpers and process-lifetime handling.
//!
//! Errors cross into JavaScript as `Error`s whose message is a JSON object
//! `{kind, message, status, code}`; `index.js` turns them into typed error classes.

use std::time::Duration;

use naano::{Client, RetryPolicy, SignupOutcome, SignupRequest, TrackError};
use napi::bindgen_prelude::*;
use napi::JsObject;
use napi_derive::napi;

/// Client options. Times are in milliseconds.
#[napi(object)]
#[derive(Debug)]
pub struct NativeOptions {
    /// Base URL of the Naano server (default: `NAANO_BASE_URL`).
    pub base_url: Option<String>,
    /// Per-attempt request timeout (default 10 000).
    pub timeout_ms: Option<u32>,
    /// Connect timeout (default 3 000).
    pub connect_timeout_ms: Option<u32>,
    /// Most events waiting or in flight (default 10 000); more are dropped and counted.
    pub max_queue_size: Option<u32>,
    /// Most requests in flight (default 32).
    pub max_concurrency: Option<u32>,
    /// Retry schedule.
    pub retry: Option<RetryOptions>,
    /// `User-Agent`.
    pub user_agent: Option<String>,
}

/// Retry schedule, in milliseconds.
#[napi(object)]
#[derive(Debug)]
pub struct RetryOptions {
    /// Waits between `inference_pending` retries (default 2000, 4000, 8000, 16000).
    pub pending_delays_ms: Option<Vec<u32>>,
    /// First transient backoff (default 500).
    pub transient_initial_ms: Option<u32>,
    /// Largest transient backoff (default 30 000).
    pub transient_max_ms: Option<u32>,
    /// Most attempts for transient failures (default 8).
    pub transient_max_attempts: Option<u32>,
    /// How long an event may keep trying (default 120 000).
    pub event_deadline_ms: Option<u32>,
}

/// A signup, as typed by the user.
#[napi(object)]
#[derive(Debug)]
pub struct SignupInput {
    pub session_id: String,
    pub email: String,
    pub company: String,
    pub name: Option<String>,
    pub job_title: Option<String>,
    pub linkedin_url: Option<String>,
}

/// What the webhook did with a signup.
#[napi(object)]
#[derive(Debug)]
pub struct NativeOutcome {
    /// `upgraded` or `mismatch_handled`.
    pub action: String,
    /// The confirmed company.
    pub company: String,
    /// For a mismatch: the inferred company.
    pub old_company: Option<String>,
    /// For a mismatch: the company typed.
    pub new_company: Option<String>,
    pub lead_id: String,
    pub company_inference_id: String,
}

/// Engine counters.
#[napi(object)]
#[derive(Debug)]
pub struct NativeStats {
    pub queued: f64,
    pub sent: f64,
    pub retried: f64,
    pub failed: f64,
    pub dropped: f64,
}

/// A fire-and-forget event that was given up.
#[napi(object)]
#[derive(Debug)]
pub struct NativeFailure {
    pub event_id: String,
    pub session_id: String,
    pub kind: String,
    pub message: String,
    pub status: Option<u32>,
    pub code: Option<String>,
    /// Unix time in milliseconds.
    pub at: f64,
}

fn ms(value: u32) -> Duration {
    Duration::from_millis(u64::from(value))
}

fn to_napi(err: TrackError) -> Error {
    let detail = serde_json::json!({
        "kind": err.kind(),
        "message": err.to_string(),
        "status": err.status(),
        "code": err.code().map(|c| c.as_str()),
    });
    Error::new(Status::GenericFailure, detail.to_string())
}

fn request(input: SignupInput) -> SignupRequest {
    SignupRequest {
        session_id: Some(input.session_id),
        email: Some(input.email),
        company: Some(input.company),
        name: input.name,
        job_title: input.job_title,
        linkedin_url: input.linkedin_url,
    }
}

fn outcome(result: SignupOutcome) -> NativeOutcome {
    NativeOutcome {
        action: result.action().to_owned(),
        company: result.company().to_owned(),
        old_company: result.old_company().map(str::to_owned),
        new_company: result.old_company().map(|_| result.company().to_owned()),
        lead_id: result.lead_id().to_owned(),
        company_inference_id: result.company_inference_id().to_owned(),
    }
}

/// The engine client; `index.js` wraps it as `Naano`.
#[derive(Debug)]
#[napi]
pub struct NativeClient {
    client: Client,
}

#[napi]
impl NativeClient {
    #[napi(constructor)]
    pub fn new(options: Option<NativeOptions>) -> Self {
        let mut builder = Client::builder()
            .user_agent(format!("naano-node/{}", env!("CARGO_PKG_VERSION")))
            // Node's own beforeExit flush bounds the wait; the drop must not add to it.
            .drop_flush_timeout(Duration::ZERO);
        if let Some(o) = options {
            if let Some(url) = o.base_url.filter(|u| !u.trim().is_empty()) {
                builder = builder.base_url(url);
            }
            if let Some(v) = o.timeout_ms {
                builder = builder.request_timeout(ms(v));
            }
            if let Some(v) = o.connect_timeout_ms {
                builder = builder.connect_timeout(ms(v));
            }
            if let Some(v) = o.max_queue_size {
                builder = builder.queue_capacity(v as usize);
            }
            if let Some(v) = o.max_concurrency {
                builder = builder.max_concurrency(v as usize);
            }
            if let Some(r) = o.retry {
                let mut policy = RetryPolicy::default();
                if let Some(d) = r.pending_delays_ms {
                    policy.pending_delays = d.into_iter().map(ms).collect();
                }
                if let Some(v) = r.transient_initial_ms {
                    policy.transient_initial = ms(v);
                }
                if let Some(v) = r.transient_max_ms {
                    policy.transient_max = ms(v);
                }
                if let Some(v) = r.transient_max_attempts {
                    policy.transient_max_attempts = v.max(1);
                }
                if let Some(v) = r.event_deadline_ms {
                    policy.event_deadline = ms(v);
                }
                builder = builder.retry(policy);
            }
            if let Some(ua) = o.user_agent {
                builder = builder.user_agent(ua);
            }
        }
        Self {
            client: builder.build(),
        }
    }

    /// The server this client sends to.
    #[napi(getter)]
    pub fn base_url(&self) -> String {
        self.client.base_url().to_owned()
    }

    /// Validates and queues; returns the event id, or `null` when the event could not be
    /// queued (queue full, client shut down; counted in the stats). Throws only for invalid
    /// input. Never waits on the network. Not queueing is an expected outcome under load,
    /// so it is a return value: building an exception per dropped call would cost more
    /// than the call itself.
    #[napi]
    pub fn track_signup(&self, input: SignupInput) -> Result<Option<String>> {
        match self.client.track_signup(request(input)) {
            Ok(id) => Ok(Some(id)),
            Err(TrackError::QueueFull | TrackError::ShutDown) => Ok(None),
            Err(err) => Err(to_napi(err)),
        }
    }

    /// Delivers with retries; resolves with the outcome or rejects with a JSON-coded error.
    #[napi(ts_return_type = "Promise<NativeOutcome>")]
    pub fn track_signup_and_wait(&self, env: Env, input: SignupInput) -> Result<JsObject> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.client
            .track_signup_then(request(input), move |result| {
                let _ = tx.send(result);
            })
            .map_err(to_napi)?;
        env.execute_tokio_future(
            async move {
                rx.await
                    .unwrap_or(Err(TrackError::ShutDown))
                    .map_err(to_napi)
            },
            |_, result| Ok(outcome(result)),
        )
    }

    /// Resolves `true` once everything queued so far is delivered or given up, `false` at
    /// the timeout.
    #[napi(ts_return_type = "Promise<boolean>")]
    pub fn flush(&self, env: Env, timeout_ms: u32) -> Result<JsObject> {
        let client = self.client.clone();
        env.execute_tokio_future(
            async move { Ok(client.flush(ms(timeout_ms)).await) },
            |_, done| Ok(done),
        )
    }

    /// Flushes for at most `timeout_ms`, then stops the engine.
    #[napi(ts_return_type = "Promise<boolean>")]
    pub fn shutdown(&self, env: Env, timeout_ms: u32) -> Result<JsObject> {
        let client = self.client.clone();
        env.execute_tokio_future(
            async move { Ok(client.shutdown(ms(timeout_ms)).await) },
            |_, done| Ok(done),
        )
    }

    /// Counters.
    #[napi]
    pub fn stats(&self) -> NativeStats {
        let s = self.client.stats();
        NativeStats {
            queued: s.queued as f64,
            sent: s.sent as f64,
            retried: s.retried as f64,
            failed: s.failed as f64,
            dropped: s.dropped as f64,
        }
    }

    /// Removes and returns the failures of fire-and-forget events since the last call.
    #[napi]
    pub fn take_failures(&self) -> Vec<NativeFailure> {
        self.client
            .take_failures()
            .into_iter()
            .map(|f| NativeFailure {
                event_id: f.event_id,
                session_id: f.session_id,
                kind: f.error.kind().into(),
                message: f.error.to_string(),
                status: f.error.status().map(u32::from),
                code: f.error.code().map(|c| c.as_str().to_owned()),
                at: f
                    .at
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_millis() as f64),
            })
            .collect()
    }
}

/// The session id from a raw `Cookie` header (the same rules as every Naano SDK).
#[napi]
pub fn session_id_from_cookie_header(header: String) -> Option<String> {
    naano::session_id_from_cookie_header(&header)
}

/// Whether `value` is a well-formed session id.
#[napi]
pub fn is_valid_session_id(value: String) -> bool {
    naano::is_valid_session_id(&value)
}

/// Whether a session id from a landing URL should replace the stored cookie.
#[napi]
pub fn should_replace_session(stored: Option<String>, incoming: String) -> bool {
    naano::should_replace_session(stored.as_deref(), &incoming)
}

/// The `Set-Cookie` value persisting a session as the first-party cookie.
#[napi]
pub fn session_set_cookie(session_id: String, secure: bool) -> String {
    naano::session_set_cookie(&session_id, secure)
}
