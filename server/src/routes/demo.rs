//! `--demo`: a seeded creator and link, and a landing page that shows the webhook call
//! to try with the visitor's own session id.

use axum::response::Html;
use axum::routing::get;
use axum::Router;
use naano_core::{is_valid_session_id, SESSION_QUERY_PARAM};
use serde::Deserialize;

use crate::extract::QueryParams;
use crate::state::AppState;

/// `GET /demo/welcome`: the demo link's destination.
pub fn router() -> Router<AppState> {
    Router::new().route("/demo/welcome", get(welcome))
}

#[derive(Debug, Deserialize)]
struct Landing {
    #[serde(rename = "naano_session")]
    session: Option<String>,
}

async fn welcome(
    axum::extract::State(state): axum::extract::State<AppState>,
    QueryParams(landing): QueryParams<Landing>,
) -> Html<String> {
    let base = html_escape(&state.public_base);
    let body = match landing.session.filter(|s| is_valid_session_id(s)) {
        // Valid session ids are [A-Za-z0-9_-] only: safe to embed as they are.
        Some(session) => format!(
            "<p>You arrived through a Naano tracking link. Your session id is <code>{session}</code>.</p>\
             <p>Now \"sign up\": this is the call your backend makes after a signup.</p>\
             <pre>curl -s -X POST {base}/api/track/signup -H 'Content-Type: application/json' \\\n  \
             -d '{{\"session_id\":\"{session}\",\"email\":\"jane@acme.example\",\"company\":\"Acme Inc\"}}'</pre>\
             <p>Expect <code>upgraded</code>: your click came from this machine, which the demo infers as \
             Acme Corporation. Try <code>\"company\":\"Globex\"</code> with another email on a new click to see \
             <code>mismatch_handled</code>.</p>"
        ),
        None => format!(
            "<p>No <code>{SESSION_QUERY_PARAM}</code> in this URL. Start from the tracking link \
             <a href=\"{base}/c/demo\">{base}/c/demo</a>.</p>"
        ),
    };
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Naano demo</title></head>\
         <body style=\"font-family:sans-serif;max-width:48rem;margin:2rem auto\"><h1>Naano demo landing page</h1>{body}</body></html>"
    ))
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
