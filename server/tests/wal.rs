//! SQLite's write-ahead log stays bounded under sustained writes.
//!
//! SQLite restarts the WAL from its beginning only when a write starts with every frame
//! already copied into the database file. A checkpointer on its own thread never catches
//! up with a writer that never pauses, so the WAL grew without bound under load (past
//! 1 GB in an 8 s benchmark) until the writer itself checkpointed past a size.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::store_with_link;
use naano_server::store::clicks::{ClickInference, RecordClick};
use naano_server::store::{new_id, now_ms};

mod common;

/// The writer checkpoints once the WAL holds 256 MiB; a batch may add a little on top.
const WAL_BOUND: u64 = 272 * 1024 * 1024;
/// Clicks written: well past the bound in WAL frames when nothing resets the WAL.
const CLICKS: u64 = 120_000;
const WRITERS: usize = 64;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_stays_bounded_while_writes_never_pause() {
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().join("naano.db").display().to_string();
    let (store, target) = store_with_link(&url).await;

    let written = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let writers = (0..WRITERS).map(|_| {
        let (store, target, written) = (store.clone(), Arc::clone(&target), Arc::clone(&written));
        tokio::spawn(async move {
            while written.fetch_add(1, Ordering::Relaxed) < CLICKS {
                store
                    .write(RecordClick {
                        click_id: new_id(),
                        inference_id: new_id(),
                        session_id: naano_core::new_session_id().unwrap(),
                        link_id: target.id.clone(),
                        creator_id: target.creator_id.clone(),
                        clicked_at: now_ms(),
                        client_ip: Some("192.0.2.1".parse().unwrap()),
                        // A long user agent, as browsers send, makes every frame count.
                        user_agent: Some("Mozilla/5.0 ".repeat(40)),
                        referrer: Some("https://www.linkedin.com/".into()),
                        inference: ClickInference::Settled(None),
                    })
                    .await
                    .unwrap();
            }
        })
    });
    let writers: Vec<_> = writers.collect();
    let wal = dir.path().join("naano.db-wal");
    let watcher = {
        let done = Arc::clone(&done);
        tokio::spawn(async move {
            let mut largest = 0;
            while !done.load(Ordering::Relaxed) {
                let size = std::fs::metadata(&wal).map_or(0, |m| m.len());
                largest = largest.max(size);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            largest
        })
    };
    for writer in writers {
        writer.await.unwrap();
    }
    done.store(true, Ordering::Relaxed);
    let largest = watcher.await.unwrap();
    assert!(
        largest <= WAL_BOUND,
        "the WAL reached {} MiB under sustained writes (bound {} MiB)",
        largest >> 20,
        WAL_BOUND >> 20
    );
}
