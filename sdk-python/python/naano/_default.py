"""The module-level default client, as posthog/sentry-style libraries offer.

``naano.track_signup(...)`` uses a client configured from the environment
(``NAANO_BASE_URL``) on first use; ``naano.configure(...)`` replaces it.
"""

from __future__ import annotations

import threading
from typing import Any, Optional

from naano._client import Client

_lock = threading.Lock()
_default: Optional[Client] = None


def configure(**options: Any) -> Client:
    """Replaces the default client with ``Client(**options)`` (the old one is flushed)."""
    global _default
    client = Client(**options)
    with _lock:
        previous, _default = _default, client
    if previous is not None:
        previous.flush(2.0)
    return client


def get_client() -> Client:
    """The default client, created from the environment on first use."""
    global _default
    if _default is None:
        with _lock:
            if _default is None:
                _default = Client()
    return _default


def track_signup(
    *,
    session_id: str,
    email: str,
    company: str,
    name: Optional[str] = None,
    job_title: Optional[str] = None,
    linkedin_url: Optional[str] = None,
) -> Optional[str]:
    """``Client.track_signup`` on the default client."""
    return get_client().track_signup(
        session_id=session_id,
        email=email,
        company=company,
        name=name,
        job_title=job_title,
        linkedin_url=linkedin_url,
    )


def track_signup_from_request(
    request: Any,
    *,
    email: str,
    company: str,
    name: Optional[str] = None,
    job_title: Optional[str] = None,
    linkedin_url: Optional[str] = None,
) -> Optional[str]:
    """``Client.track_signup_from_request`` on the default client."""
    return get_client().track_signup_from_request(
        request, email=email, company=company, name=name, job_title=job_title, linkedin_url=linkedin_url
    )


def flush(timeout: float = 5.0) -> bool:
    """Flushes the default client (if it was ever used)."""
    return _default.flush(timeout) if _default is not None else True


def shutdown(timeout: float = 5.0) -> bool:
    """Shuts the default client down (if it was ever used)."""
    return _default.shutdown(timeout) if _default is not None else True
