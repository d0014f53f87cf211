//! The real `naano-server` binary: flags, the demo flow, signals, crashes and restarts.
//! The signal and crash tests run on both backends (`NAANO_TEST_BACKEND=postgres`, as
//! the README's test command sets for its second pass); the flags, the demo and the ASN
//! import are about the zero-set-up SQLite default.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::process::Child;

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_naano-server");
const TOKEN: &str = naano_testkit::ADMIN_TOKEN;

struct Proc {
    child: Child,
    base: String,
    stdout: Vec<String>,
}

impl Proc {
    /// Starts the binary on 127.0.0.1:0 on `database` (a SQLite path or a PostgreSQL
    /// URL) and waits for its "listening" line.
    async fn spawn(database: &str, extra: &[&str]) -> Self {
        let mut args: Vec<std::ffi::OsString> = ["--listen", "127.0.0.1:0", "--database-url"]
            .iter()
            .map(Into::into)
            .collect();
        args.push(database.into());
        args.extend(extra.iter().map(Into::into));
        let (child, base, stdout) = naano_testkit::spawn_server(Path::new(BIN), &args).await;
        Self {
            child,
            base,
            stdout,
        }
    }

    fn pid(&self) -> String {
        self.child.id().unwrap().to_string()
    }

    async fn signal(&mut self, sig: &str) -> std::process::ExitStatus {
        let status = std::process::Command::new("kill")
            .args([sig, &self.pid()])
            .status()
            .unwrap();
        assert!(status.success());
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .unwrap()
            .unwrap()
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn admin(base: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let mut req = http()
        .request(method, format!("{base}{path}"))
        .bearer_auth(TOKEN);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp.json().await.unwrap()
}

async fn new_link(base: &str) -> String {
    let creator = admin(
        base,
        reqwest::Method::POST,
        "/api/admin/creators",
        Some(json!({ "name": "Ada" })),
    )
    .await;
    let link = admin(
        base,
        reqwest::Method::POST,
        "/api/admin/links",
        Some(json!({ "creator_id": creator["id"], "destination_url": "https://saas.example/" })),
    )
    .await;
    link["slug"].as_str().unwrap().to_owned()
}

/// The session's inference, as the admin API lists it.
async fn inference(base: &str, session: &str) -> Value {
    admin(
        base,
        reqwest::Method::GET,
        &format!("/api/admin/inferences?session_id={session}"),
        None,
    )
    .await["data"][0]
        .clone()
}

async fn click(base: &str, slug: &str, ip: &str) -> Option<String> {
    let resp = http()
        .get(format!("{base}/c/{slug}"))
        .header("x-forwarded-for", ip)
        .send()
        .await
        .ok()?;
    if resp.status() != StatusCode::FOUND {
        return None;
    }
    let location = url::Url::parse(resp.headers()["location"].to_str().ok()?).ok()?;
    location
        .query_pairs()
        .find(|(k, _)| k == "naano_session")
        .map(|(_, v)| v.into_owned())
}

use common::count_rows as count;

#[tokio::test]
async fn help_explains_every_flag_and_its_environment_variable() {
    let out = std::process::Command::new(BIN)
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "--database-url",
        "DATABASE_URL",
        "--listen",
        "NAANO_LISTEN",
        "--public-url",
        "NAANO_PUBLIC_URL",
        "--admin-token",
        "NAANO_ADMIN_TOKEN",
        "--trust-proxy",
        "--ip-companies",
        "--external-inference",
        "--demo",
        "--log-format",
        "[default: 127.0.0.1:8080]",
        "[default: sqlite://naano.db]",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}:\n{help}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_shows_upgraded_mismatch_and_stats() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db").display().to_string();
    let mut server = Proc::spawn(&db, &["--demo"]).await;
    let text = server.stdout.join("\n");
    assert!(text.contains("/c/demo"), "{text}");
    assert!(text.contains("curl -s -X POST"), "{text}");
    let base = server.base.clone();

    // Click from this machine (inferred as Acme Corporation in demo mode) and land.
    let resp = http().get(format!("{base}/c/demo")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    let landing = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(landing.starts_with(&format!("{base}/demo/welcome?naano_session=")));
    let page = http()
        .get(&landing)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let session = landing.split("naano_session=").nth(1).unwrap().to_owned();
    assert!(page.contains(&session) && page.contains("/api/track/signup"));
    tokio::time::sleep(Duration::from_millis(200)).await;

    let up = signup(&base, &session, "jane@acme.example", "Acme Inc").await;
    assert_eq!(up["result"]["action"], "upgraded", "{up}");

    let second = click(&base, "demo", "127.0.0.1").await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mm = signup(&base, &second, "bob@globex.example", "Globex").await;
    assert_eq!(mm["result"]["action"], "mismatch_handled", "{mm}");
    assert_eq!(mm["result"]["old_company"], "Acme Corporation");

    let stats = admin(&base, reqwest::Method::GET, "/api/admin/stats", None).await;
    let demo = &stats["creators"][0];
    assert_eq!(
        (
            demo["clicks"].clone(),
            demo["signups"].clone(),
            demo["mismatches"].clone()
        ),
        (json!(2), json!(2), json!(1))
    );
    assert!(server.signal("-TERM").await.success());

    // A second demo run on the same file reuses the seeded link.
    let mut again = Proc::spawn(&db, &["--demo"]).await;
    assert!(again.signal("-INT").await.success());
    assert_eq!(count(&db, "SELECT COUNT(*) FROM creators").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_requests_and_loses_no_acknowledged_click() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::test_database_url(dir.path(), &dir.path().join("naano.db")).await;
    let mut server = Proc::spawn(&db, &[]).await;
    let base = server.base.clone();
    let slug = new_link(&base).await;

    let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let clicks: Vec<_> = (0..300)
        .map(|_| {
            let (base, slug, answered) = (base.clone(), slug.clone(), answered.clone());
            tokio::spawn(async move {
                let session = click(&base, &slug, "127.0.0.1").await;
                if session.is_some() {
                    answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                session
            })
        })
        .collect();
    // Signal while clicks are in flight: after the first answers, before the last.
    while answered.load(std::sync::atomic::Ordering::SeqCst) < 10 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let status = server.signal("-TERM").await;
    assert!(status.success(), "graceful exit, got {status}");

    let mut acknowledged = Vec::new();
    for handle in clicks {
        if let Some(session) = handle.await.unwrap() {
            acknowledged.push(session);
        }
    }
    assert!(
        !acknowledged.is_empty(),
        "some clicks were answered before the signal"
    );
    for session in &acknowledged {
        let found = count(
            &db,
            &format!("SELECT COUNT(*) FROM clicks WHERE session_id = '{session}'"),
        )
        .await;
        assert_eq!(found, 1, "acknowledged click {session} is durable");
    }
}

async fn signup(base: &str, session: &str, email: &str, company: &str) -> Value {
    http()
        .post(format!("{base}/api/track/signup"))
        .json(&json!({ "session_id": session, "email": email, "company": company }))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()
}

/// What a signup corroborates survives a crash: on SQLite the counts live in the
/// writer's memory and are rebuilt from the file at start; on PostgreSQL they are the
/// rows themselves. The confirmation recorded before the kill still corroborates, and
/// sessions inferred before it are not counted twice.
#[tokio::test]
async fn related_inferences_are_counted_across_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::test_database_url(dir.path(), &dir.path().join("naano.db")).await;
    let table = dir.path().join("ips.csv");
    std::fs::write(&table, "203.0.113.0/24,Acme Corporation,acme.com,0.9\n").unwrap();
    let args = ["--trust-proxy", "--ip-companies", table.to_str().unwrap()];

    let mut first = Proc::spawn(&db, &args).await;
    let slug = new_link(&first.base).await;
    let mut sessions = Vec::new();
    for n in 1..=5 {
        sessions.push(
            click(&first.base, &slug, &format!("203.0.113.{n}"))
                .await
                .unwrap(),
        );
    }
    let up = signup(&first.base, &sessions[0], "ann@acme.com", "Acme").await;
    assert_eq!(up["related_updated"], 4, "{up}");
    let later = click(&first.base, &slug, "203.0.113.6").await.unwrap();
    assert!(!first.signal("-KILL").await.success());

    let mut second = Proc::spawn(&db, &args).await;
    let after = click(&second.base, &slug, "203.0.113.7").await.unwrap();
    // Only the two sessions inferred since the confirmation: the four it corroborated
    // and the one it confirmed are not counted again.
    let up = signup(&second.base, &sessions[1], "bob@acme.com", "Acme").await;
    assert_eq!(up["related_updated"], 2, "{up}");
    for session in [&later, &after] {
        let corroborated = inference(&second.base, session).await;
        assert_eq!(corroborated["corroborated_by_lead_id"], up["lead_id"]);
    }
    let earlier = inference(&second.base, &sessions[2]).await;
    let first_lead = admin(
        &second.base,
        reqwest::Method::GET,
        "/api/admin/leads?email=ann@acme.com",
        None,
    )
    .await;
    assert_eq!(
        earlier["corroborated_by_lead_id"],
        first_lead["data"][0]["id"]
    );
    assert!(second.signal("-TERM").await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_after_the_redirect_keeps_the_click_and_restart_finishes_its_inference() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::test_database_url(dir.path(), &dir.path().join("naano.db")).await;
    let table = dir.path().join("ips.csv");
    std::fs::write(&table, "203.0.113.0/24,Acme Corporation,acme.com,0.9\n").unwrap();

    // First run: no provider knows the IP and an external pipeline is expected, so the
    // inference stays pending when the process is killed.
    let mut first = Proc::spawn(&db, &["--trust-proxy", "--external-inference"]).await;
    let slug = new_link(&first.base).await;
    let session = click(&first.base, &slug, "203.0.113.9").await.unwrap();
    let status = first.signal("-KILL").await;
    assert!(!status.success());

    // Second run with the table: the pending inference is found and settled. The kill
    // may come before the first run's enrichment parked the click for the external
    // pipeline, leaving it a job leased to the dead process: on SQLite the restart
    // releases that lease at once (one process owns the file); on PostgreSQL other
    // replicas may hold leases, so the job waits for its lease (LEASE_MS, 30 s) to run
    // out: hence up to a minute. (On SQLite the click may have been in the click
    // journal only; the restart commits it before serving.)
    let mut second = Proc::spawn(
        &db,
        &["--trust-proxy", "--ip-companies", table.to_str().unwrap()],
    )
    .await;
    assert_eq!(
        count(
            &db,
            &format!("SELECT COUNT(*) FROM clicks WHERE session_id = '{session}'")
        )
        .await,
        1
    );
    let mut settled = Value::Null;
    for _ in 0..6000 {
        settled = inference(&second.base, &session).await;
        if settled["status"] == "inferred" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(settled["status"], "inferred", "{settled}");
    assert_eq!(settled["inferred_company"], "Acme Corporation");
    assert!(second.signal("-TERM").await.success());
}

/// `n` clicks from `tasks` concurrent visitors; the sessions the redirects answered.
async fn clicks(base: &str, slug: &str, n: usize, tasks: usize) -> Vec<String> {
    let mut running = Vec::new();
    for t in 0..tasks {
        let (base, slug) = (base.to_owned(), slug.to_owned());
        running.push(tokio::spawn(async move {
            let mut sessions = Vec::new();
            for i in (t..n).step_by(tasks) {
                let ip = format!("198.51.100.{}", i % 250 + 1);
                sessions.push(
                    click(&base, &slug, &ip)
                        .await
                        .expect("the redirect answered"),
                );
            }
            sessions
        }));
    }
    let mut sessions = Vec::new();
    for task in running {
        sessions.extend(task.await.unwrap());
    }
    sessions
}

/// On SQLite a redirect is acknowledged once its click is in the click journal, and the
/// writer commits it a moment later. A process killed in between loses no acknowledged
/// click: the next start commits them from the journal before serving, and a click the
/// journal still holds after it was committed is not recorded (nor counted as a related
/// inference) twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_before_clicks_are_committed_loses_no_acknowledged_click() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::test_database_url(dir.path(), &dir.path().join("naano.db")).await;
    let sqlite = !db.starts_with("postgres");
    let table = dir.path().join("ips.csv");
    std::fs::write(&table, "198.51.100.0/24,Acme Corporation,acme.com,0.9\n").unwrap();
    let table = table.to_str().unwrap();
    // The writer holds clicks back until a write waits for it, and none comes.
    let held_back = [
        "--trust-proxy",
        "--ip-companies",
        table,
        "--click-linger-ms",
        "600000",
    ];

    let mut first = Proc::spawn(&db, &held_back).await;
    let slug = new_link(&first.base).await;
    let mut acknowledged = clicks(&first.base, &slug, 200, 8).await;
    assert!(!first.signal("-KILL").await.success());
    let in_file = count(&db, "SELECT COUNT(*) FROM clicks").await;
    if sqlite {
        assert_eq!(
            in_file, 0,
            "the acknowledged clicks were in the journal only"
        );
        let journal = dir.path().join("naano.db-clicks");
        let segments: Vec<_> = std::fs::read_dir(&journal).unwrap().collect();
        assert_eq!(segments.len(), 1);
        // Clicks settled at once: the journal holds their network, never the address.
        let text = std::fs::read_to_string(segments[0].as_ref().unwrap().path()).unwrap();
        // A segment is written out as zeros when it is created; its lines come first.
        let text = text.split('\0').next().unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 200);
        assert!(
            lines.iter().all(|l| l["client_ip"] == "198.51.100.0"),
            "{}",
            lines[0]
        );
    }

    // The restart commits them. More clicks, again held in the journal; a read waits for
    // them to be committed, after which the writer empties the journal.
    let mut second = Proc::spawn(&db, &held_back).await;
    assert_eq!(count(&db, "SELECT COUNT(*) FROM clicks").await, 200);
    acknowledged.extend(clicks(&second.base, &slug, 50, 4).await);
    let journal = dir.path().join("naano.db-clicks");
    let held = sqlite.then(|| {
        let segment = std::fs::read_dir(&journal)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let lines = std::fs::read(&segment).unwrap();
        assert_eq!(lines.iter().filter(|b| **b == b'\n').count(), 50);
        (segment, lines)
    });
    let listed = admin(
        &second.base,
        reqwest::Method::GET,
        "/api/admin/clicks?limit=500",
        None,
    )
    .await;
    assert_eq!(
        listed["data"].as_array().unwrap().len(),
        250,
        "a read sees every acknowledged click"
    );
    assert!(!second.signal("-KILL").await.success());
    if let Some((segment, lines)) = held {
        assert!(
            std::fs::read(&segment).unwrap().iter().all(|b| *b == 0),
            "emptied once committed"
        );
        // A crash between the commit and the emptying: the next start finds the 50
        // committed clicks in the journal again.
        std::fs::write(&segment, lines).unwrap();
    }

    let mut third = Proc::spawn(&db, &["--trust-proxy", "--ip-companies", table]).await;
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM clicks").await,
        250,
        "replayed clicks count once"
    );
    // Every session was inferred as Acme: a signup corroborates the 249 others, once each.
    let up = signup(&third.base, &acknowledged[7], "ann@acme.com", "Acme").await;
    assert_eq!(up["related_updated"], 249, "{up}");
    for session in [&acknowledged[0], &acknowledged[199], &acknowledged[249]] {
        assert_eq!(
            inference(&third.base, session).await["session_id"],
            session.as_str()
        );
    }
    assert!(third.signal("-TERM").await.success());
    if sqlite {
        // A clean stop commits everything and leaves an empty journal.
        let journal = dir.path().join("naano.db-clicks");
        assert_eq!(std::fs::read_dir(&journal).unwrap().count(), 0);
    }
}

#[tokio::test]
async fn bad_configuration_fails_loudly() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("bad.csv");
    std::fs::write(
        &table,
        "cidr,company,domain,confidence\n10.0.0.0/8,Acme,,7\n",
    )
    .unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--ip-companies".into(), table.display().to_string()],
            "line 2",
        ),
        (
            vec!["--database-url".into(), "mysql://x/y".into()],
            "unsupported database URL",
        ),
        (
            vec!["--listen".into(), "not-an-address".into()],
            "invalid value",
        ),
    ];
    for (args, needle) in cases {
        let mut cmd = std::process::Command::new(BIN);
        cmd.env("DATABASE_URL", dir.path().join("x.db"))
            .env("NAANO_LISTEN", "127.0.0.1:0");
        let out = cmd.args(&args).output().unwrap();
        assert!(!out.status.success(), "{args:?} should fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_asn_indexes_the_public_data_and_the_server_answers_from_it() {
    use naano_server::inference::asn::AsnIndex;
    let data = naano_testkit::asn_data_dir();
    let dir = tempfile::tempdir().unwrap();
    let index_path = dir.path().join("asn.idx");
    let out = std::process::Command::new(BIN)
        .args(["import-asn", data.to_str().unwrap(), "--asn-index"])
        .arg(&index_path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("imported "), "{stdout}");

    // Known addresses of the real data, IPv4 and IPv6, and their kinds.
    let index = AsnIndex::load(&index_path).unwrap();
    let (v4, v6, orgs) = index.counts();
    assert!(
        v4 > 300_000 && v6 > 50_000 && orgs > 50_000,
        "{v4} {v6} {orgs}"
    );
    for (ip, asn, kind) in [
        ("1.1.1.1", 13335, "hosting"),              // Cloudflare's resolver
        ("2606:4700:4700::1111", 13335, "hosting"), // ... and its IPv6 twin
        ("8.8.8.8", 15169, "hosting"),              // Google
        ("4.144.0.1", 8075, "hosting"),             // Microsoft (Azure)
        ("17.0.0.1", 714, "business"),              // Apple's own /8
    ] {
        let org = index
            .lookup(ip.parse().unwrap())
            .unwrap_or_else(|| panic!("{ip} not found"));
        assert_eq!((org.asn, org.kind.as_str()), (asn, kind), "{ip}: {org:?}");
    }
    assert!(
        index.lookup("10.0.0.1".parse().unwrap()).is_none(),
        "private space is in no AS"
    );

    // The server loads the index (no CSV needed any more) and uses it.
    let db = dir.path().join("naano.db").display().to_string();
    let mut server = Proc::spawn(
        &db,
        &["--trust-proxy", "--asn-index", index_path.to_str().unwrap()],
    )
    .await;
    let slug = new_link(&server.base).await;
    let apple = click(&server.base, &slug, "17.0.0.1").await.unwrap();
    let cloudflare = click(&server.base, &slug, "1.1.1.1").await.unwrap();
    for (session, status, company) in [
        (&apple, "inferred", Value::from("Apple Inc.")),
        (&cloudflare, "no_company", Value::Null),
    ] {
        let mut settled = Value::Null;
        for _ in 0..500 {
            settled = inference(&server.base, session).await;
            if settled["status"] != "pending" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(settled["status"], status, "{settled}");
        assert_eq!(settled["inferred_company"], company);
        assert_eq!(settled["source"], "asn");
    }
    assert!(server.signal("-TERM").await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_enrichment_and_the_restart_finishes_the_job() {
    let fake = naano_testkit::FakeEnricher::spawn().await;
    fake.set_mode("slow").await;
    let dir = tempfile::tempdir().unwrap();
    let db = common::test_database_url(dir.path(), &dir.path().join("naano.db")).await;
    let url = fake.url_template();
    let args = [
        "--trust-proxy",
        "--enrich-url",
        url.as_str(),
        "--enrich-token",
        naano_testkit::FAKE_ENRICHER_TOKEN,
        "--enrich-timeout-ms",
        "60000",
    ];

    // The lookup is in flight at the service when the process dies.
    let mut first = Proc::spawn(&db, &args).await;
    let slug = new_link(&first.base).await;
    let session = click(&first.base, &slug, "10.1.7.7").await.unwrap();
    for _ in 0..500 {
        if fake.requests().await > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(fake.requests().await, 1, "the lookup started");
    // A read through the server: the click is committed, not only journaled (the
    // journal's own crash test is `sigkill_before_clicks_are_committed…`).
    assert_eq!(inference(&first.base, &session).await["status"], "pending");
    assert!(!first.signal("-KILL").await.success());
    let job = format!(
        "SELECT COUNT(*) FROM clicks WHERE session_id = '{session}' AND status = 'pending'
           AND enrich_due_at IS NOT NULL AND client_ip = '10.1.7.7'"
    );
    assert_eq!(count(&db, &job).await, 1, "the job survived the crash");

    // The service is back; the restarted server claims the job and settles it. On SQLite
    // the restart releases the dead process's lease at once (one process owns the file);
    // on PostgreSQL other replicas may hold leases, so the job waits for its lease
    // (LEASE_MS, 30 s) to run out: hence up to a minute.
    fake.set_mode("ok").await;
    let mut second = Proc::spawn(&db, &args).await;
    let mut settled = Value::Null;
    for _ in 0..6000 {
        settled = inference(&second.base, &session).await;
        if settled["status"] == "inferred" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(settled["inferred_company"], "Initech", "{settled}");
    assert_eq!(settled["source"], "http");
    assert_eq!(
        count(&db, &format!("SELECT COUNT(*) FROM clicks WHERE session_id = '{session}' AND client_ip IS NULL AND client_network = '10.1.7.0/24' AND enrich_due_at IS NULL")).await,
        1,
        "settled: raw IP gone, job done"
    );
    assert!(second.signal("-TERM").await.success());
    fake.stop().await;
}
