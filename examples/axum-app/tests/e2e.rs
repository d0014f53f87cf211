//! Tracking link → redirect → landing sets the cookie → signup → lead confirmed, with the
//! real naano-server binary and the example app on real sockets.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::future::IntoFuture;
use std::time::Duration;

use naano::Client;
use naano_testkit::{ServerProcess, ACME_IP};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracking_link_to_confirmed_lead() {
    let server = ServerProcess::start(&[]).await;
    let naano = Client::builder().base_url(&server.base).build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, naano_example_axum::app(naano.clone())).into_future());

    let slug = server.link_to(&format!("{app_url}/?plan=pro")).await;
    let landing = server.click_location(&slug, ACME_IP).await;
    assert!(landing.starts_with(&format!("{app_url}/?plan=pro&naano_session=")));
    let session = naano_testkit::session_in(&landing).unwrap();

    // The browser lands on the app, which sets the first-party cookie itself.
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let resp = browser.get(&landing).send().await.unwrap();
    let set_cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        set_cookie.starts_with(&format!("naano_session={session}")),
        "{set_cookie}"
    );
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=7776000"] {
        assert!(set_cookie.contains(attr), "{attr} in {set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "plain http");

    // Later, on another page, the visitor signs up: the cookie carries the session.
    let resp = browser
        .post(format!("{app_url}/signup"))
        .form(&[
            ("email", "jo@acme.com"),
            ("company", "ACME Corp"),
            ("name", "Jo"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(naano.flush(Duration::from_secs(10)).await);

    let inference = server.inference(&session).await;
    assert_eq!(inference["status"], "confirmed");
    assert_eq!(inference["confirmed_company"], "ACME Corp");
    assert_eq!(inference["mismatch"], false);
    let lead = &server.leads("jo@acme.com").await[0];
    assert_eq!(lead["name"], "Jo");
    assert_eq!(inference["lead_id"], lead["id"]);
    server.stop().await;
}
