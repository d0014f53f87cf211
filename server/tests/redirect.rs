//! The tracking link: redirect, cookie, durable click, client IP, and the landing script.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_keeps_query_and_fragment_and_sets_the_cookie() {
    let server = TestServer::start().await;
    let slug = server.tracking_link().await;
    let resp = server.click_raw(&slug, ACME_IP).await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let session = session_from_location(resp.headers());
    assert_eq!(
        location,
        format!("https://saas.example/welcome?plan=pro&naano_session={session}#top")
    );
    assert!(naano_core::is_valid_session_id(&session));
    assert!(naano_core::session_issued_at_ms(&session).is_some());
    assert_eq!(resp.headers()["cache-control"], "no-store");

    let cookie = resp.headers()["set-cookie"].to_str().unwrap();
    let parsed = cookie::Cookie::parse(cookie).unwrap();
    assert_eq!(parsed.name(), "naano_session");
    assert_eq!(parsed.value(), session);
    assert_eq!(parsed.http_only(), Some(true));
    assert_eq!(parsed.same_site(), Some(cookie::SameSite::Lax));
    assert_eq!(parsed.max_age(), Some(cookie::time::Duration::days(90)));
    assert_eq!(parsed.path(), Some("/"));
    assert_eq!(
        parsed.secure(),
        None,
        "no Secure on a plain-http public URL"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_public_url_gives_secure_cookies_and_https_tracking_urls() {
    let server =
        TestServer::start_with(|c| c.public_url = Some("https://go.naano.test/".parse().unwrap()))
            .await;
    let creator = server.creator("Ada").await;
    let link = server.link(&creator, "https://saas.example/").await;
    let slug = link["slug"].as_str().unwrap();
    assert_eq!(
        link["tracking_url"],
        format!("https://go.naano.test/c/{slug}")
    );
    let resp = server.click_raw(slug, ACME_IP).await;
    let cookie =
        cookie::Cookie::parse(resp.headers()["set-cookie"].to_str().unwrap().to_owned()).unwrap();
    assert_eq!(cookie.secure(), Some(true));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_click_is_recorded_with_its_context_and_a_unique_session() {
    let server = TestServer::start().await;
    let slug = server.tracking_link().await;
    let mut sessions = std::collections::HashSet::new();
    for _ in 0..20 {
        sessions.insert(server.click(&slug, GLOBEX_IP).await);
    }
    assert_eq!(sessions.len(), 20);
    // Every read through the server sees every acknowledged click (on SQLite a click is
    // acknowledged from the click journal and committed a moment later; a read waits for
    // that), and then the file holds them.
    let listed = server.admin_get("/api/admin/clicks?limit=50").await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 20);
    assert_eq!(server.count("SELECT COUNT(*) FROM clicks").await, 20);

    let session = sessions.iter().next().unwrap();
    let inference = server.wait_status(session, &["inferred"]).await;
    assert_eq!(inference["inferred_company"], "Globex Inc");
    assert_eq!(inference["inferred_domain"], "globex.com");
    assert_eq!(inference["confidence"], 0.8);
    assert_eq!(inference["source"], "ip_table");
    assert_eq!(inference["kind"], "business");
    let click = &server
        .admin_get(&format!("/api/admin/clicks?session_id={session}"))
        .await["data"][0];
    // Enrichment finished: the raw IP is gone, its /24 is kept.
    assert_eq!(click["client_ip"], Value::Null);
    assert_eq!(click["client_network"], "198.51.100.0/24");
    assert_eq!(click["user_agent"], "Mozilla/5.0 (test)");
    assert_eq!(click["referrer"], "https://www.linkedin.com/feed/");
    assert!(click["clicked_at"].as_str().unwrap().ends_with('Z'));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_is_ignored_unless_the_proxy_is_trusted() {
    let server = TestServer::start_with(|c| c.trust_proxy = false).await;
    let slug = server.tracking_link().await;
    let session = server.click(&slug, ACME_IP).await;
    assert_eq!(
        server.wait_status(&session, &["no_company"]).await["status"],
        "no_company"
    );
    let click = &server
        .admin_get(&format!("/api/admin/clicks?session_id={session}"))
        .await["data"][0];
    assert_eq!(
        click["client_network"], "127.0.0.0/24",
        "the socket peer, not the header"
    );
    server.stop().await;

    // Trusted: the right-most entry is the one our proxy appended.
    let server = TestServer::start().await;
    let slug = server.tracking_link().await;
    let session = server.click(&slug, &format!("6.6.6.6, {ACME_IP}")).await;
    let inference = server.wait_status(&session, &["inferred"]).await;
    assert_eq!(inference["inferred_company"], "Acme Corporation");
    let click = &server
        .admin_get(&format!("/api/admin/clicks?session_id={session}"))
        .await["data"][0];
    assert_eq!(click["client_network"], "203.0.113.0/24");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_slug_is_a_json_404_and_head_counts_no_click() {
    let server = TestServer::start().await;
    let resp = server.http.get(server.url("/c/nope")).send().await.unwrap();
    let status = resp.status();
    assert_error(status, &resp.json().await.unwrap(), 404, "not_found");

    let slug = server.tracking_link().await;
    let resp = server
        .http
        .head(server.url(&format!("/c/{slug}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert_eq!(
        resp.headers()["location"],
        "https://saas.example/welcome?plan=pro#top"
    );
    assert!(resp.headers().get("set-cookie").is_none());
    // A read through the server first: it waits for any click still being committed.
    let listed = server.admin_get("/api/admin/clicks").await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 0);
    assert_eq!(server.count("SELECT COUNT(*) FROM clicks").await, 0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn landing_script_is_served_as_javascript() {
    let server = TestServer::start().await;
    let resp = server
        .http
        .get(server.url("/naano.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()["content-type"],
        "application/javascript; charset=utf-8"
    );
    let text = resp.text().await.unwrap();
    // The file that tests/js/naano_js.test.mjs exercises is exactly what is served.
    assert_eq!(
        text,
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/naano.js")).unwrap()
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness() {
    let server = TestServer::start().await;
    let resp = server
        .http
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = server.http.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap(),
        json!({ "status": "ready" })
    );
    server.stop().await;
}
