"""Reading the ``naano_session`` cookie from whatever request object a framework hands us."""

from __future__ import annotations

from typing import Any, Mapping, Optional

from naano._naano import is_valid_session_id, session_id_from_cookie_header

SESSION_COOKIE = "naano_session"
"""Name of the first-party cookie (and of the landing URL's query parameter)."""

SESSION_MAX_AGE = 90 * 24 * 60 * 60
"""Lifetime of the session cookie, in seconds (90 days)."""


def _raw_cookie_header(request: Any) -> Optional[str]:
    headers = getattr(request, "headers", None)
    if headers is not None:
        # Werkzeug/Flask, Starlette/FastAPI and Django (>= 2.2) headers are
        # case-insensitive mappings.
        value = headers.get("cookie")
        if value:
            return str(value)
    meta = getattr(request, "META", None)
    if isinstance(meta, Mapping):
        value = meta.get("HTTP_COOKIE")
        if value:
            return str(value)
    return None


def _query_session(request: Any) -> Optional[str]:
    for attribute in ("args", "GET", "query_params"):  # Flask, Django, Starlette
        params = getattr(request, attribute, None)
        if params is not None:
            value = params.get(SESSION_COOKIE)
            if isinstance(value, str) and is_valid_session_id(value):
                return value
            return None
    return None


def session_id_from_request(request: Any) -> Optional[str]:
    """The Naano session id of a request, or ``None``.

    Accepts a Flask/Werkzeug request, a Django ``HttpRequest``, a Starlette/FastAPI
    ``Request``, a WSGI environ dict, or a raw ``Cookie`` header string. The cookie wins;
    a ``?naano_session=`` on the same request (a signup on the landing page itself) is the
    fallback. Malformed values are ignored, never trusted.
    """
    if request is None:
        return None
    if isinstance(request, str):
        return session_id_from_cookie_header(request)
    if isinstance(request, Mapping) and "wsgi.version" in request:
        header = request.get("HTTP_COOKIE")
        return session_id_from_cookie_header(header) if header else None
    header = _raw_cookie_header(request)
    if header:
        session = session_id_from_cookie_header(header)
        if session:
            return session
    else:
        cookies = getattr(request, "cookies", None)
        if cookies is not None:
            value = cookies.get(SESSION_COOKIE)
            if isinstance(value, str) and is_valid_session_id(value):
                return value
    return _query_session(request)
