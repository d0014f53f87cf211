"""Flask integration.

::

    from naano.flask import Naano

    naano = Naano(app)            # or naano = Naano(); naano.init_app(app)

    @app.post("/signup")
    def signup():
        user = create_user(...)
        naano.track_signup(email=user.email, company=form["company"])   # reads the cookie
        return redirect("/welcome")

Configuration comes from ``app.config``: ``NAANO_BASE_URL`` (else the environment),
``NAANO_TIMEOUT``, ``NAANO_MAX_QUEUE_SIZE``. Every response to a request that carries
``?naano_session=`` (the landing page after a tracking-link redirect) sets the first-party
``naano_session`` cookie from the server: 90 days, ``HttpOnly``, ``SameSite=Lax``,
``Secure`` under https.
"""

from __future__ import annotations

from typing import Any, Optional

from flask import Flask, Response, current_app, request

from naano._client import Client
from naano._naano import is_valid_session_id, should_replace_session
from naano._request import SESSION_COOKIE, SESSION_MAX_AGE, session_id_from_request


class Naano:
    """The Flask extension: a client per app, and the session cookie on every response."""

    def __init__(self, app: Optional[Flask] = None, *, client: Optional[Client] = None) -> None:
        self._client = client
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        if self._client is None:
            self._client = Client(
                base_url=app.config.get("NAANO_BASE_URL"),
                timeout=float(app.config.get("NAANO_TIMEOUT", 10.0)),
                max_queue_size=int(app.config.get("NAANO_MAX_QUEUE_SIZE", 10_000)),
            )
        app.extensions["naano"] = self
        app.after_request(_persist_session_cookie)

    @property
    def client(self) -> Client:
        if self._client is None:
            raise RuntimeError("Naano.init_app(app) was not called")
        return self._client

    def track_signup(
        self,
        *,
        email: str,
        company: str,
        name: Optional[str] = None,
        job_title: Optional[str] = None,
        linkedin_url: Optional[str] = None,
        session_id: Optional[str] = None,
    ) -> Optional[str]:
        """Attributes the signup of the current request (its ``naano_session`` cookie, or
        ``session_id`` when given). Returns at once; does nothing without a session."""
        if session_id is None:
            return self.client.track_signup_from_request(
                request, email=email, company=company, name=name, job_title=job_title, linkedin_url=linkedin_url
            )
        return self.client.track_signup(
            session_id=session_id, email=email, company=company, name=name, job_title=job_title, linkedin_url=linkedin_url
        )


def current_naano() -> Naano:
    """The extension of the current app."""
    extension: Any = current_app.extensions["naano"]
    return extension  # type: ignore[no-any-return]


def _persist_session_cookie(response: Response) -> Response:
    incoming = request.args.get(SESSION_COOKIE)
    if not incoming or not is_valid_session_id(incoming):
        return response
    if should_replace_session(session_id_from_request(request.headers.get("Cookie", "")), incoming):
        response.set_cookie(
            SESSION_COOKIE,
            incoming,
            max_age=SESSION_MAX_AGE,
            path="/",
            httponly=True,
            samesite="Lax",
            secure=request.is_secure,
        )
    return response
