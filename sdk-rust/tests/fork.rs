//! `fork()` after the engine started: the child gets an engine of its own, the parent keeps
//! delivering its own events, nothing hangs or panics. Alone in its test binary so that no
//! other test thread exists when the process forks.
#![allow(clippy::unwrap_used, clippy::expect_used, unsafe_code)] // fork() needs unsafe.

use std::time::Duration;

use naano::{Client, SignupRequest};
use naano_testkit::{ServerProcess, ACME_IP};

#[test]
fn a_forked_child_delivers_its_own_events_and_the_parent_keeps_working() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (server, sessions) = rt.block_on(async {
        let server = ServerProcess::start(&[]).await;
        let slug = server.link_to("https://saas.example/").await;
        let mut sessions = Vec::new();
        for _ in 0..3 {
            sessions.push(server.session(&slug, ACME_IP).await);
        }
        (server, sessions)
    });

    let naano = Client::builder().base_url(&server.base).build();
    naano
        .track_signup(SignupRequest::new(&sessions[0], "parent1@acme.com", "Acme"))
        .unwrap();
    assert!(naano.flush_blocking(Duration::from_secs(10)));

    // SAFETY: the child only runs the client (which starts its own thread) and then
    // leaves with _exit, never returning into the test harness.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let ok = std::panic::catch_unwind(|| {
            naano
                .track_signup(SignupRequest::new(&sessions[1], "child@acme.com", "Acme"))
                .unwrap();
            let flushed = naano.flush_blocking(Duration::from_secs(20));
            let stats = naano.stats();
            if !(flushed && stats.sent == 1) {
                // Captured output is lost in a child: write straight to stderr.
                use std::io::Write;
                let failures = naano.take_failures();
                let _ = writeln!(
                    std::io::stderr(),
                    "child: flushed={flushed} {stats:?} {failures:?}"
                );
            }
            flushed && stats.sent == 1
        })
        .unwrap_or(false);
        // SAFETY: ends the child without running the parent's destructors or harness.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }

    naano
        .track_signup(SignupRequest::new(&sessions[2], "parent2@acme.com", "Acme"))
        .unwrap();
    assert!(naano.flush_blocking(Duration::from_secs(10)));
    assert_eq!(
        naano.stats().sent,
        2,
        "the parent's engine kept its own count"
    );

    let mut status = 0;
    // SAFETY: waits for the child forked above.
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(waited, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child failed: status {status}"
    );

    rt.block_on(async {
        for email in ["parent1@acme.com", "child@acme.com", "parent2@acme.com"] {
            assert_eq!(server.leads(email).await.len(), 1, "{email}");
        }
        server.stop().await;
    });
}
