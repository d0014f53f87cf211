//! Upgrading a SQLite file that already holds data: the migrations that rebuild
//! `clicks` and `signup_events` (to change their CHECKs) must keep every row, every
//! reference, index and trigger, and still refuse what the old constraints refused.

use rusqlite::Connection;

use super::query_plans::sqlite_migrations;

/// Runs one migration as sqlx does: in a transaction, with foreign keys on.
fn migrate(conn: &mut Connection, sql: &str) {
    let tx = conn.transaction().unwrap();
    tx.execute_batch(sql).unwrap();
    tx.commit().unwrap();
}

#[test]
fn rebuilding_clicks_and_signup_events_keeps_rows_references_and_rules() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.pragma_update(None, "foreign_keys", "ON").unwrap();
    let all = sqlite_migrations();
    let rebuild = all
        .iter()
        .position(|(name, _)| name.ends_with("_clicks_status_check.sql"))
        .unwrap();
    for (_, sql) in &all[..rebuild] {
        migrate(&mut conn, sql);
    }
    conn.execute_batch(
        "INSERT INTO creators VALUES ('c1', 'Creator', NULL, 1);
         INSERT INTO links VALUES ('l1', 'slug', 'c1', 'https://saas.example/', NULL, 1);
         INSERT INTO leads VALUES ('ld1', 'a@acme.com', 'a@acme.com', 'Acme', NULL, NULL, NULL, 1, 1);
         INSERT INTO signup_events (id, received_at, session_id, lead_id, payload, outcome, email_key)
             VALUES ('e1', 1, 's1', 'ld1', '{}', 'inference_pending', 'a@acme.com');
         INSERT INTO clicks (id, session_id, link_id, creator_id, clicked_at, client_ip,
                 inference_id, status, lead_id, pending_signup_id, enrich_due_at,
                 enrich_attempts, updated_at)
             VALUES ('k1', 's1', 'l1', 'c1', 1, '203.0.113.7', 'i1', 'pending', 'ld1', 'e1', 5, 2, 1);
         INSERT INTO clicks (id, session_id, link_id, creator_id, clicked_at, inference_id,
                 status, inferred_company, inferred_company_key, inferred_domain, updated_at)
             VALUES ('k2', 's2', 'l1', 'c1', 2, 'i2', 'inferred', 'Acme', 'acme', 'acme.com', 2);",
    )
    .unwrap();
    // The columns the file had: later migrations may add columns, never lose one.
    let columns_of = |conn: &Connection, table: &str| -> String {
        let names: Vec<String> = conn
            .prepare("SELECT name FROM pragma_table_info(?)")
            .unwrap()
            .query_map([table], |row| row.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        names.join(", ")
    };
    let columns = [
        columns_of(&conn, "clicks"),
        columns_of(&conn, "signup_events"),
    ];
    let dump = |conn: &Connection, table: &str, columns: &str| -> Vec<String> {
        let mut stmt = conn
            .prepare(&format!("SELECT {columns} FROM {table} ORDER BY id"))
            .unwrap();
        let count = stmt.column_count();
        stmt.query_map([], |row| {
            Ok((0..count)
                .map(|i| format!("{:?}", row.get_ref(i).unwrap()))
                .collect::<Vec<_>>()
                .join("|"))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    };
    let snapshot = |conn: &Connection| {
        (
            dump(conn, "clicks", &columns[0]),
            dump(conn, "signup_events", &columns[1]),
        )
    };
    let before = snapshot(&conn);
    for (_, sql) in &all[rebuild..] {
        migrate(&mut conn, sql);
    }
    let after = snapshot(&conn);
    assert_eq!(after, before, "every row and column kept");
    let waiting: Option<String> = conn
        .query_row(
            "SELECT pending_signup_id FROM clicks WHERE id = 'k1'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(waiting.as_deref(), Some("e1"), "the waiting signup is kept");

    let indexes: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_schema WHERE type IN ('index', 'trigger')
                 AND tbl_name IN ('clicks', 'signup_events') AND sql IS NOT NULL ORDER BY name",
        )
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        indexes,
        [
            "clicks_corroborated_idx",
            "clicks_enrich_due_idx",
            "clicks_lead_idx",
            "clicks_link_idx",
            "clicks_parked_idx",
            "signup_events_email_idx",
            "signup_events_lead_idx",
            "signup_events_no_delete",
            "signup_events_no_update",
        ]
    );
    assert!(
        conn.execute("DELETE FROM signup_events", []).is_err(),
        "the log is still append-only"
    );
    let event = |id: &str, outcome: &str| {
        conn.execute(
            "INSERT INTO signup_events (id, received_at, session_id, payload, outcome)
             VALUES (?1, 2, 's2', '{}', ?2)",
            [id, outcome],
        )
    };
    assert!(
        event("e2", "maybe").is_err(),
        "an unknown outcome is refused"
    );
    assert!(event("e3", "replayed").is_ok(), "a known one is accepted");
    let refused = conn.execute("UPDATE clicks SET status = 'maybe' WHERE id = 'k2'", []);
    assert!(refused.is_err(), "an unknown status is still refused");
    let dangling = conn.execute("UPDATE clicks SET lead_id = 'nobody' WHERE id = 'k2'", []);
    assert!(dangling.is_err(), "references are still enforced");
    // The session id is still unique.
    let duplicate = conn.execute(
        "INSERT INTO clicks (id, session_id, link_id, creator_id, clicked_at, inference_id, status, updated_at)
         VALUES ('k3', 's1', 'l1', 'c1', 3, 'i3', 'pending', 3)",
        [],
    );
    assert!(duplicate.is_err(), "session ids stay unique");
}
