//! Runs the real `naano-server` binary on a temporary SQLite file and drives it over HTTP
//! like a browser (tracking links), a backend (the webhook) and an admin would.
//!
//! The binary is `target/debug/naano-server` of this workspace (build it with
//! `cargo build -p naano-server`; `scripts/test-all.sh` does), or `NAANO_SERVER_BIN`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test support: failures must be loud.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The admin token every test server uses.
pub const ADMIN_TOKEN: &str = "testkit-admin-token";
/// Client IPs (sent as `X-Forwarded-For`) and what the test IP table infers for them.
pub const ACME_IP: &str = "203.0.113.10";
/// Inferred as Globex Inc (globex.com).
pub const GLOBEX_IP: &str = "198.51.100.5";
/// In no network of the table.
pub const UNKNOWN_IP: &str = "192.0.2.1";

const IP_TABLE: &str = "cidr,company,domain,confidence\n\
203.0.113.0/24,Acme Corporation,acme.com,0.9\n\
198.51.100.0/24,Globex Inc,globex.com,0.8\n";

/// The server binary under test.
pub fn server_binary() -> PathBuf {
    if let Ok(path) = std::env::var("NAANO_SERVER_BIN") {
        return PathBuf::from(path);
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/naano-server");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p naano-server` first",
        path.display()
    );
    path
}

