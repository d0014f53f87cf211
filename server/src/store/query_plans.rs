//! SQLite's plans for the statements whose cost must not grow with the data, on the
//! schema the migrations build: each must search an index, never scan a table or an
//! index. Two such scans were found by measurement (every signup walked every inferred
//! click; every erasure walked the whole signup log and every click); this keeps them
//! and any new one out.

use super::privacy::{ERASE_EVENTS, ERASE_IDEMPOTENCY_KEYS, UNLINK_CORROBORATIONS};
use super::signup::{INFERENCE_FOR_SESSION, RELATED_INFERENCES};

/// (what, SQL)
const STATEMENTS: &[(&str, &str)] = &[
    ("related inferences", RELATED_INFERENCES),
    ("session lookup", INFERENCE_FOR_SESSION),
    ("erasure: idempotency keys", ERASE_IDEMPOTENCY_KEYS),
    ("erasure: events", ERASE_EVENTS),
    ("erasure: corroborations", UNLINK_CORROBORATIONS),
];

/// The SQLite migrations, in order: (file name, SQL).
pub(super) fn sqlite_migrations() -> Vec<(String, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|f| {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(f).unwrap())
        })
        .collect()
}

/// An in-memory database with every SQLite migration applied.
fn migrated() -> rusqlite::Connection {
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    conn.pragma_update(None, "foreign_keys", "ON").unwrap();
    for (_, sql) in sqlite_migrations() {
        conn.execute_batch(&sql).unwrap();
    }
    conn
}

/// Column `column` of `{explain} {sql}` (`EXPLAIN`: 1 is the opcode; `EXPLAIN QUERY
/// PLAN`: 3 is the step), with every parameter left unbound (NULL).
fn explain(conn: &rusqlite::Connection, explain: &str, sql: &str, column: usize) -> Vec<String> {
    conn.prepare(&format!("{explain} {sql}"))
        .unwrap()
        .raw_query()
        .mapped(|row| row.get(column))
        .map(Result::unwrap)
        .collect()
}

#[test]
fn query_plans_use_the_indexes() {
    let conn = migrated();
    for &(name, sql) in STATEMENTS {
        let steps = explain(&conn, "EXPLAIN QUERY PLAN", sql, 3);
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

/// A transaction that remembers every statement it ran.
struct Recording<'a> {
    inner: super::db::SqliteTx<'a>,
    seen: Vec<String>,
}

impl super::Tx for Recording<'_> {
    fn dialect(&self) -> super::Dialect {
        self.inner.dialect()
    }
    fn execute(&mut self, sql: &str, params: &[super::db::Value]) -> Result<usize, super::DbError> {
        self.seen.push(sql.to_owned());
        self.inner.execute(sql, params)
    }
    fn query(
        &mut self,
        sql: &str,
        params: &[super::db::Value],
        each: &mut dyn FnMut(&dyn super::db::Row) -> Result<(), super::DbError>,
    ) -> Result<(), super::DbError> {
        self.seen.push(sql.to_owned());
        self.inner.query(sql, params, each)
    }
}

