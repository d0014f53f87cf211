//! `naano`: signup attribution for Rust backends, and the engine the Python and Node
//! packages wrap.
//!
//! Add one line after a successful signup and forget about it: the signup response never
//! waits on Naano, never fails because Naano is slow or down, and the attribution still
//! arrives whenever it can.
//!
//! ```no_run
//! use naano::{Client, SignupRequest};
//!
//! let naano = Client::builder().base_url("http://127.0.0.1:8080").build();
//! // In the signup handler, with the session id from the `naano_session` cookie:
//! naano.track_signup(SignupRequest::new("naano_session_…", "jane@acme.com", "Acme").name("Jane"))?;
//! # Ok::<(), naano::TrackError>(())
//! ```
//!
//! # What happens to an event
//!
//! [`Client::track_signup`] validates on the caller's thread (an invalid signup is
//! returned as [`TrackError::Invalid`] at once), gives the event a UUIDv7 id and queues
//! it; it never blocks: a full queue drops the event and counts it. A background thread
//! with its own small tokio runtime (started on first use, so the client works from plain
//! `fn main`, any async runtime, a Python thread or the Node event loop) delivers each
//! event in its own task, sending the id as `Idempotency-Key` on every attempt so a retry
//! after a lost answer never counts twice. `inference_pending` is retried after 2, 4, 8
//! and 16 s; 5xx, 408, 425, 429 and transport errors with jittered exponential backoff
//! (honouring `Retry-After`); other answers are final. Each event gives up after its
//! deadline (2 minutes by default). See [`RetryPolicy`].
//!
//! [`Client::flush`] waits for what was queued so far, [`Client::shutdown`] flushes and
//! stops, and dropping the last handle flushes with a short bound. [`Client::stats`]
//! counts queued, sent, retried, failed and dropped events; [`Client::take_failures`]
//! drains the bounded log of failures (the engine never calls back into the host).
//!
//! # Fork safety
//!
//! A client created before a pre-fork server forks keeps working in every child: the
//! child detects the fork (`pthread_atfork` plus a pid check), abandons the inherited
//! engine without touching its locks, and starts its own on next use. The parent keeps
//! and delivers its own events.
//!
//! # axum
//!
//! With the `axum` feature, [`axum::NaanoSession`] extracts the session id from the
//! `naano_session` cookie and [`axum::SessionCookieLayer`] persists `?naano_session=…`
//! from landing URLs as a first-party, server-set cookie:
//!
//! ```no_run
//! # #[cfg(feature = "axum")] {
//! use axum::{extract::State, routing::post, Form, Router};
//! use naano::axum::{NaanoSession, SessionCookieLayer};
//! use naano::{Client, SignupRequest};
//!
//! #[derive(serde::Deserialize)]
//! struct SignupForm { email: String, company: String }
//!
//! async fn signup(State(naano): State<Client>, NaanoSession(session): NaanoSession, Form(form): Form<SignupForm>) -> &'static str {
//!     // … create the account first …
//!     if let Some(session) = session {
//!         if let Err(err) = naano.track_signup(SignupRequest::new(session, form.email, form.company)) {
//!             tracing::warn!(%err, "naano: signup not tracked");
//!         }
//!     }
//!     "welcome"
//! }
//!
//! let app: Router = Router::new()
//!     .route("/signup", post(signup))
//!     .layer(SessionCookieLayer::new())
//!     .with_state(Client::new());
//! # }
//! ```

#![warn(missing_docs)]

mod client;
mod config;
mod engine;
mod error;
mod fork;
mod stats;

#[cfg(feature = "axum")]
pub mod axum;

pub use client::{Client, ClientBuilder};
pub use config::{RetryPolicy, DEFAULT_BASE_URL};
pub use error::{SignupOutcome, TrackError};
pub use naano_core::{
    is_valid_session_id, session_id_from_cookie_header, session_set_cookie, should_replace_session,
    ErrorCode, SignupRequest, ValidationError, SESSION_COOKIE, SESSION_QUERY_PARAM,
};
pub use stats::{Failure, Stats};
