"""``naano.Client``: the Python face of the Rust engine.

Queueing, retries, validation and delivery all happen in Rust (``naano._naano``). This
module only adapts them to Python's habits: errors reach the ``logging`` module and the
``on_error`` callback from a Python thread (never from the engine's threads), ``asyncio``
callers get awaitables, clients survive ``os.fork()`` and flush at interpreter exit.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import threading
import weakref
from typing import Any, Callable, Dict, Optional

from naano import _naano
from naano._naano import Failure, NaanoError, RetryConfig, SignupResult, ValidationError
from naano._request import session_id_from_request

logger = logging.getLogger("naano")

#: How often the failure reporter drains the engine's failure log.
_REPORT_INTERVAL = 0.5
#: How long the interpreter's exit waits for queued events.
_ATEXIT_FLUSH_TIMEOUT = 2.0
#: How long the asyncio bridge waits for completions per call (bounds its exit).
_BRIDGE_POLL = 0.25


class _FailureReporter:
    """A daemon thread that drains the engine's failure log into ``logging`` and ``on_error``."""

    def __init__(self, client: "Client") -> None:
        self._client = weakref.ref(client)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def ensure_started(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                thread = threading.Thread(target=self._run, name="naano-failures", daemon=True)
                thread.start()
                self._thread = thread

    def _run(self) -> None:
        while not self._stop.wait(_REPORT_INTERVAL):
            client = self._client()
            if client is None:
                return
            client._report_failures()
            del client

    def stop(self) -> None:
        self._stop.set()


class _AsyncBridge:
    """Resolves asyncio futures from engine completions, on their own event loops.

    A Python thread blocks (GIL released) in ``wait_completions`` and hands each result to
    its future's loop with ``call_soon_threadsafe``; the engine itself never touches Python.
    The thread runs only while futures are waiting: a thread still inside a GIL-released
    call when the interpreter finalizes is killed with a forced unwind that aborts the
    process, so none may be left idling there (not even for a client that was dropped).
    Those that are running are stopped at exit, before finalization.
    """

    def __init__(self, core: _naano.Client) -> None:
        self._core = core
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._waiting: Dict[int, "tuple[asyncio.AbstractEventLoop, asyncio.Future[SignupResult]]"] = {}
        self._thread: Optional[threading.Thread] = None

    def submit(self, loop: asyncio.AbstractEventLoop, kwargs: Dict[str, Any]) -> "asyncio.Future[SignupResult]":
        future: asyncio.Future[SignupResult] = loop.create_future()
        with self._lock:
            ticket = self._core.submit(**kwargs)
            self._waiting[ticket] = (loop, future)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="naano-asyncio", daemon=True)
                _running_bridges.add(self)
                self._thread.start()
        return future

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                for ticket, value in self._core.wait_completions(_BRIDGE_POLL):
                    with self._lock:
                        entry = self._waiting.pop(ticket, None)
                    if entry is not None:
                        loop, future = entry
                        try:
                            loop.call_soon_threadsafe(_settle, future, value)
                        except RuntimeError:
                            pass  # the loop was closed; nobody is waiting any more
                with self._lock:
                    if not self._waiting:
                        # Decided under the lock submit() takes: a new submission
                        # either sees this thread alive or starts the next one.
                        self._thread = None
                        _running_bridges.discard(self)
                        return
        finally:
            with self._lock:
                if self._thread is threading.current_thread():
                    self._thread = None
                    _running_bridges.discard(self)

    def stop(self) -> None:
        """Stops the thread (if running) and waits for it; called at exit."""
        self._stop.set()
        with self._lock:
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(_BRIDGE_POLL * 4)


def _settle(future: "asyncio.Future[SignupResult]", value: Any) -> None:
    if future.done():
        return
    if isinstance(value, BaseException):
        future.set_exception(value)
    else:
        future.set_result(value)