/// Every statement a click, a signup (each of its outcomes) and a settlement run, found
/// by running them: none may build a temporary B-tree (SQLite does so for `RETURNING`,
/// `UNION`, `IN (list)` in a CHECK, or a sort), and none may scan. Each such cost sat in
/// the one writer every request waits for, until measurement found it.
#[test]
fn the_write_path_builds_no_temporary_btree_and_scans_nothing() {
    use std::sync::Arc;

    use super::admin::{CreateCreator, CreateLink};
    use super::clicks::{ClickInference, RecordClick};
    use super::inferences::{SettleInference, SettledBy};
    use super::signup::{ApplySignup, IdempotencyKey};
    use super::{LinkTarget, WriteOp};
    use crate::inference::Answer;
    use naano_core::{OrgKind, SignupRequest};

    let conn = migrated();
    let mut tx = Recording {
        inner: super::db::SqliteTx(&conn),
        seen: Vec::new(),
    };
    let creator = CreateCreator {
        id: "c1".into(),
        name: "Creator".into(),
        linkedin_url: None,
        now: 1,
    }
    .apply(&mut tx)
    .unwrap();
    CreateLink {
        id: "l1".into(),
        slug: Some("s".into()),
        creator_id: creator.id.clone(),
        destination_url: "https://saas.example/".into(),
        campaign: None,
        now: 1,
    }
    .apply(&mut tx)
    .unwrap()
    .unwrap();
    let link = Arc::new(LinkTarget {
        id: "l1".into(),
        creator_id: creator.id,
        destination_url: "https://saas.example/".into(),
        landing: naano_core::LandingUrl::parse("https://saas.example/").unwrap(),
    });
    let acme = Answer {
        company: "Acme".into(),
        domain: Some("acme.com".into()),
        confidence: 0.9,
        source: "ip_table".into(),
        kind: OrgKind::Business,
    };
    let click = |n: u8, inference: ClickInference| RecordClick {
        click_id: format!("k{n}"),
        inference_id: format!("i{n}"),
        session_id: format!("s{n}"),
        link: Arc::clone(&link),
        clicked_at: i64::from(n),
        client_ip: Some(format!("203.0.113.{n}").parse().unwrap()),
        user_agent: Some("ua".into()),
        referrer: None,
        inference,
    };
    for n in [1, 2] {
        click(n, ClickInference::Settled(Some(acme.clone())))
            .apply(&mut tx)
            .unwrap();
    }
    click(3, ClickInference::Job { lease_until: 10 })
        .apply(&mut tx)
        .unwrap();
    let signup = |session: &str, company: &str, key: Option<&str>| {
        let body = serde_json::json!({ "session_id": session, "email": "ann@acme.com", "company": company });
        let signup = serde_json::from_value::<SignupRequest>(body)
            .unwrap()
            .validate()
            .unwrap();
        ApplySignup {
            idempotency: key.map(|k| IdempotencyKey::new(k.into(), &signup)),
            signup,
            event_id: format!("e-{session}-{company}"),
            new_lead_id: "lead".into(),
            now: 5,
        }
    };
    // Upgrade (corroborating click 2, learning the network), a repeat with another
    // company (the lead and the network exist now), a pending signup, an unknown session,
    // and an idempotency key stored and replayed.
    for op in [
        signup("s1", "Acme", None),
        signup("s1", "Globex", None),
        signup("s3", "Acme", None),
        signup("nobody", "Acme", None),
        signup("s2", "Acme", Some("key")),
        signup("s2", "Acme", Some("key")),
    ] {
        op.apply(&mut tx).unwrap();
    }
    // Enrichment lands for click 3 and applies the waiting signup.
    SettleInference {
        session_id: "s3".into(),
        answer: Some(acme),
        by: SettledBy::Enrichment,
        now: 6,
    }
    .apply(&mut tx)
    .unwrap();

    let mut seen = tx.seen;
    seen.sort();
    seen.dedup();
    assert!(seen.len() > 15, "the ops ran their statements: {seen:#?}");
    for sql in seen {
        let opcodes = explain(&conn, "EXPLAIN", &sql, 1);
        assert!(
            !opcodes
                .iter()
                .any(|op| op == "OpenEphemeral" || op == "SorterOpen"),
            "builds a temporary B-tree: {sql}"
        );
        let plan = explain(&conn, "EXPLAIN QUERY PLAN", &sql, 3);
        assert!(
            !plan.iter().any(|step| step.starts_with("SCAN")),
            "scans: {sql}: {plan:?}"
        );
    }
}

/// Corroborated clicks leave the related-inference indexes: a signup's search must not
/// step through every click its company ever had. Counted in SQLite's virtual-machine
/// steps (deterministic), on 2000 inferred clicks of one company, all corroborated.
#[test]
fn the_related_search_does_not_visit_corroborated_clicks() {
    let conn = migrated();
    conn.execute_batch(
        "INSERT INTO creators VALUES ('c1', 'Creator', NULL, 1);
         INSERT INTO links VALUES ('l1', 'slug', 'c1', 'https://saas.example/', NULL, 1);
         INSERT INTO leads VALUES ('ld1', 'a@acme.com', 'a@acme.com', 'Acme', NULL, NULL, NULL, 1, 1);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
         INSERT INTO clicks (id, session_id, link_id, creator_id, clicked_at, inference_id, status,
                 inferred_company, inferred_company_key, inferred_domain,
                 corroborated_by_lead_id, corroborated_at, updated_at)
             SELECT 'k' || i, 's' || i, 'l1', 'c1', i, 'i' || i, 'inferred', 'Acme', 'acme',
                 'acme.com', 'ld1', 5, 5
             FROM n;",
    )
    .unwrap();
    let mut search = conn.prepare(RELATED_INFERENCES).unwrap();
    let found = search
        .query_map(rusqlite::params!["acme", "acme.com", "k0"], |row| {
            row.get::<_, String>(0)
        })
        .unwrap()
        .count();
    assert_eq!(found, 0);
    let steps = search.get_status(rusqlite::StatementStatus::VmStep);
    assert!(steps < 100, "{steps} steps for nothing to find");
}
