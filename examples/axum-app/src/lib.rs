//! A minimal SaaS signup flow with Naano attribution.
//!
//! - Every response passes through [`SessionCookieLayer`]: a visitor landing from a
//!   tracking link (`/?naano_session=…`) gets the first-party, server-set session cookie.
//! - The signup handler creates the account, then makes one non-blocking
//!   `track_signup` call with the session from [`NaanoSession`]. Whatever Naano does, the
//!   signup answers at once and never fails because of attribution.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::response::Html;
use axum::routing::{get, post};
use axum::{Form, Router};
use naano::axum::{NaanoSession, SessionCookieLayer};
use naano::{Client, SignupRequest};
use serde::Deserialize;

/// The app's state: the Naano client and a stand-in for the user table.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Shared Naano client (cheap to clone).
    pub naano: Client,
    /// Emails of the accounts created.
    pub accounts: Arc<Mutex<Vec<String>>>,
}

/// The example application.
pub fn app(naano: Client) -> Router {
    let state = AppState {
        naano,
        accounts: Arc::default(),
    };
    Router::new()
        .route("/", get(landing))
        .route("/signup", post(signup))
        .layer(SessionCookieLayer::new())
        .with_state(state)
}

async fn landing() -> Html<&'static str> {
    Html(
        "<!doctype html><title>Acme SaaS</title><h1>Try Acme</h1>\
         <form method=post action=/signup>\
         <input name=email placeholder=email> <input name=company placeholder=company>\
         <input name=name placeholder=name> <button>Sign up</button></form>",
    )
}

/// The signup form.
#[derive(Debug, Deserialize)]
pub struct SignupForm {
    email: String,
    company: String,
    #[serde(default)]
    name: Option<String>,
}

async fn signup(
    State(state): State<AppState>,
    NaanoSession(session): NaanoSession,
    Form(form): Form<SignupForm>,
) -> Html<String> {
    // 1. The real work: create the account.
    if let Ok(mut accounts) = state.accounts.lock() {
        accounts.push(form.email.clone());
    }
    // 2. Attribution: one call, returns at once, never fails the signup.
    if let Some(session) = session {
        let mut signup = SignupRequest::new(session, &form.email, &form.company);
        if let Some(name) = form.name.filter(|n| !n.trim().is_empty()) {
            signup = signup.name(name);
        }
        if let Err(err) = state.naano.track_signup(signup) {
            tracing::warn!(%err, "naano: signup not tracked");
        }
    }
    Html(format!("<p>Welcome, {}!</p>", html_escape(&form.email)))
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
