//! `naano._naano`: the Python binding of the Naano engine. Thin on purpose: it converts
//! types, maps errors to one exception hierarchy and releases the GIL while waiting.
//! Queueing, retries, validation and fork handling all live in the `naano` crate.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, UNIX_EPOCH};

use naano::{Client, RetryPolicy, SignupOutcome, SignupRequest, TrackError};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::{PyDict, PyTuple, PyType};

create_exception!(
    naano,
    NaanoError,
    PyException,
    "Base class of every Naano error."
);
create_exception!(
    naano,
    SessionNotFound,
    NaanoError,
    "No click carries this session id."
);
create_exception!(
    naano,
    InferencePending,
    NaanoError,
    "Company inference was still pending when the retries ran out; the server applies the signup when it lands."
);
create_exception!(
    naano,
    HTTPError,
    NaanoError,
    "The server answered an error (see .status and .code)."
);
create_exception!(
    naano,
    TransportError,
    NaanoError,
    "The connection kept failing."
);
create_exception!(
    naano,
    RequestTimeout,
    NaanoError,
    "The request timeout or the event's deadline passed."
);
create_exception!(
    naano,
    QueueFull,
    NaanoError,
    "The queue was full; the event was dropped."
);
create_exception!(naano, ShutDown, NaanoError, "The client was shut down.");

/// `ValidationError(NaanoError, ValueError)`: a class with two bases, which
/// `create_exception!` cannot declare, so it is made once at import.
static VALIDATION_ERROR: GILOnceCell<Py<PyType>> = GILOnceCell::new();

fn validation_error(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    VALIDATION_ERROR
        .get_or_try_init(py, || {
            let bases = PyTuple::new(
                py,
                [py.get_type::<NaanoError>(), py.get_type::<PyValueError>()],
            )?;
            let namespace = PyDict::new(py);
            namespace.set_item("__module__", "naano")?;
            namespace.set_item(
                "__doc__",
                "The signup broke a field rule; nothing was sent.",
            )?;
            let class = py.import("builtins")?.getattr("type")?.call1((
                "ValidationError",
                bases,
                namespace,
            ))?;
            Ok(class.downcast_into::<PyType>()?.unbind())
        })
        .map(|t| t.bind(py))
}

/// The typed Python exception for an engine error.
fn to_pyerr(py: Python<'_>, err: TrackError) -> PyErr {
    let message = err.to_string();
    match err {
        TrackError::Invalid(_) => match validation_error(py) {
            Ok(class) => PyErr::from_type(class.clone(), message),
            Err(e) => e,
        },
        TrackError::SessionNotFound => SessionNotFound::new_err(message),
        TrackError::InferencePending => InferencePending::new_err(message),
        TrackError::Http { status, code } => {
            let err = HTTPError::new_err(message);
            let value = err.value(py);
            let _ = value.setattr("status", status);
            let _ = value.setattr("code", code.map(|c| c.as_str()));
            err
        }
        TrackError::Transport(_) => TransportError::new_err(message),
        TrackError::Timeout => RequestTimeout::new_err(message),
        TrackError::QueueFull => QueueFull::new_err(message),
        TrackError::ShutDown => ShutDown::new_err(message),
        _ => NaanoError::new_err(message),
    }
}

/// What the webhook did with a signup.
#[pyclass(module = "naano._naano", frozen, get_all)]
#[derive(Debug, Clone)]
struct SignupResult {
    /// `"upgraded"` or `"mismatch_handled"`.
    action: &'static str,
    /// The confirmed company (the one the user typed).
    company: String,
    /// For a mismatch: what had been inferred; otherwise `None`.
    old_company: Option<String>,
    /// For a mismatch: what the user typed; otherwise `None`.
    new_company: Option<String>,
    lead_id: String,
    company_inference_id: String,
}

#[pymethods]
impl SignupResult {
    fn __repr__(&self) -> String {
        match (&self.old_company, &self.new_company) {
            (Some(old), Some(new)) => format!(
                "SignupResult(action='mismatch_handled', old_company={old:?}, new_company={new:?}, lead_id={:?})",
                self.lead_id
            ),
            _ => format!("SignupResult(action='upgraded', company={:?}, lead_id={:?})", self.company, self.lead_id),
        }
    }
}

