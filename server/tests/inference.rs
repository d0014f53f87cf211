//! The company inference engine end to end: the provider chain on a real server, the
//! external provider against a fake service process (including its failures), the
//! durable job queue across a SIGKILL, learning from signups, erasure, retention and
//! the precision stats.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use std::time::Duration;

use common::*;
use naano_server::inference::asn::import::import_text;
use naano_server::Config;
use naano_testkit::{FakeEnricher, FAKE_ENRICHER_TOKEN};
use reqwest::StatusCode;
use serde_json::Value;

/// Points the server at the fake service, with fast retries.
fn use_fake(config: &mut Config, fake: &FakeEnricher) {
    config.enrich_url = Some(fake.url_template());
    config.enrich_token = Some(FAKE_ENRICHER_TOKEN.into());
    config.enrich_retry_base_ms = 50;
    config.enrich_timeout_ms = 300;
    config.enrich_max_attempts = 1000;
    config.enrich_breaker_failures = 1000;
    config.enrich_rate = 1000;
}

/// Polls the session's inference until `done` holds (or fails after ~10 s).
async fn wait_for(
    server: &TestServer,
    session: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    for _ in 0..1000 {
        let inference = server.inference(session).await;
        if done(&inference) {
            return inference;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{what}: {}", server.inference(session).await);
}

/// A small ASN index (written to the server's directory) for chain tests: a business,
/// a cable ISP and a cloud.
fn small_asn_index(dir: &std::path::Path) -> std::path::PathBuf {
    let index = import_text(
        "192.0.2.0,192.0.2.255,64500,Umbrella Corporation\n\
         198.19.0.0,198.19.127.255,64501,Example Cable Communications\n\
         198.19.128.0,198.19.255.255,16509,\"Amazon.com, Inc.\"\n",
    )
    .unwrap();
    let path = dir.join("asn.idx");
    index.save(&path).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_order_table_then_learned_then_asn_and_only_businesses_are_companies() {
    let dir = tempfile::tempdir().unwrap();
    let index = small_asn_index(dir.path());
    let server = TestServer::start_in(dir, |c| c.asn_index = index).await;
    let slug = server.tracking_link().await;

    // The user's table beats everything.
    let s = server.settled_click(&slug, ACME_IP).await;
    let i = server.inference(&s).await;
    assert_eq!(
        (i["source"].as_str(), i["kind"].as_str()),
        (Some("ip_table"), Some("business"))
    );

    // Public data: a company with its own AS is inferred, at ASN confidence.
    let s = server.settled_click(&slug, "192.0.2.44").await;
    let i = server.inference(&s).await;
    assert_eq!(i["status"], "inferred", "{i}");
    assert_eq!(i["inferred_company"], "Umbrella Corporation");
    assert_eq!(
        (i["source"].as_str(), i["confidence"].as_f64()),
        (Some("asn"), Some(0.5))
    );

    // An ISP and a cloud answer, but they are not companies.
    for (ip, kind) in [("198.19.1.2", "isp"), ("198.19.131.4", "hosting")] {
        let s = server.settled_click(&slug, ip).await;
        let i = server.inference(&s).await;
        assert_eq!(i["status"], "no_company", "{ip}: {i}");
        assert_eq!(
            (i["source"].as_str(), i["kind"].as_str()),
            (Some("asn"), Some(kind))
        );
        assert_eq!(i["inferred_company"], Value::Null);
    }

    // Outside every source: finished with nothing known.
    let s = server.settled_click(&slug, "198.18.0.1").await;
    let i = server.inference(&s).await;
    assert_eq!(
        (i["status"].as_str(), i["source"].as_str()),
        (Some("no_company"), None)
    );
    server.stop().await;
}

/// Each signup naming the network's company again is one more confirmation (and more
/// confidence); a signup from a free-mail address keeps the domain an earlier business
/// address taught.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn learning_counts_confirmations_and_keeps_the_business_domain() {
    let server = TestServer::start().await;
    let slug = server.tracking_link().await;
    let row = "SELECT confirmations FROM learned_networks WHERE network = '198.18.7.0/24'";

    let s = server.settled_click(&slug, "198.18.7.10").await;
    server
        .signup(signup_body(&s, "gavin@hooli.com", "Hooli"))
        .await;
    let s = server.settled_click(&slug, "198.18.7.11").await;
    let once = server.inference(&s).await;
    assert_eq!(once["inferred_company"], "Hooli", "{once}");
    assert_eq!(server.count(row).await, 1);

    // That click's signup names Hooli again, from a free-mail address.
    let (_, _, body) = server
        .signup(signup_body(&s, "big.head@gmail.com", "Hooli"))
        .await;
    assert_eq!(body["result"]["action"], "upgraded", "{body}");
    assert_eq!(server.count(row).await, 2);
    // A repeat of that signup is not another confirmation.
    server
        .signup(signup_body(&s, "big.head@gmail.com", "Hooli"))
        .await;
    assert_eq!(server.count(row).await, 2);

    let twice = server.settled_click(&slug, "198.18.7.12").await;
    let twice = server.inference(&twice).await;
    assert_eq!(twice["inferred_company"], "Hooli");
    assert_eq!(twice["inferred_domain"], "hooli.com", "{twice}");
    assert!(
        twice["confidence"].as_f64().unwrap() > once["confidence"].as_f64().unwrap(),
        "{once} {twice}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn learning_a_signup_teaches_the_network_and_a_mismatch_corrects_it() {
    let dir = tempfile::tempdir().unwrap();
    let index = small_asn_index(dir.path());
    let server = TestServer::start_in(dir, |c| c.asn_index = index.clone()).await;
    let slug = server.tracking_link().await;

    // Nobody knows 198.18.7.0/24; a signup from it names Hooli.
    let s = server.settled_click(&slug, "198.18.7.10").await;
    let (status, _, body) = server
        .signup(signup_body(&s, "gavin@hooli.com", "Hooli"))
        .await;
    assert_eq!(
        (status, body["result"]["action"].as_str()),
        (StatusCode::OK, Some("upgraded"))
    );

    // The next click from the same /24 is Hooli, learned, above ASN confidence.
    let s = server.settled_click(&slug, "198.18.7.200").await;
    let i = server.inference(&s).await;
    assert_eq!(i["inferred_company"], "Hooli", "{i}");
    assert_eq!(i["inferred_domain"], "hooli.com");
    assert_eq!(i["source"], "learned");
    assert!(i["confidence"].as_f64().unwrap() > 0.5);
    // The neighbouring /24 learned nothing.
    let s2 = server.settled_click(&slug, "198.18.8.1").await;
    assert_eq!(server.inference(&s2).await["status"], "no_company");

    // That visitor works somewhere else: a mismatch, and the network is corrected.
    let (_, _, body) = server
        .signup(signup_body(&s, "richard@piedpiper.com", "Pied Piper"))
        .await;
    assert_eq!(body["result"]["action"], "mismatch_handled", "{body}");
    assert_eq!(body["result"]["old_company"], "Hooli");
    let s = server.settled_click(&slug, "198.18.7.99").await;
    let i = server.inference(&s).await;
    assert_eq!(
        (i["inferred_company"].as_str(), i["source"].as_str()),
        (Some("Pied Piper"), Some("learned"))
    );
    assert_eq!(
        server
            .count("SELECT corrections FROM learned_networks WHERE network = '198.18.7.0/24'")
            .await,
        1
    );

    // Networks classified as an ISP are shared by strangers: nothing is learned there.
    let s = server.settled_click(&slug, "198.19.9.9").await;
    let (_, _, body) = server.signup(signup_body(&s, "ann@acme.com", "Acme")).await;
    assert_eq!(body["result"]["action"], "upgraded");
    let s = server.settled_click(&slug, "198.19.9.10").await;
    let i = server.inference(&s).await;
    assert_eq!(
        (i["status"].as_str(), i["kind"].as_str()),
        (Some("no_company"), Some("isp"))
    );

    // Nor private networks: behind a proxy Naano was not told to trust, every visitor
    // has the proxy's address, and the next one must not become this signup's company.
    let s = server.settled_click(&slug, "10.20.30.40").await;
    let (_, _, body) = server
        .signup(signup_body(&s, "gilfoyle@initech.com", "Initech"))
        .await;
    assert_eq!(body["result"]["action"], "upgraded");
    let s = server.settled_click(&slug, "10.20.30.41").await;
    assert_eq!(server.inference(&s).await["status"], "no_company");
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM learned_networks WHERE network LIKE '10.%'")
            .await,
        0
    );
    let dir = server.stop().await;

    // What was learned survives a restart (it is in the database).
    let server = TestServer::start_in(dir, |c| c.asn_index = index).await;
    let s = server.settled_click(&slug, "198.18.7.98").await;
    assert_eq!(server.inference(&s).await["inferred_company"], "Pied Piper");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_provider_answers_and_its_failures_are_retried_until_it_recovers() {
    let fake = FakeEnricher::spawn().await;
    let server = TestServer::start_with(|c| use_fake(c, &fake)).await;
    let slug = server.tracking_link().await;

    let s = server.settled_click(&slug, "10.1.2.3").await;
    let i = server.inference(&s).await;
    assert_eq!(i["inferred_company"], "Initech", "{i}");
    assert_eq!(
        (i["source"].as_str(), i["kind"].as_str()),
        (Some("http"), Some("business"))
    );
    assert_eq!(i["inferred_domain"], "initech.example");
    let s = server.settled_click(&slug, "10.2.0.1").await;
    let i = server.inference(&s).await;
    assert_eq!(
        (i["status"].as_str(), i["kind"].as_str()),
        (Some("no_company"), Some("isp"))
    );

    // Each failure keeps the job pending and is retried with backoff.
    fake.set_mode("error").await;
    let s = server.click(&slug, "10.1.0.9").await;
    wait_for(&server, &s, "500s retried", |i| {
        i["enrich_attempts"].as_i64() >= Some(2) && i["enrich_error"] == "answered HTTP 500"
    })
    .await;
    fake.set_mode("garbage").await;
    wait_for(&server, &s, "garbage retried", |i| {
        i["enrich_error"]
            .as_str()
            .is_some_and(|e| e.starts_with("malformed answer"))
    })
    .await;
    fake.set_mode("slow").await;
    wait_for(&server, &s, "timeouts retried", |i| {
        i["enrich_error"] == "timed out"
    })
    .await;
    assert_eq!(server.inference(&s).await["status"], "pending");

    // The service recovers: the job completes by itself.
    fake.set_mode("ok").await;
    let i = wait_for(&server, &s, "settled after recovery", |i| {
        i["status"] == "inferred"
    })
    .await;
    assert_eq!(i["inferred_company"], "Initech");
    assert_eq!(i["enrich_error"], Value::Null);
    server.stop().await;
    fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn circuit_breaker_stops_calling_a_failing_service_and_the_last_attempt_falls_through() {
    let fake = FakeEnricher::spawn().await;
    fake.set_mode("error").await;
    let dir = tempfile::tempdir().unwrap();
    let index = small_asn_index(dir.path());
    let server = TestServer::start_in(dir, |c| {
        use_fake(c, &fake);
        c.asn_index = index;
        c.enrich_breaker_failures = 3;
        c.enrich_breaker_open_secs = 600;
        c.enrich_max_attempts = 6;
    })
    .await;
    let slug = server.tracking_link().await;
    let s = server.click(&slug, "192.0.2.8").await;

    // Three failures open the circuit; later attempts never reach the service.
    wait_for(&server, &s, "circuit open", |i| {
        i["enrich_error"] == "circuit open after repeated failures"
    })
    .await;
    assert_eq!(fake.requests().await, 3);

    // On the last attempt the failing provider is skipped: public data decides.
    let i = wait_for(&server, &s, "fell through to ASN", |i| {
        i["status"] != "pending"
    })
    .await;
    assert_eq!(
        (i["inferred_company"].as_str(), i["source"].as_str()),
        (Some("Umbrella Corporation"), Some("asn"))
    );
    assert_eq!(
        fake.requests().await,
        3,
        "no call while the circuit was open"
    );
    server.stop().await;
    fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttling_service_is_waited_for_not_counted_as_failing() {
    let fake = FakeEnricher::spawn().await;
    fake.set_mode("throttle").await;
    let server = TestServer::start_with(|c| {
        use_fake(c, &fake);
        c.enrich_max_attempts = 1;
    })
    .await;
    let slug = server.tracking_link().await;
    let s = server.click(&slug, "10.1.4.4").await;
    let i = wait_for(&server, &s, "throttled", |i| {
        i["enrich_error"]
            .as_str()
            .is_some_and(|e| e.starts_with("rate limited"))
    })
    .await;
    assert_eq!(i["enrich_attempts"], 0, "{i}");
    fake.set_mode("ok").await;
    let i = wait_for(&server, &s, "settled", |i| i["status"] == "inferred").await;
    assert_eq!(i["inferred_company"], "Initech");
    server.stop().await;
    fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_removes_personal_data_and_keeps_anonymous_counts() {
    let server = TestServer::start().await;
    let slug = server.tracking_link().await;
    let s = server.settled_click(&slug, ACME_IP).await;
    let (status, _, first) = server
        .signup_with(
            signup_body(&s, "Jane@Acme.com", "Acme Corporation"),
            Some("erase-key-1"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // The same person through a session the server never issued.
    let (status, _, _) = server
        .signup(signup_body(
            "naano_session_unknown",
            "jane@acme.com",
            "Acme",
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, erased) = server
        .admin(
            reqwest::Method::DELETE,
            "/api/admin/leads?email=JANE@acme.com",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{erased}");
    assert_eq!(erased["lead_id"], first["lead_id"]);
    assert_eq!(
        (erased["signup_events"].as_i64(), erased["clicks"].as_i64()),
        (Some(2), Some(1))
    );

    // Nothing personal is left anywhere.
    assert_eq!(
        server
            .admin_get("/api/admin/leads?email=jane@acme.com")
            .await["data"],
        serde_json::json!([])
    );
    assert_eq!(server.count("SELECT COUNT(*) FROM leads").await, 0);
    assert_eq!(
        server.count("SELECT COUNT(*) FROM signup_events WHERE lower(payload) LIKE '%jane%' OR email_key IS NOT NULL OR lead_id IS NOT NULL").await,
        0
    );
    assert_eq!(
        server.count("SELECT COUNT(*) FROM idempotency_keys").await,
        0
    );
    let click = &server
        .admin_get(&format!("/api/admin/clicks?session_id={s}"))
        .await["data"][0];
    for field in ["client_ip", "client_network", "user_agent", "referrer"] {
        assert_eq!(click[field], Value::Null, "{field}");
    }
    // The anonymous counts stay: one click, one signup, one confirmed company.
    let stats = server.admin_get("/api/admin/stats").await;
    let creator = &stats["creators"][0];
    assert_eq!(
        (creator["clicks"].as_i64(), creator["signups"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(creator["confirmed_companies"], 1);
    assert_eq!(server.count("SELECT COUNT(*) FROM signup_events").await, 2);

    // Erasing again finds nothing; a missing email is a client error.
    let (status, body) = server
        .admin(
            reqwest::Method::DELETE,
            "/api/admin/leads?email=jane@acme.com",
            None,
        )
        .await;
    assert_error(status, &body, 404, "not_found");
    let (status, body) = server
        .admin(reqwest::Method::DELETE, "/api/admin/leads", None)
        .await;
    assert_error(status, &body, 400, "validation_failed");
    // The audit log still refuses any other change.
    let err = server
        .execute_directly("UPDATE signup_events SET outcome = 'upgraded'")
        .await
        .unwrap_err();
    assert!(err.contains("append-only"), "{err}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_report_each_sources_measured_precision() {
    let server = TestServer::start().await;
    let slug = server.tracking_link().await;
    let a = server.settled_click(&slug, ACME_IP).await;
    let b = server.settled_click(&slug, ACME_IP_2).await;
    let _unchecked = server.settled_click(&slug, GLOBEX_IP).await;
    server
        .signup(signup_body(&a, "a@acme.com", "Acme Inc"))
        .await;
    server
        .signup(signup_body(&b, "b@initech.example", "Initech"))
        .await;
    let stats = server.admin_get("/api/admin/stats").await;
    let creator = &stats["creators"][0];
    assert_eq!(creator["inferences_confirmed"], 1, "{stats}");
    assert_eq!(creator["inferences_corrected"], 1);
    assert_eq!(creator["inference_precision"], 0.5);
    let table = &stats["inference_sources"][0];
    assert_eq!(table["source"], "ip_table");
    assert_eq!(
        (
            table["inferred"].as_i64(),
            table["confirmed"].as_i64(),
            table["corrected"].as_i64()
        ),
        (Some(3), Some(1), Some(1))
    );
    assert_eq!(table["precision"], 0.5);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_strips_details_of_old_clicks_only() {
    use naano_server::store::clicks::{ClickInference, RecordClick};
    use naano_server::store::new_id;
    use naano_server::store::privacy::ExpireClickDetails;

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("naano.db");
    let url = test_database_url(dir.path(), &db).await;
    let (store, target) = store_with_link(&url).await;
    let now = naano_server::store::now_ms();
    let day = 86_400_000;
    // Ids are minted at the click's time, as the redirect does.
    for (age_days, session) in [(400, "old"), (10, "recent")] {
        let at = now - age_days * day;
        let id = uuid::Uuid::new_v7(uuid::Timestamp::from_unix_time(
            (at / 1000) as u64,
            ((at % 1000) * 1_000_000) as u32,
            0,
            12,
        ))
        .to_string();
        store
            .write(RecordClick {
                click_id: id,
                inference_id: new_id(),
                session_id: format!("naano_session_{session}"),
                link_id: target.id.clone(),
                creator_id: target.creator_id.clone(),
                clicked_at: at,
                client_ip: Some("192.0.2.1".parse().unwrap()),
                user_agent: Some("UA".into()),
                referrer: Some("https://www.linkedin.com/".into()),
                inference: ClickInference::Job { lease_until: at },
            })
            .await
            .unwrap();
    }
    let page = store
        .write(ExpireClickDetails {
            before_ms: now - 395 * day,
            after_id: String::new(),
            limit: 1000,
        })
        .await
        .unwrap();
    assert_eq!(page.expired, 1);
    assert_eq!(page.next_after_id, None);
    let rows = store
        .read(|tx| {
            tx.query_all(
                "SELECT session_id, client_ip, user_agent FROM clicks ORDER BY id",
                &[],
                |r| Ok((r.text(0)?, r.opt_text(1)?, r.opt_text(2)?)),
            )
        })
        .await
        .unwrap();
    assert_eq!(
        rows,
        vec![
            ("naano_session_old".into(), None, None),
            (
                "naano_session_recent".into(),
                Some("192.0.2.1".into()),
                Some("UA".into())
            ),
        ]
    );
}
