//! PostgreSQL goes away under a running server: requests fail fast with 503 JSON
//! `unavailable` (no hang, no panic), and the server recovers by itself once the
//! database is back. Stops and restarts the local cluster (`pg_ctlcluster`), so it is
//! the only test in this binary. Needs `NAANO_TEST_PG_URL`; fails loudly without it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use naano_testkit::{create_pg_database, spawn_server, ADMIN_TOKEN};
use reqwest::StatusCode;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_naano-server");

/// `pg_ctlcluster VERSION NAME ACTION` for the first local cluster.
fn cluster(action: &str) {
    let list = Command::new("pg_lsclusters").arg("-h").output().unwrap();
    let list = String::from_utf8(list.stdout).unwrap();
    let mut first = list.lines().next().unwrap().split_whitespace();
    let (version, name) = (first.next().unwrap(), first.next().unwrap());
    let mut cmd = Command::new("pg_ctlcluster");
    cmd.args([version, name, action]);
    if action == "stop" {
        cmd.args(["-m", "fast"]);
    }
    let status = cmd.status().unwrap();
    assert!(status.success(), "pg_ctlcluster {action} failed");
}

async fn get(base: &str, path: &str) -> (StatusCode, Value) {
    let resp = reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(ADMIN_TOKEN)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap();
    (resp.status(), resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_restart_answers_503_then_recovers() {
    let db = create_pg_database().await;
    let args: Vec<std::ffi::OsString> = [
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        &db,
        "--pg-acquire-timeout-ms",
        "1000",
    ]
    .iter()
    .map(Into::into)
    .collect();
    let (_child, base, _) = spawn_server(Path::new(BIN), &args).await;
    assert_eq!(get(&base, "/readyz").await.0, StatusCode::OK);
    let (status, _) = get(&base, "/api/admin/creators").await;
    assert_eq!(status, StatusCode::OK);

    cluster("stop");
    let during = base.clone();
    let outage = async move {
        let base = during;
        for path in ["/readyz", "/api/admin/creators"] {
            let started = Instant::now();
            let (status, body) = get(&base, path).await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{path}: {body}");
            assert_eq!(body["code"], "unavailable", "{path}: {body}");
            assert!(
                body["error"].is_string() && body["details"].is_string(),
                "{body}"
            );
            // Bounded by the pool's acquire timeout, far from a hang.
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{path} took {:?}",
                started.elapsed()
            );
        }
        let resp = reqwest::Client::new()
            .post(format!("{base}/api/track/signup"))
            .json(&json!({"session_id": "naano_session_x", "email": "a@b.example", "company": "B"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["code"], "unavailable", "{body}");
    };
    let result = tokio::spawn(outage).await;
    // Whatever happened above, the database comes back for the tests that follow.
    cluster("start");
    result.unwrap();

    // The server heals by itself: no restart, the same process answers again.
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..150 {
        status = get(&base, "/readyz").await.0;
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(status, StatusCode::OK, "recovered after the restart");
    let (status, body) = get(&base, "/api/admin/creators").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