impl From<SignupOutcome> for SignupResult {
    fn from(outcome: SignupOutcome) -> Self {
        Self {
            action: outcome.action(),
            company: outcome.company().to_owned(),
            old_company: outcome.old_company().map(str::to_owned),
            new_company: outcome.old_company().map(|_| outcome.company().to_owned()),
            lead_id: outcome.lead_id().to_owned(),
            company_inference_id: outcome.company_inference_id().to_owned(),
        }
    }
}

/// An event that was given up.
#[pyclass(module = "naano._naano", frozen, get_all)]
#[derive(Debug, Clone)]
struct Failure {
    event_id: String,
    session_id: String,
    /// Human-readable reason.
    message: String,
    /// `session_not_found`, `inference_pending`, `http`, `transport`, `timeout`, …
    kind: &'static str,
    /// HTTP status for `http` failures.
    status: Option<u16>,
    /// The server's error `code`, when there was one.
    code: Option<&'static str>,
    /// Unix time of the failure.
    at: f64,
}

#[pymethods]
impl Failure {
    fn __repr__(&self) -> String {
        format!(
            "Failure(kind={:?}, session_id={:?}, message={:?})",
            self.kind, self.session_id, self.message
        )
    }
}

/// Retry schedule (seconds).
#[pyclass(module = "naano._naano", frozen, get_all)]
#[derive(Debug, Clone)]
struct RetryConfig {
    pending_delays: Vec<f64>,
    transient_initial: f64,
    transient_max: f64,
    transient_max_attempts: u32,
    event_deadline: f64,
}

#[pymethods]
impl RetryConfig {
    #[new]
    #[pyo3(signature = (*, pending_delays=None, transient_initial=0.5, transient_max=30.0, transient_max_attempts=8, event_deadline=120.0))]
    fn new(
        pending_delays: Option<Vec<f64>>,
        transient_initial: f64,
        transient_max: f64,
        transient_max_attempts: u32,
        event_deadline: f64,
    ) -> PyResult<Self> {
        let pending_delays = pending_delays.unwrap_or_else(|| vec![2.0, 4.0, 8.0, 16.0]);
        let all =
            pending_delays
                .iter()
                .chain([&transient_initial, &transient_max, &event_deadline]);
        for value in all {
            seconds(*value)?;
        }
        Ok(Self {
            pending_delays,
            transient_initial,
            transient_max,
            transient_max_attempts,
            event_deadline,
        })
    }
}

impl RetryConfig {
    fn to_policy(&self) -> PyResult<RetryPolicy> {
        Ok(RetryPolicy {
            pending_delays: self
                .pending_delays
                .iter()
                .map(|s| seconds(*s))
                .collect::<PyResult<_>>()?,
            transient_initial: seconds(self.transient_initial)?,
            transient_max: seconds(self.transient_max)?,
            transient_max_attempts: self.transient_max_attempts.max(1),
            event_deadline: seconds(self.event_deadline)?,
        })
    }
}

fn seconds(value: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| PyValueError::new_err(format!("{value} is not a duration in seconds")))
}

type Completion = (u64, Result<SignupOutcome, TrackError>);

/// The engine client. Python code uses `naano.Client`, which wraps this.
#[pyclass(module = "naano._naano", frozen, name = "Client")]
struct PyClient {
    client: Client,
    tickets: AtomicU64,
    done_tx: mpsc::Sender<Completion>,
    done_rx: Mutex<mpsc::Receiver<Completion>>,
}

fn signup(
    session_id: String,
    email: String,
    company: String,
    name: Option<String>,
    job_title: Option<String>,
    linkedin_url: Option<String>,
) -> SignupRequest {
    SignupRequest {
        session_id: Some(session_id),
        email: Some(email),
        company: Some(company),
        name,
        job_title,
        linkedin_url,
    }
}

