//! The engine against the real `naano-server` binary on a temporary SQLite file.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::time::Duration;

use naano::{Client, RetryPolicy, SignupOutcome, SignupRequest, TrackError};
use naano_testkit::{ServerProcess, ACME_IP, GLOBEX_IP, UNKNOWN_IP};

fn client(server: &ServerProcess) -> Client {
    Client::builder().base_url(&server.base).build()
}

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        pending_delays: vec![Duration::from_millis(100); 30],
        transient_initial: Duration::from_millis(20),
        transient_max: Duration::from_millis(200),
        transient_max_attempts: 100,
        event_deadline: Duration::from_secs(30),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgraded_mismatch_and_session_not_found() {
    let server = ServerProcess::start(&[]).await;
    let slug = server.link_to("https://saas.example/").await;
    let naano = client(&server);

    let acme = server.session(&slug, ACME_IP).await;
    let outcome = naano
        .track_signup_and_wait(SignupRequest::new(&acme, "ann@acme.com", "Acme Inc").name("Ann"))
        .await
        .unwrap();
    let SignupOutcome::Upgraded {
        company,
        lead_id,
        company_inference_id,
    } = outcome
    else {
        panic!("expected upgraded, got {outcome:?}");
    };
    assert_eq!(company, "Acme Inc");
    assert_eq!(
        server.leads("ann@acme.com").await[0]["id"],
        lead_id.as_str()
    );
    assert_eq!(
        server.inference(&acme).await["id"],
        company_inference_id.as_str()
    );

    let globex = server.session(&slug, GLOBEX_IP).await;
    let outcome = naano
        .track_signup_and_wait(SignupRequest::new(&globex, "bo@initech.io", "Initech"))
        .await;
    assert!(
        matches!(&outcome, Ok(SignupOutcome::MismatchHandled { old_company, new_company, .. })
            if old_company == "Globex Inc" && new_company == "Initech"),
        "{outcome:?}"
    );

    let missing = naano
        .track_signup_and_wait(SignupRequest::new("naano_session_nope", "x@y.io", "X"))
        .await;
    assert_eq!(missing, Err(TrackError::SessionNotFound));
    let stats = naano.stats();
    assert_eq!(
        (stats.sent, stats.failed, stats.queued),
        (2, 1, 0),
        "an awaited call resolves only once the counters account for it"
    );
    assert!(
        naano.take_failures().is_empty(),
        "an awaited failure went to its caller only"
    );
    naano
        .track_signup(SignupRequest::new("naano_session_gone", "x@y.io", "X"))
        .unwrap();
    assert!(naano.flush(Duration::from_secs(10)).await);
    let stats = naano.stats();
    assert_eq!((stats.sent, stats.failed, stats.queued), (2, 2, 0));
    let failures = naano.take_failures();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].error, TrackError::SessionNotFound);
    assert_eq!(failures[0].session_id, "naano_session_gone");
    assert!(naano.take_failures().is_empty(), "the log was drained");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_inference_is_retried_until_the_inference_lands() {
    let server = ServerProcess::start(&["--external-inference"]).await;
    let slug = server.link_to("https://saas.example/").await;
    let session = server.pending_session(&slug, UNKNOWN_IP).await;
    let naano = Client::builder()
        .base_url(&server.base)
        .retry(fast_retries())
        .build();

    let waiting = {
        let naano = naano.clone();
        let session = session.clone();
        tokio::spawn(async move {
            naano
                .track_signup_and_wait(SignupRequest::new(session, "pat@acme.com", "Acme"))
                .await
        })
    };
    // Let the first attempts see `inference_pending`, then settle it as the pipeline would.
    for _ in 0..500 {
        if server.inference(&session).await["lead_id"].is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(server.inference(&session).await["status"], "pending");
    server.set_inference(&session, "Acme Corporation").await;
    let outcome = waiting.await.unwrap().unwrap();
    assert!(
        matches!(outcome, SignupOutcome::Upgraded { .. }),
        "{outcome:?}"
    );
    assert!(naano.stats().retried >= 1);
    assert_eq!(server.leads("pat@acme.com").await.len(), 1);

    // Never settled: the retries run out and say so.
    // Another network: the signup above taught the server that UNKNOWN_IP's is Acme's.
    let stuck = server.pending_session(&slug, "198.18.0.1").await;
    let short = RetryPolicy {
        pending_delays: vec![Duration::from_millis(20); 2],
        ..fast_retries()
    };
    let naano = Client::builder()
        .base_url(&server.base)
        .retry(short)
        .build();
    let outcome = naano
        .track_signup_and_wait(SignupRequest::new(stuck, "q@acme.com", "Acme"))
        .await;
    assert_eq!(outcome, Err(TrackError::InferencePending));
    server.stop().await;
}

#[tokio::test]
async fn invalid_input_is_rejected_before_any_network_call() {
    // A listener that counts connections: nothing may reach it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let naano = Client::builder().base_url(base).build();
    let cases = [
        SignupRequest::new("bad id", "a@b.io", "A"),
        SignupRequest::new("s", "not-an-email", "A"),
        SignupRequest::new("s", "a@b.io", ""),
        SignupRequest::new("s", "a@b.io", "A").linkedin_url("https://evil.example/in/x"),
    ];
    for signup in cases {
        let err = naano.track_signup(signup.clone()).unwrap_err();
        assert!(matches!(err, TrackError::Invalid(_)), "{err:?}");
        let err = naano.track_signup_and_wait(signup).await.unwrap_err();
        assert!(matches!(err, TrackError::Invalid(_)), "{err:?}");
    }
    assert_eq!(naano.stats(), naano::Stats::default());
    let accepted = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
    assert!(accepted.is_err(), "no connection was made");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_down_then_back_delivers_within_the_retry_budget_and_the_queue_is_bounded() {
    // Sessions exist on the server's file; then the server goes away.
    let first = ServerProcess::start(&[]).await;
    let slug = first.link_to("https://saas.example/").await;
    let mut sessions = Vec::new();
    for _ in 0..20 {
        sessions.push(first.session(&slug, UNKNOWN_IP).await);
    }
    let port = first.port();
    let dir = first.dir().to_owned();
    let keep = first.stop().await;

    let naano = Client::builder()
        .base_url(format!("http://127.0.0.1:{port}"))
        .queue_capacity(20)
        .retry(fast_retries())
        .build();
    for (i, session) in sessions.iter().enumerate() {
        naano
            .track_signup(SignupRequest::new(
                session,
                format!("down{i}@acme.com"),
                "Acme",
            ))
            .unwrap();
    }
    // The queue is full: more events are dropped and counted, never waited for.
    for i in 0..50 {
        let err = naano.track_signup(SignupRequest::new(
            &sessions[0],
            format!("x{i}@acme.com"),
            "Acme",
        ));
        assert_eq!(err, Err(TrackError::QueueFull));
    }
    assert_eq!(naano.stats().dropped, 50);
    assert_eq!(naano.stats().queued, 20);
    assert!(
        !naano.flush(Duration::from_millis(300)).await,
        "flush gives up at its timeout"
    );

    // The server comes back on the same port and file.
    let server = ServerProcess::start_in(&dir, &format!("127.0.0.1:{port}"), &[]).await;
    assert!(
        naano.flush(Duration::from_secs(20)).await,
        "{:?}",
        naano.stats()
    );
    let stats = naano.stats();
    assert_eq!((stats.sent, stats.failed, stats.queued), (20, 0, 0));
    assert!(stats.retried >= 20);
    assert_eq!(server.count("SELECT COUNT(*) FROM leads").await, 20);
    server.stop().await;
    drop(keep);
}

#[tokio::test]
async fn a_stalled_server_never_blocks_the_caller_and_timeouts_fire() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let naano = Client::builder()
        .base_url(base)
        .request_timeout(Duration::from_millis(200))
        .retry(RetryPolicy {
            transient_max_attempts: 2,
            ..fast_retries()
        })
        .build();
    naano
        .track_signup(SignupRequest::new("s1", "a@b.io", "A"))
        .unwrap();
    let outcome = naano
        .track_signup_and_wait(SignupRequest::new("s2", "a@b.io", "A"))
        .await;
    assert_eq!(outcome, Err(TrackError::Timeout));
    assert!(naano.flush(Duration::from_secs(5)).await);
    assert_eq!(naano.stats().failed, 2);
    held.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_and_shutdown_deliver_what_is_queued() {
    let server = ServerProcess::start(&[]).await;
    let slug = server.link_to("https://saas.example/").await;
    let mut sessions = Vec::new();
    for _ in 0..30 {
        sessions.push(server.session(&slug, ACME_IP).await);
    }
    {
        let naano = Client::builder()
            .base_url(&server.base)
            .drop_flush_timeout(Duration::from_secs(20))
            .build();
        for (i, session) in sessions[..15].iter().enumerate() {
            naano
                .track_signup(SignupRequest::new(
                    session,
                    format!("drop{i}@acme.com"),
                    "Acme",
                ))
                .unwrap();
        }
        // Dropped here, from inside an async test: the drop waits for delivery.
    }
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM leads WHERE email LIKE 'drop%'")
            .await,
        15
    );

    let naano = client(&server);
    for (i, session) in sessions[15..].iter().enumerate() {
        naano
            .track_signup(SignupRequest::new(
                session,
                format!("shut{i}@acme.com"),
                "Acme",
            ))
            .unwrap();
    }
    assert!(naano.shutdown(Duration::from_secs(20)).await);
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM leads WHERE email LIKE 'shut%'")
            .await,
        15
    );
    assert_eq!(
        naano.track_signup(SignupRequest::new(&sessions[0], "late@acme.com", "Acme")),
        Err(TrackError::ShutDown)
    );
    server.stop().await;
}

