//! Failures that cannot be caused on demand with the real server: a response lost after
//! the server committed (a real proxy cuts the connection), and answers the real server
//! gives only under stress (503, 429, with `Retry-After`) from a small fake server.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use naano::{Client, RetryPolicy, SignupOutcome, SignupRequest, TrackError};
use naano_testkit::{ServerProcess, ACME_IP};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn quick() -> RetryPolicy {
    RetryPolicy {
        pending_delays: vec![Duration::from_millis(50); 5],
        transient_initial: Duration::from_millis(10),
        transient_max: Duration::from_millis(50),
        transient_max_attempts: 10,
        event_deadline: Duration::from_secs(20),
    }
}

/// Reads one HTTP/1.1 message (headers and a Content-Length body).
async fn read_message(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = stream.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Some(buf);
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Forwards requests to `upstream`; for the first `cut` of them it reads the server's
/// whole answer and then closes the client's connection instead of passing it on.
async fn lossy_proxy(upstream: String, cut: usize) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let keys = Arc::new(Mutex::new(Vec::new()));
    let cut_left = Arc::new(AtomicUsize::new(cut));
    let seen = Arc::clone(&keys);
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let (upstream, seen, cut_left) =
                (upstream.clone(), Arc::clone(&seen), Arc::clone(&cut_left));
            tokio::spawn(async move {
                while let Some(request) = read_message(&mut client).await {
                    let text = String::from_utf8_lossy(&request).to_lowercase();
                    if let Some(key) = text
                        .lines()
                        .find_map(|l| l.strip_prefix("idempotency-key:"))
                    {
                        seen.lock().unwrap().push(key.trim().to_owned());
                    }
                    let mut server = TcpStream::connect(&upstream).await.unwrap();
                    server.write_all(&request).await.unwrap();
                    let Some(answer) = read_message(&mut server).await else {
                        return;
                    };
                    if cut_left
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok()
                    {
                        return; // the server committed; the client never hears of it
                    }
                    if client.write_all(&answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, keys)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_is_retried_with_the_same_idempotency_key_and_counted_once() {
    let server = ServerProcess::start(&[]).await;
    let slug = server.link_to("https://saas.example/").await;
    let session = server.session(&slug, ACME_IP).await;
    let (proxy, keys) = lossy_proxy(server.base.trim_start_matches("http://").to_owned(), 2).await;

    let naano = Client::builder().base_url(proxy).retry(quick()).build();
    let outcome = naano
        .track_signup_and_wait(SignupRequest::new(&session, "lost@acme.com", "Acme"))
        .await;
    assert!(
        matches!(outcome, Ok(SignupOutcome::Upgraded { .. })),
        "{outcome:?}"
    );

    let keys = keys.lock().unwrap().clone();
    assert_eq!(keys.len(), 3, "two answers lost, the third delivered");
    assert!(
        keys.iter().all(|k| *k == keys[0]),
        "one Idempotency-Key on every attempt: {keys:?}"
    );
    assert_eq!(naano.stats().retried, 2);
    assert_eq!(server.count("SELECT COUNT(*) FROM leads").await, 1);
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM signup_events WHERE outcome = 'replayed'")
            .await,
        2
    );
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM signup_events WHERE outcome = 'upgraded'")
            .await,
        1
    );
    server.stop().await;
}

/// A fake webhook answering the scripted statuses in turn, then a valid 200.
async fn scripted(script: Vec<(u16, Option<&'static str>)>) -> (String, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let app = axum::Router::new().route(
        "/api/track/signup",
        axum::routing::post(move || {
            let script = script.clone();
            let counter = Arc::clone(&counter);
            async move {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                match script.get(n) {
                    Some((status, retry_after)) => {
                        let code = if *status == 404 { "inference_pending" } else { "unavailable" };
                        let body = serde_json::json!({ "error": "x", "details": "x", "code": code });
                        let mut response = (StatusCode::from_u16(*status).unwrap(), axum::Json(body)).into_response();
                        if let Some(ra) = retry_after {
                            response.headers_mut().insert("retry-after", ra.parse().unwrap());
                        }
                        response
                    }
                    None => axum::Json(serde_json::json!({
                        "success": true, "message": "ok",
                        "result": { "action": "upgraded", "company": "Acme", "company_inference_id": "ci" },
                        "lead_id": "lead", "company_inference_id": "ci"
                    }))
                    .into_response(),
                }
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, calls)
}

#[tokio::test]
async fn transient_answers_are_retried_and_final_ones_are_not() {
    let signup = || SignupRequest::new("s", "a@acme.com", "Acme");

    let (base, calls) = scripted(vec![
        (503, Some("0")),
        (429, Some("0")),
        (500, None),
        (404, Some("0")),
    ])
    .await;
    let naano = Client::builder().base_url(base).retry(quick()).build();
    let outcome = naano.track_signup_and_wait(signup()).await.unwrap();
    assert_eq!(
        outcome,
        SignupOutcome::Upgraded {
            company: "Acme".into(),
            lead_id: "lead".into(),
            company_inference_id: "ci".into()
        }
    );
    assert_eq!(calls.load(Ordering::SeqCst), 5);
    assert_eq!(naano.stats().retried, 4);

    for status in [400u16, 401, 403, 409, 413, 415, 422, 501] {
        let (base, calls) = scripted(vec![(status, None); 3]).await;
        let naano = Client::builder().base_url(base).retry(quick()).build();
        let err = naano.track_signup_and_wait(signup()).await.unwrap_err();
        assert!(
            matches!(err, TrackError::Http { status: s, .. } if s == status),
            "{status}: {err:?}"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1, "{status} is not retried");
    }

    // Transient failures stop at the attempt budget.
    let (base, calls) = scripted(vec![(502, None); 50]).await;
    let budget = RetryPolicy {
        transient_max_attempts: 3,
        ..quick()
    };
    let naano = Client::builder().base_url(base).retry(budget).build();
    let err = naano.track_signup_and_wait(signup()).await.unwrap_err();
    assert_eq!(
        err,
        TrackError::Http {
            status: 502,
            code: Some(naano::ErrorCode::Unavailable)
        }
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn retry_after_is_honoured() {
    // The server asks for 1 s; the policy's own backoff is 10 ms at most.
    let (base, calls) = scripted(vec![(503, Some("1"))]).await;
    let naano = Client::builder().base_url(base).retry(quick()).build();
    let first = tokio::spawn({
        let naano = naano.clone();
        async move {
            naano
                .track_signup_and_wait(SignupRequest::new("s", "a@acme.com", "Acme"))
                .await
        }
    });
    while calls.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "still waiting as the server asked"
    );
    assert!(first.await.unwrap().is_ok());
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}