class Client:
    """A Naano client: thread-safe, asyncio-friendly and fork-safe.

    ``base_url`` defaults to ``NAANO_BASE_URL``. ``timeout`` and ``connect_timeout`` are
    per HTTP attempt, in seconds. At most ``max_queue_size`` events wait or are in flight;
    beyond that new events are dropped (counted in ``stats()["dropped"]`` and logged), never
    waited for. ``on_error(failure)`` is called from a Python thread for every event that
    was given up; failures are also logged on the ``naano`` logger.
    """

    def __init__(
        self,
        base_url: Optional[str] = None,
        *,
        timeout: float = 10.0,
        connect_timeout: float = 3.0,
        max_queue_size: int = 10_000,
        max_concurrency: int = 32,
        retry: Optional[RetryConfig] = None,
        on_error: Optional[Callable[[Failure], None]] = None,
    ) -> None:
        self._options: Dict[str, Any] = dict(
            timeout=timeout,
            connect_timeout=connect_timeout,
            max_queue_size=max_queue_size,
            max_concurrency=max_concurrency,
            retry=retry,
            user_agent=f"naano-python/{_naano.__version__}",
        )
        self._base_url = base_url or os.environ.get("NAANO_BASE_URL") or None
        self._on_error = on_error
        self._core = _naano.Client(self._base_url, **self._options)
        self._reporter = _FailureReporter(self)
        self._bridge = _AsyncBridge(self._core)
        _live_clients.add(self)

    @property
    def base_url(self) -> str:
        """The Naano server this client sends to."""
        return self._core.base_url

    def track_signup(
        self,
        *,
        session_id: str,
        email: str,
        company: str,
        name: Optional[str] = None,
        job_title: Optional[str] = None,
        linkedin_url: Optional[str] = None,
    ) -> Optional[str]:
        """Queues a signup and returns its event id at once.

        Raises ``naano.ValidationError`` (a ``ValueError``) for invalid input; that is a bug
        in the caller. Never raises for network trouble, a full queue or a shut-down client:
        those are logged and ``None`` is returned, so the signup flow is never broken.
        """
        try:
            event_id = self._core.track_signup(
                session_id=session_id,
                email=email,
                company=company,
                name=name,
                job_title=job_title,
                linkedin_url=linkedin_url,
            )
        except ValidationError:
            raise
        except NaanoError as err:
            logger.warning("naano: signup for session %s not queued: %s", session_id, err)
            return None
        self._reporter.ensure_started()
        return event_id

    def track_signup_and_wait(
        self,
        *,
        session_id: str,
        email: str,
        company: str,
        name: Optional[str] = None,
        job_title: Optional[str] = None,
        linkedin_url: Optional[str] = None,
    ) -> SignupResult:
        """Delivers with retries and returns the result; blocks with the GIL released.

        Raises ``SessionNotFound``, ``InferencePending`` (retries ran out), ``HTTPError``,
        ``TransportError``, ``RequestTimeout`` or ``ValidationError``; all are ``NaanoError``.
        """
        return self._core.track_signup_and_wait(
            session_id=session_id,
            email=email,
            company=company,
            name=name,
            job_title=job_title,
            linkedin_url=linkedin_url,
        )

    async def atrack_signup(
        self,
        *,
        session_id: str,
        email: str,
        company: str,
        name: Optional[str] = None,
        job_title: Optional[str] = None,
        linkedin_url: Optional[str] = None,
    ) -> SignupResult:
        """``track_signup_and_wait`` for asyncio: awaits the result without blocking the loop."""
        kwargs = dict(
            session_id=session_id,
            email=email,
            company=company,
            name=name,
            job_title=job_title,
            linkedin_url=linkedin_url,
        )
        return await self._bridge.submit(asyncio.get_running_loop(), kwargs)

    def track_signup_from_request(
        self,
        request: Any,
        *,
        email: str,
        company: str,
        name: Optional[str] = None,
        job_title: Optional[str] = None,
        linkedin_url: Optional[str] = None,
    ) -> Optional[str]:
        """``track_signup`` with the session read from ``request`` (see
        ``naano.session_id_from_request``). Without a session it does nothing and says so in
        a debug log: the visitor did not come through a tracking link."""
        session_id = session_id_from_request(request)
        if session_id is None:
            logger.debug("naano: no naano_session on this request; signup not attributed")
            return None
        return self.track_signup(
            session_id=session_id,
            email=email,
            company=company,
            name=name,
            job_title=job_title,
            linkedin_url=linkedin_url,
        )

    def flush(self, timeout: float = 5.0) -> bool:
        """Waits until everything queued so far is delivered or given up (GIL released).
        Returns ``False`` if ``timeout`` passed first."""
        done = self._core.flush(timeout)
        self._report_failures()
        return done

    def shutdown(self, timeout: float = 5.0) -> bool:
        """Flushes for at most ``timeout``, then stops; later calls are no-ops that log."""
        done = self._core.shutdown(timeout)
        self._report_failures()
        self._reporter.stop()
        return done

    def stats(self) -> Dict[str, int]:
        """Counters: ``queued``, ``sent``, ``retried``, ``failed``, ``dropped``."""
        return dict(self._core.stats())

    def _report_failures(self) -> None:
        for failure in self._core.take_failures():
            logger.warning(
                "naano: signup for session %s not delivered (%s): %s",
                failure.session_id,
                failure.kind,
                failure.message,
            )
            if self._on_error is not None:
                try:
                    self._on_error(failure)
                except Exception:  # the host's callback must not kill the reporter
                    logger.exception("naano: on_error callback raised")

    def _after_fork_in_child(self) -> None:
        # The engine restarts by itself in the child (see the Rust crate); the Python
        # threads do not survive fork(), so the bridge and reporter start afresh, on a
        # fresh core whose channels no parent thread ever locked. The inherited core is
        # kept, never dropped: its state belongs to threads that do not exist here.
        _inherited_cores.append(self._core)
        self._core = _naano.Client(self._base_url, **self._options)
        self._reporter = _FailureReporter(self)
        self._bridge = _AsyncBridge(self._core)


_live_clients: "weakref.WeakSet[Client]" = weakref.WeakSet()
# Strong references: a running bridge must be stopped at exit even if its client is gone.
_running_bridges: "set[_AsyncBridge]" = set()
_inherited_cores: "list[_naano.Client]" = []


def _reset_clients_after_fork() -> None:
    # Inherited bridges have no thread here and their locks may be held forever by a
    # parent thread: forget them, never stop (lock) them.
    _running_bridges.clear()
    for client in list(_live_clients):
        client._after_fork_in_child()


def _flush_at_exit() -> None:
    for client in list(_live_clients):
        try:
            client.flush(_ATEXIT_FLUSH_TIMEOUT)
        except Exception:  # exiting: never raise from atexit
            pass
        client._reporter.stop()
    for bridge in list(_running_bridges):
        bridge.stop()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_clients_after_fork)
atexit.register(_flush_at_exit)
