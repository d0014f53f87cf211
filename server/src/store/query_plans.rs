//! SQLite's plans for the statements whose cost must not grow with the data, on the
//! schema the migrations build: each must search an index, never scan a table or an
//! index. Two such scans were found by measurement (every signup walked every inferred
//! click; every erasure walked the whole signup log and every click); this keeps them
//! and any new one out.

use super::privacy::{ERASE_EVENTS, ERASE_IDEMPOTENCY_KEYS, UNLINK_CORROBORATIONS};
use super::signup::INFERENCE_FOR_SESSION;

/// (what, SQL)
const STATEMENTS: &[(&str, &str)] = &[
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
    // A session's inference as the admin API lists it: its corroborating lead is
    // derived from the confirmed clicks' indexes.
    let listing = format!("{} WHERE session_id = ?", super::admin::selects::INFERENCES);
    let statements = STATEMENTS
        .iter()
        .copied()
        .chain([("inference listing", listing.as_str())]);
    for (name, sql) in statements {
        let steps = explain(&conn, "EXPLAIN QUERY PLAN", sql, 3);
        assert!(
            steps.iter().any(|s| s.starts_with("SEARCH")),
            "{name}: {steps:?}"
        );
        assert!(
            !steps.iter().any(|s| scans_a_table(s, &steps)),
            "{name} scans: {steps:?}"
        );
    }
}

/// Whether plan step `step` scans a table or an index. Reading the rows a co-routine
/// produces (a subquery of at most a row here) is not a scan of stored data.
fn scans_a_table(step: &str, steps: &[String]) -> bool {
    let Some(target) = step.strip_prefix("SCAN ") else {
        return false;
    };
    !steps
        .iter()
        .any(|s| s.strip_prefix("CO-ROUTINE ") == Some(target))
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
    fn related_counts(&mut self) -> Option<&mut super::related::RelatedCounts> {
        self.inner.related_counts()
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
    let mut counts = super::related::RelatedCounts::default();
    let mut tx = Recording {
        inner: super::db::SqliteTx::writer(&conn, &mut counts),
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
        link_id: link.id.clone(),
        creator_id: link.creator_id.clone(),
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
            !plan.iter().any(|step| scans_a_table(step, &plan)),
            "scans: {sql}: {plan:?}"
        );
    }
}

/// No index of `clicks` is keyed by the inferred company or domain: each would cost
/// every inferred click an insert at a random place, a page of its own in the redirect's
/// commit (the related-inference counts live in the writer's memory instead).
#[test]
fn no_index_of_clicks_is_keyed_by_the_inferred_company() {
    let conn = migrated();
    let indexes: Vec<String> = conn
        .prepare("SELECT name FROM pragma_index_list('clicks')")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(indexes.len() > 3, "{indexes:?}");
    for index in indexes {
        let columns: Vec<String> = conn
            .prepare("SELECT name FROM pragma_index_info(?)")
            .unwrap()
            .query_map([&index], |row| row.get::<_, Option<String>>(0))
            .unwrap()
            .filter_map(Result::unwrap)
            .collect();
        assert!(
            !columns
                .iter()
                .any(|c| c == "inferred_company_key" || c == "inferred_domain"),
            "{index} indexes {columns:?}"
        );
    }
}

/// The first signup of a company with 2000 inferred sessions corroborates all of them
/// (its answer says so) without writing any of their rows: the cost of a signup must
/// not grow with its company's sessions.
#[test]
fn corroborating_many_sessions_writes_none_of_them() {
    use std::sync::Arc;

    use super::clicks::{ClickInference, RecordClick};
    use super::signup::{ApplySignup, SignupOutcome};
    use super::{LinkTarget, WriteOp};
    use crate::inference::Answer;
    use naano_core::{OrgKind, SignupRequest};

    let conn = migrated();
    conn.execute_batch(
        "INSERT INTO creators VALUES ('c1', 'Creator', NULL, 1);
         INSERT INTO links VALUES ('l1', 'slug', 'c1', 'https://saas.example/', NULL, 1);",
    )
    .unwrap();
    let link = Arc::new(LinkTarget {
        id: "l1".into(),
        creator_id: "c1".into(),
        destination_url: "https://saas.example/".into(),
        landing: naano_core::LandingUrl::parse("https://saas.example/").unwrap(),
    });
    let mut counts = super::related::RelatedCounts::default();
    let mut tx = super::db::SqliteTx::writer(&conn, &mut counts);
    for n in 0..=2000 {
        RecordClick {
            click_id: format!("k{n:04}"),
            inference_id: format!("i{n}"),
            session_id: format!("s{n}"),
            link_id: link.id.clone(),
            creator_id: link.creator_id.clone(),
            clicked_at: 10 + n,
            client_ip: None,
            user_agent: None,
            referrer: None,
            inference: ClickInference::Settled(Some(Answer {
                company: "Acme".into(),
                domain: Some("acme.com".into()),
                confidence: 0.9,
                source: "ip_table".into(),
                kind: OrgKind::Business,
            })),
        }
        .apply(&mut tx)
        .unwrap();
    }
    let body =
        serde_json::json!({ "session_id": "s0", "email": "ann@acme.com", "company": "Acme" });
    let signup = serde_json::from_value::<SignupRequest>(body)
        .unwrap()
        .validate()
        .unwrap();
    let before = conn.total_changes();
    let applied = ApplySignup {
        signup,
        idempotency: None,
        event_id: "e1".into(),
        new_lead_id: "lead".into(),
        now: 5000,
    }
    .apply(&mut tx)
    .unwrap();
    let SignupOutcome::Done(response) = applied.outcome else {
        panic!("not applied: {:?}", applied.outcome);
    };
    assert_eq!(response.related_updated, Some(2000));
    // The lead, the event, the session's own click, and the corroboration of the
    // company and of the domain.
    let written = conn.total_changes() - before;
    assert_eq!(written, 5, "rows written");
}