/// Starts `binary` with `args` (admin token set, `DATABASE_URL` cleared) and waits for its
/// "listening on" line. Returns the child, the base URL and the stdout lines printed up to
/// shortly after it (the demo instructions, for example); stdout keeps being drained.
pub async fn spawn_server(
    binary: &Path,
    args: &[std::ffi::OsString],
) -> (Child, String, Vec<String>) {
    let mut child = Command::new(binary)
        .args(args)
        .env("NAANO_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("RUST_LOG", "warn")
        .env_remove("DATABASE_URL")
        // No public ASN data unless a test asks for it (`--asn-index`).
        .env("NAANO_ASN_INDEX", "none")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut stdout = Vec::new();
    let base = loop {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("naano-server did not start in time")
            .unwrap()
            .expect("naano-server exited before listening");
        stdout.push(line.clone());
        if let Some(base) = line.strip_prefix("naano-server listening on ") {
            break base.to_owned();
        }
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            let _ = tx.send(line);
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    while let Ok(line) = rx.try_recv() {
        stdout.push(line);
    }
    (child, base, stdout)
}

/// A running `naano-server` process.
#[derive(Debug)]
pub struct ServerProcess {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The SQLite file.
    pub db: PathBuf,
    child: Child,
    dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

impl ServerProcess {
    /// Starts on a fresh database with the test IP table, `--trust-proxy` and `extra` flags.
    pub async fn start(extra: &[&str]) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_owned();
        let mut server = Self::start_in(&dir, "127.0.0.1:0", extra).await;
        server._tmp = Some(tmp);
        server
    }

    /// Starts on the database in `dir` (created if needed), listening on `listen`.
    pub async fn start_in(dir: &Path, listen: &str, extra: &[&str]) -> Self {
        let db = dir.join("naano.db");
        let table = dir.join("ip-companies.csv");
        std::fs::write(&table, IP_TABLE).unwrap();
        let mut args: Vec<std::ffi::OsString> =
            ["--listen", listen, "--trust-proxy", "--database-url"]
                .iter()
                .map(Into::into)
                .collect();
        args.push(db.clone().into());
        args.push("--ip-companies".into());
        args.push(table.into());
        args.extend(extra.iter().map(Into::into));
        let (child, base, _) = spawn_server(&server_binary(), &args).await;
        Self {
            base,
            db,
            child,
            dir: dir.to_owned(),
            _tmp: None,
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.base.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// The folder holding its database (to restart on the same file).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Graceful stop (SIGTERM); waits for the exit.
    pub async fn stop(mut self) -> Option<tempfile::TempDir> {
        let pid = self.child.id().unwrap().to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(status.success(), "naano-server exited with {status}");
        self._tmp.take()
    }

    fn http() -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// An admin call; returns status and JSON body.
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = Self::http()
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        (
            resp.status().as_u16(),
            resp.json().await.unwrap_or(Value::Null),
        )
    }

    /// GET under the admin API, asserting 200.
    pub async fn admin_get(&self, path: &str) -> Value {
        let (status, body) = self.admin(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// A creator and a link to `destination`; returns the slug.
    pub async fn link_to(&self, destination: &str) -> String {
        let (_, creator) = self
            .admin(
                reqwest::Method::POST,
                "/api/admin/creators",
                Some(json!({ "name": "Test Creator" })),
            )
            .await;
        let (status, link) = self
            .admin(
                reqwest::Method::POST,
                "/api/admin/links",
                Some(json!({ "creator_id": creator["id"], "destination_url": destination })),
            )
            .await;
        assert_eq!(status, 201, "{link}");
        link["slug"].as_str().unwrap().to_owned()
    }

    /// Follows `/c/{slug}` from `ip`; returns the redirect's `Location`.
    pub async fn click_location(&self, slug: &str, ip: &str) -> String {
        let resp = Self::http()
            .get(format!("{}/c/{slug}", self.base))
            .header("x-forwarded-for", ip)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 302);
        resp.headers()["location"].to_str().unwrap().to_owned()
    }

    /// Clicks from `ip` and waits until enrichment settled; returns the session id.
    pub async fn session(&self, slug: &str, ip: &str) -> String {
        let session = self.pending_session(slug, ip).await;
        self.wait_inference(&session, &["inferred", "no_company"])
            .await;
        session
    }

    /// Clicks from `ip` without waiting for enrichment; returns the session id.
    pub async fn pending_session(&self, slug: &str, ip: &str) -> String {
        session_in(&self.click_location(slug, ip).await).unwrap()
    }

    /// The session's inference record.
    pub async fn inference(&self, session: &str) -> Value {
        self.admin_get(&format!("/api/admin/inferences?session_id={session}"))
            .await["data"][0]
            .clone()
    }

    /// Waits until the session's inference has one of the `wanted` statuses.
    pub async fn wait_inference(&self, session: &str, wanted: &[&str]) -> Value {
        for _ in 0..1000 {
            let inference = self.inference(session).await;
            if wanted.iter().any(|w| inference["status"] == *w) {
                return inference;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("inference of {session} never reached {wanted:?}");
    }

    /// Settles a session's inference through the admin API.
    pub async fn set_inference(&self, session: &str, company: &str) -> Value {
        let (status, body) = self
            .admin(
                reqwest::Method::PUT,
                &format!("/api/admin/sessions/{session}/inference"),
                Some(json!({ "company": company, "confidence": 0.9 })),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Leads with this email (0 or 1).
    pub async fn leads(&self, email: &str) -> Vec<Value> {
        self.admin_get(&format!("/api/admin/leads?email={email}"))
            .await["data"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// A count straight from the SQLite file.
    pub async fn count(&self, sql: &str) -> i64 {
        let url = format!("sqlite://{}?mode=ro", self.db.display());
        let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
            .await
            .unwrap();
        sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
    }
}

/// The `naano_session` query parameter of a URL.
pub fn session_in(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == "naano_session")
        .map(|(_, v)| v.into_owned())
}

/// A port that was free a moment ago (for a server started later on a known port).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The fake enrichment service binary (`target/debug/naano-fake-enricher`; build it with
/// `cargo build -p naano-testkit --bins`, as `scripts/test-all.sh` does).
pub fn fake_enricher_binary() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/naano-fake-enricher");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p naano-testkit --bins` first",
        path.display()
    );
    path
}

/// A running fake enrichment service (see `src/bin/naano-fake-enricher.rs`).
#[derive(Debug)]
pub struct FakeEnricher {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    child: Child,
}

impl FakeEnricher {
    /// Starts it on `addr` (`127.0.0.1:0` for any port).
    pub async fn spawn_on(addr: &str) -> Self {
        let mut child = Command::new(fake_enricher_binary())
            .arg(addr)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .expect("the fake enricher did not start in time")
            .unwrap()
            .expect("the fake enricher exited before listening");
        let base = line
            .strip_prefix("fake-enricher listening on ")
            .expect("unexpected first line")
            .to_owned();
        Self { base, child }
    }

    /// Starts it on any free port.
    pub async fn spawn() -> Self {
        Self::spawn_on("127.0.0.1:0").await
    }

    /// The `--enrich-url` template pointing at it.
    pub fn url_template(&self) -> String {
        format!("{}/{{ip}}", self.base)
    }

    /// Switches its behaviour: `ok`, `slow`, `error`, `garbage` or `throttle`.
    pub async fn set_mode(&self, mode: &str) {
        let status = reqwest::Client::new()
            .put(format!("{}/_mode/{mode}", self.base))
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_success(), "set mode {mode}: {status}");
    }

    /// Lookups received so far.
    pub async fn requests(&self) -> u64 {
        self.stats().await["requests"].as_u64().unwrap()
    }

    /// `{"requests", "answered", "answered_twice"}`.
    pub async fn stats(&self) -> Value {
        reqwest::get(format!("{}/_stats", self.base))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Stops it.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// A new, empty PostgreSQL database for one test, created through `NAANO_TEST_PG_URL`
/// (an account allowed to create databases, as `scripts/start-postgres.sh` prints);
/// returns its URL. Fails loudly when PostgreSQL is not configured or not reachable.
pub async fn create_pg_database() -> String {
    let admin = std::env::var("NAANO_TEST_PG_URL").expect(
        "this test needs PostgreSQL: set NAANO_TEST_PG_URL (scripts/start-postgres.sh prints it)",
    );
    let name = format!(
        "naano_test_{}_{}",
        std::process::id(),
        NEXT_DB.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
        .await
        .expect("cannot reach PostgreSQL at NAANO_TEST_PG_URL");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_path(&name);
    url.to_string()
}

static NEXT_DB: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The token the fake enricher expects.
pub const FAKE_ENRICHER_TOKEN: &str = "fake-token";

/// The unpacked `@ip-location-db/asn` package the tests import (`NAANO_ASN_DATA`, or
/// `target/test-data/asn/package` as `scripts/fetch-asn-data.sh` leaves it).
pub fn asn_data_dir() -> PathBuf {
    let dir = std::env::var("NAANO_ASN_DATA").map_or_else(
        |_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-data/asn/package"),
        PathBuf::from,
    );
    assert!(
        dir.join("asn-ipv4.csv").is_file() && dir.join("asn-ipv6.csv").is_file(),
        "the public ASN data is missing at {}: run `scripts/fetch-asn-data.sh` first",
        dir.display()
    );
    dir
}
