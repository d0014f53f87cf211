"""Django integration.

settings.py::

    MIDDLEWARE = [..., "naano.django.NaanoMiddleware"]
    NAANO = {"BASE_URL": "https://naano.example.com", "TIMEOUT": 10.0}   # optional

In a view (or anything running during the request, such as a ``post_save`` or allauth
``user_signed_up`` receiver)::

    import naano.django

    naano.django.track_signup(email=user.email, company=form.cleaned_data["company"])

The middleware sets the first-party ``naano_session`` cookie from ``?naano_session=`` on
landing requests (90 days, ``HttpOnly``, ``SameSite=Lax``, ``Secure`` under https) and makes
the current request's session available to ``track_signup`` without passing the request
(a context variable, so it is right under threads and asyncio alike). It works in sync and
async middleware stacks.
"""

from __future__ import annotations

import threading
from contextvars import ContextVar
from typing import Any, Awaitable, Callable, Optional, Union

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

from naano._client import Client
from naano._naano import is_valid_session_id, should_replace_session
from naano._request import SESSION_COOKIE, SESSION_MAX_AGE, session_id_from_request

_current_session: ContextVar[Optional[str]] = ContextVar("naano_session", default=None)
_lock = threading.Lock()
_client: Optional[Client] = None


def get_client() -> Client:
    """The process-wide client, configured from ``settings.NAANO`` on first use."""
    global _client
    if _client is None:
        with _lock:
            if _client is None:
                options = getattr(settings, "NAANO", {}) or {}
                _client = Client(
                    base_url=options.get("BASE_URL"),
                    timeout=float(options.get("TIMEOUT", 10.0)),
                    max_queue_size=int(options.get("MAX_QUEUE_SIZE", 10_000)),
                )
    return _client


def current_session_id() -> Optional[str]:
    """The Naano session of the request being handled (set by the middleware)."""
    return _current_session.get()


def track_signup(
    request: Optional[HttpRequest] = None,
    *,
    email: str,
    company: str,
    name: Optional[str] = None,
    job_title: Optional[str] = None,
    linkedin_url: Optional[str] = None,
) -> Optional[str]:
    """Attributes a signup to the session of ``request`` (or of the request being handled).
    Returns at once; does nothing (debug log) without a session."""
    session_id = session_id_from_request(request) if request is not None else current_session_id()
    client = get_client()
    if session_id is None:
        return client.track_signup_from_request(None, email=email, company=company)
    return client.track_signup(
        session_id=session_id, email=email, company=company, name=name, job_title=job_title, linkedin_url=linkedin_url
    )


def track_user_signup(user: Any, request: Optional[HttpRequest] = None, *, company: str, **extra: Any) -> Optional[str]:
    """``track_signup`` for a Django user: email and full name come from ``user``; made for
    ``post_save``/``user_signed_up`` receivers."""
    full_name = user.get_full_name() if hasattr(user, "get_full_name") else None
    return track_signup(request, email=user.email, company=company, name=full_name or None, **extra)


_GetResponse = Callable[[HttpRequest], Union[HttpResponseBase, Awaitable[HttpResponseBase]]]


class NaanoMiddleware:
    """Persists ``?naano_session=`` as a first-party cookie and exposes the session."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: _GetResponse) -> None:
        self.get_response = get_response
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self._async:
            return self.__acall__(request)
        token = _current_session.set(session_id_from_request(request))
        try:
            response = self.get_response(request)
        finally:
            _current_session.reset(token)
        _persist_session_cookie(request, response)  # type: ignore[arg-type]
        return response

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        token = _current_session.set(session_id_from_request(request))
        try:
            response = await self.get_response(request)  # type: ignore[misc]
        finally:
            _current_session.reset(token)
        _persist_session_cookie(request, response)
        return response  # type: ignore[no-any-return]


def _persist_session_cookie(request: HttpRequest, response: HttpResponseBase) -> None:
    incoming = request.GET.get(SESSION_COOKIE)
    if not incoming or not is_valid_session_id(incoming):
        return
    stored = session_id_from_request(request.META.get("HTTP_COOKIE", ""))
    if should_replace_session(stored, incoming):
        response.set_cookie(
            SESSION_COOKIE,
            incoming,
            max_age=SESSION_MAX_AGE,
            path="/",
            httponly=True,
            samesite="Lax",
            secure=request.is_secure(),
        )
