//! Horizontal scale-out: three `naano-server` processes on one PostgreSQL database,
//! racing each other. Needs PostgreSQL (`NAANO_TEST_PG_URL`, set by the README's test
//! command); fails loudly without it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::path::Path;
use std::time::Duration;

use futures::future::join_all;
use futures::StreamExt;
use naano_testkit::{create_pg_database, spawn_server, FakeEnricher, ADMIN_TOKEN};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::process::Child;

const BIN: &str = env!("CARGO_BIN_EXE_naano-server");

struct Replica {
    _child: Child,
    base: String,
}

async fn replicas(n: usize, database_url: &str, fake: &FakeEnricher) -> Vec<Replica> {
    let url = fake.url_template();
    let starts = (0..n).map(|_| {
        let args: Vec<std::ffi::OsString> = [
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            database_url,
            "--trust-proxy",
            "--enrich-url",
            &url,
            "--enrich-token",
            naano_testkit::FAKE_ENRICHER_TOKEN,
            "--enrich-rate",
            "100000",
            "--enrich-retry-base-ms",
            "50",
            "--enrich-max-attempts",
            "1000",
            "--enrich-breaker-failures",
            "1000000",
        ]
        .iter()
        .map(Into::into)
        .collect();
        async move { spawn_server(Path::new(BIN), &args).await }
    });
    // Started together: their migrations race too (sqlx serialises them with a lock).
    join_all(starts)
        .await
        .into_iter()
        .map(|(child, base, _)| Replica {
            _child: child,
            base,
        })
        .collect()
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn admin(base: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let mut req = http()
        .request(method, format!("{base}{path}"))
        .bearer_auth(ADMIN_TOKEN);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp.json().await.unwrap()
}

async fn click(base: &str, slug: &str, ip: &str) -> String {
    let resp = http()
        .get(format!("{base}/c/{slug}"))
        .header("x-forwarded-for", ip)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    location.split("naano_session=").nth(1).unwrap().to_owned()
}

async fn count(database_url: &str, sql: &str) -> i64 {
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(database_url)
        .await
        .unwrap();
    sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
}

async fn wait_count(database_url: &str, sql: &str, want: i64) {
    let mut got = 0;
    // Up to a minute: backoff doubles per failed attempt, so on a slow machine the last
    // retries of the failing phase may be scheduled seconds ahead.
    for _ in 0..3000 {
        got = count(database_url, sql).await;
        if got == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{sql}: {got}, want {want}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_on_one_database_keep_every_guarantee() {
    let fake = FakeEnricher::spawn().await;
    let db = create_pg_database().await;
    let nodes = replicas(3, &db, &fake).await;
    let creator = admin(
        &nodes[0].base,
        reqwest::Method::POST,
        "/api/admin/creators",
        Some(json!({"name": "Ada"})),
    )
    .await;
    let link = admin(
        &nodes[1].base,
        reqwest::Method::POST,
        "/api/admin/links",
        Some(json!({"creator_id": creator["id"], "destination_url": "https://saas.example/"})),
    )
    .await;
    let slug = link["slug"].as_str().unwrap().to_owned();

    // The same signup, sent to every replica at once: one lead, one action, one answer.
    let session = click(&nodes[2].base, &slug, "10.1.0.1").await;
    wait_count(
        &db,
        &format!(
            "SELECT COUNT(*) FROM clicks WHERE session_id = '{session}' AND status = 'inferred'"
        ),
        1,
    )
    .await;
    let body =
        json!({"session_id": session, "email": "Grace@Initech.example", "company": "Initech"});
    let sends = (0..30).map(|i| {
        let base = nodes[i % nodes.len()].base.clone();
        let body = body.clone();
        async move {
            let resp = http()
                .post(format!("{base}/api/track/signup"))
                .header(
                    "idempotency-key",
                    if i % 2 == 0 { "evt-1" } else { "evt-2" },
                )
                .json(&body)
                .send()
                .await
                .unwrap();
            (resp.status(), resp.json::<Value>().await.unwrap())
        }
    });
    let answers = join_all(sends).await;
    for (status, answer) in &answers {
        assert_eq!(*status, StatusCode::OK, "{answer}");
        assert_eq!(answer["result"]["action"], "upgraded");
        assert_eq!(answer["lead_id"], answers[0].1["lead_id"]);
        assert_eq!(
            answer["company_inference_id"],
            answers[0].1["company_inference_id"]
        );
    }
    assert_eq!(count(&db, "SELECT COUNT(*) FROM leads").await, 1);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM idempotency_keys").await, 2);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM signup_events").await, 30);

    // 1000 clicks over the replicas while the service fails: every job is retried by
    // whichever replica claims it first. Then it recovers: each job is answered once.
    fake.set_mode("error").await;
    let before = fake.stats().await["answered"].as_u64().unwrap();
    let clicks = (0..1000u32).map(|i| {
        let base = nodes[i as usize % nodes.len()].base.clone();
        let slug = slug.clone();
        async move { click(&base, &slug, &format!("10.1.{}.{}", 1 + i / 250, i % 250)).await }
    });
    let sessions: Vec<String> = futures::stream::iter(clicks)
        .buffer_unordered(50)
        .collect()
        .await;
    assert_eq!(sessions.len(), 1000);
    wait_count(
        &db,
        "SELECT COUNT(*) FROM clicks WHERE status = 'pending' AND enrich_attempts >= 2",
        1000,
    )
    .await;
    fake.set_mode("ok").await;
    wait_count(
        &db,
        "SELECT COUNT(*) FROM clicks WHERE status = 'inferred'",
        1000,
    )
    .await;
    let stats = fake.stats().await;
    assert_eq!(
        stats["answered"].as_u64().unwrap() - before,
        1000,
        "{stats}"
    );
    assert_eq!(stats["answered_twice"], 0, "{stats}");
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM clicks WHERE enrich_due_at IS NOT NULL OR client_ip IS NOT NULL"
        )
        .await,
        0,
        "every job done, every raw IP gone"
    );
    fake.stop().await;
}