#[pymethods]
impl PyClient {
    #[new]
    #[pyo3(signature = (base_url=None, *, timeout=10.0, connect_timeout=3.0, max_queue_size=10_000, max_concurrency=32, retry=None, user_agent=None, drop_flush_timeout=2.0))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        base_url: Option<String>,
        timeout: f64,
        connect_timeout: f64,
        max_queue_size: usize,
        max_concurrency: usize,
        retry: Option<&RetryConfig>,
        user_agent: Option<String>,
        drop_flush_timeout: f64,
    ) -> PyResult<Self> {
        let mut builder = Client::builder()
            .request_timeout(seconds(timeout)?)
            .connect_timeout(seconds(connect_timeout)?)
            .queue_capacity(max_queue_size)
            .max_concurrency(max_concurrency)
            .drop_flush_timeout(seconds(drop_flush_timeout)?)
            .user_agent(
                user_agent.unwrap_or_else(|| format!("naano-python/{}", env!("CARGO_PKG_VERSION"))),
            );
        if let Some(url) = base_url.filter(|u| !u.trim().is_empty()) {
            builder = builder.base_url(url);
        }
        if let Some(retry) = retry {
            builder = builder.retry(retry.to_policy()?);
        }
        let (done_tx, done_rx) = mpsc::channel();
        Ok(Self {
            client: builder.build(),
            tickets: AtomicU64::new(0),
            done_tx,
            done_rx: Mutex::new(done_rx),
        })
    }

    /// The server this client sends to.
    #[getter]
    fn base_url(&self) -> &str {
        self.client.base_url()
    }

    /// Queues a signup; returns its event id at once. Raises ValidationError for bad input,
    /// QueueFull or ShutDown when it cannot be queued; never waits on the network.
    #[pyo3(signature = (*, session_id, email, company, name=None, job_title=None, linkedin_url=None))]
    #[allow(clippy::too_many_arguments)]
    fn track_signup(
        &self,
        py: Python<'_>,
        session_id: String,
        email: String,
        company: String,
        name: Option<String>,
        job_title: Option<String>,
        linkedin_url: Option<String>,
    ) -> PyResult<String> {
        let request = signup(session_id, email, company, name, job_title, linkedin_url);
        self.client
            .track_signup(request)
            .map_err(|e| to_pyerr(py, e))
    }

    /// Delivers (with retries) and returns the SignupResult, blocking with the GIL released.
    #[pyo3(signature = (*, session_id, email, company, name=None, job_title=None, linkedin_url=None))]
    #[allow(clippy::too_many_arguments)]
    fn track_signup_and_wait(
        &self,
        py: Python<'_>,
        session_id: String,
        email: String,
        company: String,
        name: Option<String>,
        job_title: Option<String>,
        linkedin_url: Option<String>,
    ) -> PyResult<SignupResult> {
        let request = signup(session_id, email, company, name, job_title, linkedin_url);
        let (tx, rx) = mpsc::channel();
        self.client
            .track_signup_then(request, move |result| {
                let _ = tx.send(result);
            })
            .map_err(|e| to_pyerr(py, e))?;
        let result = py.allow_threads(move || rx.recv().unwrap_or(Err(TrackError::ShutDown)));
        result.map(SignupResult::from).map_err(|e| to_pyerr(py, e))
    }

    /// Queues a signup whose result is later returned by `wait_completions` under the
    /// returned ticket (the asyncio bridge).
    #[pyo3(signature = (*, session_id, email, company, name=None, job_title=None, linkedin_url=None))]
    #[allow(clippy::too_many_arguments)]
    fn submit(
        &self,
        py: Python<'_>,
        session_id: String,
        email: String,
        company: String,
        name: Option<String>,
        job_title: Option<String>,
        linkedin_url: Option<String>,
    ) -> PyResult<u64> {
        let ticket = self.tickets.fetch_add(1, Ordering::Relaxed);
        let done = self.done_tx.clone();
        let request = signup(session_id, email, company, name, job_title, linkedin_url);
        self.client
            .track_signup_then(request, move |result| {
                let _ = done.send((ticket, result));
            })
            .map_err(|e| to_pyerr(py, e))?;
        Ok(ticket)
    }

    /// Waits (GIL released) up to `timeout` seconds for finished submissions; returns
    /// `(ticket, SignupResult | NaanoError)` pairs.
    fn wait_completions(&self, py: Python<'_>, timeout: f64) -> PyResult<Vec<(u64, PyObject)>> {
        let timeout = seconds(timeout)?;
        let batch: Vec<Completion> = py.allow_threads(|| {
            let Ok(rx) = self.done_rx.lock() else {
                return Vec::new();
            };
            let Ok(first) = rx.recv_timeout(timeout) else {
                return Vec::new();
            };
            std::iter::once(first).chain(rx.try_iter()).collect()
        });
        batch
            .into_iter()
            .map(|(ticket, result)| {
                let value = match result {
                    Ok(outcome) => Py::new(py, SignupResult::from(outcome))?.into_any(),
                    Err(err) => to_pyerr(py, err).into_value(py).into_any(),
                };
                Ok((ticket, value))
            })
            .collect()
    }

    /// Waits (GIL released) until everything queued so far is delivered or given up.
    #[pyo3(signature = (timeout=5.0))]
    fn flush(&self, py: Python<'_>, timeout: f64) -> PyResult<bool> {
        let timeout = seconds(timeout)?;
        Ok(py.allow_threads(|| self.client.flush_blocking(timeout)))
    }

    /// Flushes, then stops the engine; later calls raise ShutDown.
    #[pyo3(signature = (timeout=5.0))]
    fn shutdown(&self, py: Python<'_>, timeout: f64) -> PyResult<bool> {
        let timeout = seconds(timeout)?;
        Ok(py.allow_threads(|| self.client.shutdown_blocking(timeout)))
    }

    /// Counters: queued, sent, retried, failed, dropped.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let stats = self.client.stats();
        let dict = PyDict::new(py);
        dict.set_item("queued", stats.queued)?;
        dict.set_item("sent", stats.sent)?;
        dict.set_item("retried", stats.retried)?;
        dict.set_item("failed", stats.failed)?;
        dict.set_item("dropped", stats.dropped)?;
        Ok(dict)
    }

    /// Removes and returns the failures recorded since the last call.
    fn take_failures(&self) -> Vec<Failure> {
        self.client
            .take_failures()
            .into_iter()
            .map(|f| Failure {
                event_id: f.event_id,
                session_id: f.session_id,
                message: f.error.to_string(),
                kind: f.error.kind(),
                status: f.error.status(),
                code: f.error.code().map(|c| c.as_str()),
                at: f
                    .at
                    .duration_since(UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64()),
            })
            .collect()
    }
}

