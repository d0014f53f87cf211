//! A small closed-loop HTTP/1.1 load generator: N keep-alive connections, each sending
//! its next request as soon as the previous answer arrived, for a fixed time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::HeaderMap;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

type MakeRequest =
    Arc<dyn Fn(usize) -> Result<Request<Full<Bytes>>, hyper::http::Error> + Send + Sync>;
type OnResponse = Arc<dyn Fn(&HeaderMap) + Send + Sync>;

/// What to load: an address, how to build the i-th request, and what to do with answers.
#[derive(Clone)]
pub struct Target {
    /// Connection `i` goes to `addrs[i % addrs.len()]` (several replicas share the load).
    addrs: Vec<String>,
    make: MakeRequest,
    on_response: Option<OnResponse>,
}

impl Target {
    pub fn new(
        addr: &str,
        make: impl Fn(usize) -> Result<Request<Full<Bytes>>, hyper::http::Error> + Send + Sync + 'static,
    ) -> Self {
        Self::spread(&[addr.to_owned()], make)
    }

    /// Like [`Target::new`], with the connections spread over several servers.
    pub fn spread(
        addrs: &[String],
        make: impl Fn(usize) -> Result<Request<Full<Bytes>>, hyper::http::Error> + Send + Sync + 'static,
    ) -> Self {
        Self {
            addrs: addrs.to_vec(),
            make: Arc::new(make),
            on_response: None,
        }
    }

    pub fn on_response(mut self, f: impl Fn(&HeaderMap) + Send + Sync + 'static) -> Self {
        self.on_response = Some(Arc::new(f));
        self
    }
}

/// Latencies and counts of one phase.
#[derive(Debug, Default)]
pub struct LoadResult {
    pub latencies_us: Vec<u32>,
    pub errors: u64,
    pub elapsed: Duration,
}

impl LoadResult {
    pub fn rps(&self) -> f64 {
        self.latencies_us.len() as f64 / self.elapsed.as_secs_f64()
    }

    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let idx = ((p / 100.0) * (self.latencies_us.len() - 1) as f64).round() as usize;
        f64::from(self.latencies_us[idx]) / 1000.0
    }
}

/// Measures a redirect target and collects the session ids its `Location` answers
/// carried (the webhook phase signs them up).
pub async fn measure_collecting_sessions(
    target: Target,
    connections: usize,
    warmup: Duration,
    duration: Duration,
) -> Result<(LoadResult, Vec<String>), Box<dyn std::error::Error>> {
    let sessions: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let collected = Arc::clone(&sessions);
    let target = target.on_response(move |headers| {
        let session = headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .and_then(|loc| loc.split("naano_session=").nth(1));
        if let (Some(id), Ok(mut s)) = (session, collected.lock()) {
            s.push(id.to_owned());
        }
    });
    let result = measure(target, connections, warmup, duration).await?;
    let sessions = sessions.lock().map(|s| s.clone()).unwrap_or_default();
    if sessions.is_empty() {
        return Err("the redirect phase produced no sessions".into());
    }
    Ok((result, sessions))
}

/// Warms up, then measures for `duration`.
pub async fn measure(
    target: Target,
    connections: usize,
    warmup: Duration,
    duration: Duration,
) -> Result<LoadResult, Box<dyn std::error::Error>> {
    let _ = drive(target.clone(), connections, warmup, 0).await?;
    drive(target, connections, duration, 1_000_000).await
}

async fn drive(
    target: Target,
    connections: usize,
    duration: Duration,
    index_base: usize,
) -> Result<LoadResult, Box<dyn std::error::Error>> {
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::with_capacity(connections);
    for worker in 0..connections {
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            connection_loop(target, worker, connections, index_base, deadline).await
        }));
    }
    let mut result = LoadResult::default();
    for task in tasks {
        let part = task.await??;
        result.latencies_us.extend(part.latencies_us);
        result.errors += part.errors;
    }
    result.elapsed = start.elapsed();
    result.latencies_us.sort_unstable();
    Ok(result)
}

async fn connection_loop(
    target: Target,
    worker: usize,
    stride: usize,
    index_base: usize,
    deadline: Instant,
) -> Result<LoadResult, String> {
    let addr = &target.addrs[worker % target.addrs.len().max(1)];
    let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let mut out = LoadResult::default();
    let mut i = index_base + worker;
    while Instant::now() < deadline {
        let req = (target.make)(i).map_err(|e| e.to_string())?;
        i += stride;
        let sent = Instant::now();
        let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status();
        if let Some(f) = &target.on_response {
            f(resp.headers());
        }
        resp.into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?;
        let us = u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX);
        if status.is_success() || status.is_redirection() {
            out.latencies_us.push(us);
        } else {
            out.errors += 1;
        }
    }
    Ok(out)
}

/// One request on a fresh connection; the answer's body and headers.
pub async fn one_request_with_headers(
    addr: &str,
    req: Request<Full<Bytes>>,
) -> Result<(Bytes, HeaderMap), Box<dyn std::error::Error>> {
    let stream = TcpStream::connect(addr).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let resp = sender.send_request(req).await?;
    let headers = resp.headers().clone();
    Ok((resp.into_body().collect().await?.to_bytes(), headers))
}

/// One request on a fresh connection; the body of the answer.
pub async fn one_request(
    addr: &str,
    req: Request<Full<Bytes>>,
) -> Result<Bytes, Box<dyn std::error::Error>> {
    let stream = TcpStream::connect(addr).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let resp = sender.send_request(req).await?;
    Ok(resp.into_body().collect().await?.to_bytes())
}
