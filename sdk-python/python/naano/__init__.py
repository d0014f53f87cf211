"""Naano: non-blocking signup attribution for Flask, Django and any WSGI/ASGI app.

One call after a successful signup; it returns in microseconds, never raises for network
trouble, and the attribution is delivered (with retries) by the Rust engine in the
background::

    import naano

    naano.track_signup(session_id=..., email=user.email, company=form.company)

See ``naano.Client`` for a configured client, ``naano.flask`` and ``naano.django`` for the
framework helpers.
"""

from naano._naano import (
    Failure,
    HTTPError,
    InferencePending,
    NaanoError,
    QueueFull,
    RequestTimeout,
    RetryConfig,
    SessionNotFound,
    ShutDown,
    SignupResult,
    TransportError,
    ValidationError,
    __version__,
    is_valid_session_id,
    session_id_from_cookie_header,
    should_replace_session,
)
from naano._client import Client
from naano._default import configure, flush, get_client, shutdown, track_signup, track_signup_from_request
from naano._request import SESSION_COOKIE, SESSION_MAX_AGE, session_id_from_request

__all__ = [
    "Client",
    "Failure",
    "HTTPError",
    "InferencePending",
    "NaanoError",
    "QueueFull",
    "RequestTimeout",
    "RetryConfig",
    "SESSION_COOKIE",
    "SESSION_MAX_AGE",
    "SessionNotFound",
    "ShutDown",
    "SignupResult",
    "TransportError",
    "ValidationError",
    "__version__",
    "configure",
    "flush",
    "get_client",
    "is_valid_session_id",
    "session_id_from_cookie_header",
    "session_id_from_request",
    "should_replace_session",
    "shutdown",
    "track_signup",
    "track_signup_from_request",
]