/// The session id from a raw `Cookie` header, by the same rules as every Naano SDK.
#[pyfunction]
fn session_id_from_cookie_header(header: &str) -> Option<String> {
    naano::session_id_from_cookie_header(header)
}

/// Whether `value` is a well-formed session id.
#[pyfunction]
fn is_valid_session_id(value: &str) -> bool {
    naano::is_valid_session_id(value)
}

/// Whether a session id arriving in a landing URL should replace the stored cookie (an
/// older id never replaces a newer one).
#[pyfunction]
#[pyo3(signature = (stored, incoming))]
fn should_replace_session(stored: Option<&str>, incoming: &str) -> bool {
    naano::should_replace_session(stored, incoming)
}

#[pymodule]
fn _naano(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<PyClient>()?;
    m.add_class::<SignupResult>()?;
    m.add_class::<Failure>()?;
    m.add_class::<RetryConfig>()?;
    m.add_function(wrap_pyfunction!(session_id_from_cookie_header, m)?)?;
    m.add_function(wrap_pyfunction!(is_valid_session_id, m)?)?;
    m.add_function(wrap_pyfunction!(should_replace_session, m)?)?;
    m.add("NaanoError", py.get_type::<NaanoError>())?;
    m.add("ValidationError", validation_error(py)?)?;
    m.add("SessionNotFound", py.get_type::<SessionNotFound>())?;
    m.add("InferencePending", py.get_type::<InferencePending>())?;
    m.add("HTTPError", py.get_type::<HTTPError>())?;
    m.add("TransportError", py.get_type::<TransportError>())?;
    m.add("RequestTimeout", py.get_type::<RequestTimeout>())?;
    m.add("QueueFull", py.get_type::<QueueFull>())?;
    m.add("ShutDown", py.get_type::<ShutDown>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
