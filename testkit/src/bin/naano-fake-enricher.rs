//! A stand-in for an IPinfo-style enrichment service, run as its own process by the
//! server's tests: real HTTP, with failures switched on and off at runtime.
//!
//! `GET /{ip}` answers according to the current mode (`PUT /_mode/{mode}`):
//! - `ok`: 10.1.0.0/16 is Initech (a business), 10.2.0.0/16 a cable ISP, the
//!   rest unknown (an answer with no company);
//! - `slow`: waits 30 s before answering (longer than any client timeout);
//! - `error`: 500; `garbage`: 200 with a body that is not JSON; `throttle`: 429.
//!
//! Requests without `Authorization: Bearer fake-token` get 401. `GET /_stats` counts
//! the lookups received, the successful answers, and the addresses answered more than
//! once (a job processed twice).
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test support: failures must be loud.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use serde_json::json;

#[derive(Default)]
struct Fake {
    mode: Mutex<String>,
    requests: AtomicU64,
    answered: Mutex<HashMap<String, u64>>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let fake = Arc::new(Fake {
        mode: Mutex::new("ok".into()),
        ..Fake::default()
    });
    let app = Router::new()
        .route("/_mode/{mode}", put(set_mode))
        .route("/_stats", get(stats))
        .route("/{ip}", get(lookup))
        .with_state(fake);
    let listener = tokio::net::TcpListener::bind(&listen).await.unwrap();
    println!(
        "fake-enricher listening on http://{}",
        listener.local_addr().unwrap()
    );
    axum::serve(listener, app).await.unwrap();
}

async fn set_mode(State(fake): State<Arc<Fake>>, Path(mode): Path<String>) -> StatusCode {
    *fake.mode.lock().unwrap() = mode;
    StatusCode::NO_CONTENT
}

async fn stats(State(fake): State<Arc<Fake>>) -> Json<serde_json::Value> {
    let answered = fake.answered.lock().unwrap();
    Json(json!({
        "requests": fake.requests.load(Ordering::SeqCst),
        "answered": answered.values().sum::<u64>(),
        "answered_twice": answered.values().filter(|n| **n > 1).count(),
    }))
}

async fn lookup(
    State(fake): State<Arc<Fake>>,
    Path(ip): Path<String>,
    headers: HeaderMap,
) -> Response {
    fake.requests.fetch_add(1, Ordering::SeqCst);
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer fake-token") {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let mode = fake.mode.lock().unwrap().clone();
    match mode.as_str() {
        "slow" => tokio::time::sleep(Duration::from_secs(30)).await,
        "error" => return (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response(),
        "garbage" => return (StatusCode::OK, "<html>not json{").into_response(),
        "throttle" => {
            return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")]).into_response()
        }
        _ => {}
    }
    *fake.answered.lock().unwrap().entry(ip.clone()).or_default() += 1;
    let body = if ip.starts_with("10.1.") {
        json!({"ip": ip, "company": {"name": "Initech", "domain": "initech.example", "type": "business"}})
    } else if ip.starts_with("10.2.") {
        json!({"ip": ip, "asn": {"asn": "AS64501", "name": "Example Cable Communications", "type": "isp"}})
    } else {
        json!({"ip": ip})
    };
    Json(body).into_response()
}
