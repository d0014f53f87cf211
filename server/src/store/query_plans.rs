//! SQLite's plans for the statements whose cost must not grow with the data, on the
//! schema the migrations build: each must search an index, never scan a table or an
//! index. Two such scans were found by measurement (every signup walked every inferred
//! click; every erasure walked the whole signup log and every click); this keeps them
//! and any new one out.

use super::privacy::{ERASE_EVENTS, ERASE_IDEMPOTENCY_KEYS, UNLINK_CORROBORATIONS};
use super::signup::{INFERENCE_FOR_SESSION, RELATED_INFERENCES};

/// (what, SQL, number of parameters)
const STATEMENTS: &[(&str, &str, usize)] = &[
    ("related inferences", RELATED_INFERENCES, 3),
    ("session lookup", INFERENCE_FOR_SESSION, 1),
    ("erasure: idempotency keys", ERASE_IDEMPOTENCY_KEYS, 2),
    ("erasure: events", ERASE_EVENTS, 2),
    ("erasure: corroborations", UNLINK_CORROBORATIONS, 1),
];

#[test]
fn query_plans_use_the_indexes() {
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in files {
        conn.execute_batch(&std::fs::read_to_string(file).unwrap())
            .unwrap();
    }
    for &(name, sql, params) in STATEMENTS {
        let mut plan = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let nulls = vec![rusqlite::types::Null; params];
        let steps: Vec<String> = plan
            .query_map(rusqlite::params_from_iter(nulls), |row| row.get(3))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(
            steps.iter().any(|s| s.starts_with("SEARCH")),
            "{name}: {steps:?}"
        );
        assert!(
            !steps.iter().any(|s| s.starts_with("SCAN")),
            "{name} scans: {steps:?}"
        );
    }
}
