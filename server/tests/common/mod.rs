//! A real server on 127.0.0.1:0 with a temporary SQLite file, and helpers to drive it
//! over HTTP like a browser, a SaaS backend and an admin would.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::time::Duration;

use naano_server::{Config, Server, ServerError};
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub const ADMIN_TOKEN: &str = "test-admin-token";
/// Client IPs (sent as X-Forwarded-For) and what the test IP table says about them.
pub const ACME_IP: &str = "203.0.113.10";
pub const ACME_IP_2: &str = "203.0.113.77";
pub const GLOBEX_IP: &str = "198.51.100.5";
pub const ACME_IP_V6: &str = "2001:db8:acde::1";
pub const UNKNOWN_IP: &str = "192.0.2.1";

const IP_TABLE: &str = "cidr,company,domain,confidence\n\
203.0.113.0/24,Acme Corporation,acme.com,0.9\n\
198.51.100.0/24,Globex Inc,globex.com,0.8\n\
2001:db8:acde::/48,Acme Corporation,acme.com,0.9\n";

pub struct TestServer {
    pub base: String,
    pub http: reqwest::Client,
    pub db_path: std::path::PathBuf,
    /// The database the server runs on (a SQLite file or a throwaway PostgreSQL one).
    pub database_url: String,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), ServerError>>>,
    pub dir: tempfile::TempDir,
}

