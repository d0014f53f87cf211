"""The Flask and Django examples driven through their test clients against the real server:
tracking link -> redirect URL -> landing request sets the cookie -> signup view -> lead confirmed."""

from __future__ import annotations

import importlib
import sys
import urllib.parse
from http.cookies import SimpleCookie

import pytest

from conftest import ACME_IP, ROOT, NaanoServer

sys.path.insert(0, str(ROOT / "examples" / "flask-app"))


def landing_path(location: str) -> "tuple[str, str]":
    url = urllib.parse.urlparse(location)
    return f"{url.path}?{url.query}", urllib.parse.parse_qs(url.query)["naano_session"][0]


def assert_session_cookie(set_cookie: str, session: str) -> None:
    cookie = SimpleCookie()
    cookie.load(set_cookie)
    morsel = cookie["naano_session"]
    assert morsel.value == session
    assert morsel["max-age"] == "7776000"
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Lax"
    assert morsel["path"] == "/"
    assert not morsel["secure"]


def test_flask_example_end_to_end(server: NaanoServer) -> None:
    from app import create_app  # examples/flask-app/app.py

    app = create_app(server.base)
    slug = server.link_to("https://saas.example/?plan=pro")
    path, session = landing_path(server.click(slug, ACME_IP))
    server.wait_status(session, ("inferred",))

    web = app.test_client()
    landing = web.get(path)
    assert landing.status_code == 200
    assert_session_cookie(landing.headers["Set-Cookie"], session)

    resp = web.post("/signup", data={"email": "fl@acme.com", "company": "ACME Corp", "name": "Flo"})
    assert resp.status_code == 302
    ext = app.extensions["naano"]
    assert ext.client.flush(10.0)
    inference = server.inference(session)
    assert (inference["status"], inference["confirmed_company"], inference["mismatch"]) == ("confirmed", "ACME Corp", False)
    assert server.leads("fl@acme.com")[0]["name"] == "Flo"

    # An older session in a later landing URL does not replace the cookie.
    older = "naano_session_00000000001AAAAAAAAAAAAAAAAAAAAAA"
    assert "Set-Cookie" not in web.get(f"/?naano_session={older}").headers
    # Secure under https.
    secure = app.test_client().get(path, base_url="https://saas.example")
    assert "Secure" in secure.headers["Set-Cookie"]


@pytest.fixture
def django_setup(server: NaanoServer):  # type: ignore[no-untyped-def]
    import django
    from django.conf import settings

    sys.path.insert(0, str(ROOT / "examples" / "django-app"))
    if not settings.configured:
        settings_module = importlib.import_module("settings")
        options = {k: getattr(settings_module, k) for k in dir(settings_module) if k.isupper()}
        settings.configure(**options)
        django.setup()
    import naano.django as nd

    nd._client = None  # a client for this test's server
    settings.NAANO = {"BASE_URL": server.base}
    yield
    if nd._client is not None:
        nd._client.flush(5.0)
    nd._client = None


def test_django_example_end_to_end(server: NaanoServer, django_setup: None) -> None:
    from django.test import Client as DjangoClient

    import naano.django

    slug = server.link_to("https://saas.example/")
    path, session = landing_path(server.click(slug, ACME_IP))
    server.wait_status(session, ("inferred",))

    web = DjangoClient()
    landing = web.get(path)
    assert landing.status_code == 200
    assert_session_cookie(landing.cookies["naano_session"].OutputString(), session)

    resp = web.post("/signup", {"email": "dj@acme.com", "company": "Acme"})
    assert resp.status_code == 302
    assert naano.django.get_client().flush(10.0)
    assert server.inference(session)["status"] == "confirmed"
    assert len(server.leads("dj@acme.com")) == 1


def test_django_async_view_and_post_save_style_helper(server: NaanoServer, django_setup: None) -> None:
    from django.test import AsyncClient

    import naano.django

    slug = server.link_to("https://saas.example/")
    _, first = landing_path(server.click(slug, ACME_IP))
    _, second = landing_path(server.click(slug, ACME_IP))
    server.wait_status(first, ("inferred",))
    server.wait_status(second, ("inferred",))

    import asyncio

    async def go() -> int:
        web = AsyncClient()
        web.cookies["naano_session"] = first
        resp = await web.post("/signup-async", {"email": "as@acme.com", "company": "Acme"})
        return int(resp.status_code)

    assert asyncio.run(go()) == 200

    class User:  # what a post_save receiver gets
        email = "hook@acme.com"

        def get_full_name(self) -> str:
            return "Hook User"

    token = naano.django._current_session.set(second)  # as the middleware does during a request
    try:
        assert naano.django.track_user_signup(User(), company="Acme")
    finally:
        naano.django._current_session.reset(token)
    assert naano.django.get_client().flush(10.0)
    assert len(server.leads("as@acme.com")) == 1
    assert server.leads("hook@acme.com")[0]["name"] == "Hook User"