#[test]
fn works_from_plain_sync_code_without_a_runtime() {
    // The server helper needs a runtime; the client under test does not.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (server, session) = rt.block_on(async {
        let server = ServerProcess::start(&[]).await;
        let slug = server.link_to("https://saas.example/").await;
        let session = server.session(&slug, ACME_IP).await;
        (server, session)
    });
    let outcome = std::thread::spawn({
        let base = server.base.clone();
        move || {
            let naano = Client::builder().base_url(base).build();
            naano
                .track_signup(SignupRequest::new(session, "sync@acme.com", "Acme"))
                .unwrap();
            let flushed = naano.flush_blocking(Duration::from_secs(10));
            (flushed, naano.stats())
        }
    })
    .join()
    .unwrap();
    assert!(outcome.0);
    assert_eq!(outcome.1.sent, 1);
    rt.block_on(async {
        assert_eq!(server.leads("sync@acme.com").await.len(), 1);
        server.stop().await;
    });
}

#[tokio::test(flavor = "current_thread")]
async fn works_on_a_single_threaded_runtime() {
    let server = ServerProcess::start(&[]).await;
    let slug = server.link_to("https://saas.example/").await;
    let session = server.session(&slug, ACME_IP).await;
    let naano = client(&server);
    let outcome = naano
        .track_signup_and_wait(SignupRequest::new(session, "ct@acme.com", "Acme"))
        .await;
    assert!(
        matches!(outcome, Ok(SignupOutcome::Upgraded { .. })),
        "{outcome:?}"
    );
    server.stop().await;
}