impl TestServer {
    /// A server that trusts X-Forwarded-For (so tests choose client IPs) and infers
    /// companies from the test IP table.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir, tweak).await
    }

    /// Starts on an existing directory (to restart on the same database).
    pub async fn start_in(dir: tempfile::TempDir, tweak: impl FnOnce(&mut Config)) -> Self {
        let db_path = dir.path().join("naano.db");
        let table = dir.path().join("ip-companies.csv");
        std::fs::write(&table, IP_TABLE).unwrap();
        let database_url = test_database_url(dir.path(), &db_path).await;
        let mut config = Config::for_database(database_url.clone());
        config.admin_token = Some(ADMIN_TOKEN.into());
        config.trust_proxy = true;
        config.ip_companies = Some(table);
        config.public_url = None;
        config.external_inference = false;
        config.demo = false;
        config.asn_index = "none".into();
        tweak(&mut config);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = Server::start(config, Some(listener)).await.unwrap();
        let base = format!("http://{}", server.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(async move {
            let _ = rx.await;
        }));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Self {
            base,
            http,
            db_path,
            database_url,
            shutdown: Some(tx),
            task: Some(task),
            dir,
        }
    }

    /// Graceful stop: returns once every queued write is committed.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, dir)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    // ---- admin ---------------------------------------------------------------

    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, self.url(path))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn admin_get(&self, path: &str) -> Value {
        let (status, body) = self.admin(reqwest::Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        body
    }

    pub async fn creator(&self, name: &str) -> String {
        let (status, body) = self
            .admin(
                reqwest::Method::POST,
                "/api/admin/creators",
                Some(json!({ "name": name })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    pub async fn link(&self, creator_id: &str, destination: &str) -> Value {
        let (status, body) = self
            .admin(
                reqwest::Method::POST,
                "/api/admin/links",
                Some(json!({ "creator_id": creator_id, "destination_url": destination })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// A creator with one link; returns the slug.
    pub async fn tracking_link(&self) -> String {
        let creator = self.creator("Ada Creator").await;
        let link = self
            .link(&creator, "https://saas.example/welcome?plan=pro#top")
            .await;
        link["slug"].as_str().unwrap().to_owned()
    }

    // ---- browser ---------------------------------------------------------------

    /// Follows a tracking link from `ip`; returns the redirect response.
    pub async fn click_raw(&self, slug: &str, ip: &str) -> reqwest::Response {
        self.http
            .get(self.url(&format!("/c/{slug}")))
            .header("x-forwarded-for", ip)
            .header("user-agent", "Mozilla/5.0 (test)")
            .header("referer", "https://www.linkedin.com/feed/")
            .send()
            .await
            .unwrap()
    }

    /// Clicks and returns the session id carried by the redirect.
    pub async fn click(&self, slug: &str, ip: &str) -> String {
        let resp = self.click_raw(slug, ip).await;
        assert_eq!(resp.status(), StatusCode::FOUND);
        session_from_location(resp.headers())
    }

    /// Clicks and waits until enrichment settled the session's inference.
    pub async fn settled_click(&self, slug: &str, ip: &str) -> String {
        let session = self.click(slug, ip).await;
        self.wait_status(&session, &["inferred", "no_company"])
            .await;
        session
    }

    pub async fn inference(&self, session_id: &str) -> Value {
        let page = self
            .admin_get(&format!("/api/admin/inferences?session_id={session_id}"))
            .await;
        page["data"][0].clone()
    }

    pub async fn wait_status(&self, session_id: &str, wanted: &[&str]) -> Value {
        for _ in 0..500 {
            let inference = self.inference(session_id).await;
            if wanted.iter().any(|w| inference["status"] == *w) {
                return inference;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "inference of {session_id} never reached {wanted:?}: {}",
            self.inference(session_id).await
        );
    }

    // ---- SaaS backend --------------------------------------------------------

    pub async fn signup(&self, body: Value) -> (StatusCode, HeaderMap, Value) {
        self.signup_with(body, None).await
    }

    pub async fn signup_with(
        &self,
        body: Value,
        key: Option<&str>,
    ) -> (StatusCode, HeaderMap, Value) {
        let mut req = self.http.post(self.url("/api/track/signup")).json(&body);
        if let Some(key) = key {
            req = req.header("idempotency-key", key);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
        (status, headers, json)
    }

    pub async fn raw_signup(
        &self,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.post(self.url("/api/track/signup")).body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}")),
        )
    }

    // ---- the SQLite file itself --------------------------------------------------

    pub async fn count(&self, sql: &str) -> i64 {
        count_rows(&self.database_url, sql).await
    }

    /// Runs a statement directly on the database (behind the server's back), for tests
    /// of what the schema itself refuses.
    pub async fn execute_directly(&self, sql: &str) -> Result<u64, String> {
        if self.database_url.starts_with("postgres") {
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&self.database_url)
                .await
                .unwrap();
            return sqlx::query(sql)
                .execute(&mut conn)
                .await
                .map(|r| r.rows_affected())
                .map_err(|e| e.to_string());
        }
        let url = format!("sqlite://{}", self.db_path.display());
        let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
            .await
            .unwrap();
        sqlx::query(sql)
            .execute(&mut conn)
            .await
            .map(|r| r.rows_affected())
            .map_err(|e| e.to_string())
    }
}

/// Whether this test run is against PostgreSQL (`NAANO_TEST_BACKEND=postgres`, as the
/// README's test command sets for its second pass over the suite).
pub fn on_postgres() -> bool {
    std::env::var("NAANO_TEST_BACKEND").is_ok_and(|b| b == "postgres")
}

/// The database for a server in `dir`: the SQLite file, or on PostgreSQL a throwaway
/// database created through `NAANO_TEST_PG_URL` (remembered in `dir`, so a restart in
/// the same directory finds the same database).
pub async fn test_database_url(dir: &std::path::Path, db_path: &std::path::Path) -> String {
    if !on_postgres() {
        return db_path.to_string_lossy().to_string();
    }
    let remembered = dir.join("database-url");
    if let Ok(url) = std::fs::read_to_string(&remembered) {
        return url;
    }
    let url = naano_testkit::create_pg_database().await;
    std::fs::write(&remembered, &url).unwrap();
    url
}

/// The single integer `sql` answers, read straight from the database at `database_url`
/// (a PostgreSQL URL, or a SQLite file path opened read-only).
pub async fn count_rows(database_url: &str, sql: &str) -> i64 {
    if database_url.starts_with("postgres") {
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(database_url)
            .await
            .unwrap();
        return sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap();
    }
    let url = format!("sqlite://{database_url}?mode=ro");
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
}

pub fn session_from_location(headers: &HeaderMap) -> String {
    let location = headers.get("location").unwrap().to_str().unwrap();
    let url = url::Url::parse(location).unwrap();
    url.query_pairs()
        .find(|(k, _)| k == "naano_session")
        .map(|(_, v)| v.into_owned())
        .unwrap()
}

pub fn signup_body(session_id: &str, email: &str, company: &str) -> Value {
    json!({ "session_id": session_id, "email": email, "company": company })
}

/// Asserts a non-2xx answer has exactly the error shape and the given code.
pub fn assert_error(status: StatusCode, body: &Value, want_status: u16, code: &str) {
    assert_eq!(status.as_u16(), want_status, "{body}");
    let obj = body
        .as_object()
        .unwrap_or_else(|| panic!("error body is not an object: {body}"));
    assert!(
        obj["error"].is_string() && obj["details"].is_string(),
        "{body}"
    );
    assert_eq!(obj["code"], code, "{body}");
    assert_eq!(obj.len(), 3, "only error, details, code: {body}");
}

/// A store opened directly (no HTTP) on `url`, with one creator and one tracking link,
/// for tests that drive the store's writes themselves. Returns the store and the link
/// as the redirect sees it.
pub async fn store_with_link(
    url: &str,
) -> (
    naano_server::store::Store,
    std::sync::Arc<naano_server::store::LinkTarget>,
) {
    use naano_server::store::admin::{CreateCreator, CreateLink};
    use naano_server::store::{new_id, now_ms, LinkTarget, Store};

    let config = Config::for_database(url.to_owned());
    let (store, _done) = Store::open(url, config.sqlite_settings(), config.pg_settings())
        .await
        .unwrap();
    let now = now_ms();
    let creator = store
        .write(CreateCreator {
            id: new_id(),
            name: "C".into(),
            linkedin_url: None,
            now,
        })
        .await
        .unwrap();
    let link = store
        .write(CreateLink {
            id: new_id(),
            slug: Some("s".into()),
            creator_id: creator.id.clone(),
            destination_url: "https://saas.example/".into(),
            campaign: None,
            now,
        })
        .await
        .unwrap()
        .unwrap();
    let target = std::sync::Arc::new(LinkTarget {
        id: link.id,
        creator_id: creator.id,
        landing: naano_core::LandingUrl::parse(&link.destination_url).unwrap(),
        destination_url: link.destination_url,
    });
    (store, target)
}
