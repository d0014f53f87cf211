"""Type stubs of the Rust extension (kept honest by ``mypy.stubtest`` in the test suite)."""

from typing import Dict, List, Optional, Tuple, Union

from typing import final

__version__: str
__all__ = [
    "Client",
    "SignupResult",
    "Failure",
    "RetryConfig",
    "session_id_from_cookie_header",
    "is_valid_session_id",
    "should_replace_session",
    "NaanoError",
    "ValidationError",
    "SessionNotFound",
    "InferencePending",
    "HTTPError",
    "TransportError",
    "RequestTimeout",
    "QueueFull",
    "ShutDown",
    "__version__",
]

class NaanoError(Exception): ...
class ValidationError(NaanoError, ValueError): ...
class SessionNotFound(NaanoError): ...
class InferencePending(NaanoError): ...

class HTTPError(NaanoError):
    status: int
    code: Optional[str]

class TransportError(NaanoError): ...
class RequestTimeout(NaanoError): ...
class QueueFull(NaanoError): ...
class ShutDown(NaanoError): ...

@final
class SignupResult:
    @property
    def action(self) -> str: ...
    @property
    def company(self) -> str: ...
    @property
    def old_company(self) -> Optional[str]: ...
    @property
    def new_company(self) -> Optional[str]: ...
    @property
    def lead_id(self) -> str: ...
    @property
    def company_inference_id(self) -> str: ...

@final
class Failure:
    @property
    def event_id(self) -> str: ...
    @property
    def session_id(self) -> str: ...
    @property
    def message(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def status(self) -> Optional[int]: ...
    @property
    def code(self) -> Optional[str]: ...
    @property
    def at(self) -> float: ...

@final
class RetryConfig:
    def __new__(
        cls,
        *,
        pending_delays: Optional[List[float]] = None,
        transient_initial: float = 0.5,
        transient_max: float = 30.0,
        transient_max_attempts: int = 8,
        event_deadline: float = 120.0,
    ) -> "RetryConfig": ...
    @property
    def pending_delays(self) -> List[float]: ...
    @property
    def transient_initial(self) -> float: ...
    @property
    def transient_max(self) -> float: ...
    @property
    def transient_max_attempts(self) -> int: ...
    @property
    def event_deadline(self) -> float: ...

@final
class Client:
    def __new__(
        cls,
        base_url: Optional[str] = None,
        *,
        timeout: float = 10.0,
        connect_timeout: float = 3.0,
        max_queue_size: int = 10000,
        max_concurrency: int = 32,
        retry: Optional[RetryConfig] = None,
        user_agent: Optional[str] = None,
        drop_flush_timeout: float = 2.0,
    ) -> "Client": ...
    @property
    def base_url(self) -> str: ...
    def track_signup(
        self,
        *,
        session_id: str,
        email: str,
        company: str,
        name: Optional[str] = None,
        job_title: Optional[str] = None,
        linkedin_url: Optional[str] = None,
    ) -> str: ...
    def track_signup_and_wait(
        self,
        *,
        session_id: str,
        email: str,
        company: str,
        name: Optional[str] = None,
        job_title: Optional[str] = None,
        linkedin_url: Optional[str] = None,
    ) -> SignupResult: ...
    def submit(
        self,
        *,
        session_id: str,
        email: str,
        company: str,
        name: Optional[str] = None,
        job_title: Optional[str] = None,
        linkedin_url: Optional[str] = None,
    ) -> int: ...
    def wait_completions(self, timeout: float) -> List[Tuple[int, Union[SignupResult, NaanoError]]]: ...
    def flush(self, timeout: float = 5.0) -> bool: ...
    def shutdown(self, timeout: float = 5.0) -> bool: ...
    def stats(self) -> Dict[str, int]: ...
    def take_failures(self) -> List[Failure]: ...

def session_id_from_cookie_header(header: str) -> Optional[str]: ...
def is_valid_session_id(value: str) -> bool: ...
def should_replace_session(stored: Optional[str], incoming: str) -> bool: ...
