"""The Python API end to end against the real server."""

from __future__ import annotations

import logging
import threading
import time
from typing import List

import pytest

import naano
from conftest import ACME_IP, GLOBEX_IP, UNKNOWN_IP, NaanoServer

FAST = naano.RetryConfig(pending_delays=[0.1] * 40, transient_initial=0.02, transient_max=0.2,
                         transient_max_attempts=100, event_deadline=30.0)


def test_upgraded_and_mismatch(server: NaanoServer, slug: str) -> None:
    client = naano.Client(server.base)
    acme = server.session(slug, ACME_IP)
    result = client.track_signup_and_wait(session_id=acme, email="ann@acme.com", company="Acme Inc",
                                          name="Ann", job_title="CTO", linkedin_url="https://linkedin.com/in/ann")
    assert result.action == "upgraded"
    assert result.company == "Acme Inc"
    assert result.old_company is None
    assert server.leads("ann@acme.com")[0]["id"] == result.lead_id
    assert server.inference(acme)["id"] == result.company_inference_id

    globex = server.session(slug, GLOBEX_IP)
    result = client.track_signup_and_wait(session_id=globex, email="bo@initech.io", company="Initech")
    assert (result.action, result.old_company, result.new_company) == ("mismatch_handled", "Globex Inc", "Initech")
    assert "mismatch_handled" in repr(result)


def test_fire_and_forget_is_delivered_on_flush(server: NaanoServer, slug: str) -> None:
    client = naano.Client(server.base)
    session = server.session(slug, ACME_IP)
    event_id = client.track_signup(session_id=session, email="ff@acme.com", company="Acme")
    assert isinstance(event_id, str) and len(event_id) == 36
    assert client.flush(10.0)
    assert client.stats()["sent"] == 1
    assert server.inference(session)["status"] == "confirmed"


def test_session_not_found_is_typed_logged_and_reported(server: NaanoServer, caplog: pytest.LogCaptureFixture) -> None:
    errors: List[naano.Failure] = []
    client = naano.Client(server.base, on_error=errors.append)
    with pytest.raises(naano.SessionNotFound) as raised:
        client.track_signup_and_wait(session_id="naano_session_missing", email="a@b.io", company="A")
    assert isinstance(raised.value, naano.NaanoError)

    with caplog.at_level(logging.WARNING, logger="naano"):
        assert client.track_signup(session_id="naano_session_missing2", email="a@b.io", company="A")
        assert client.flush(10.0)
    # Only the fire-and-forget failure is reported: the awaited one was raised to its caller.
    kinds = [f.kind for f in errors]
    assert kinds == ["session_not_found"]
    assert all(f.status == 404 for f in errors)
    assert "naano_session_missing2" in caplog.text
    # The callback ran on a Python thread of ours, not on the engine's.
    assert client.stats()["failed"] == 2


def test_failures_reach_on_error_without_a_flush(server: NaanoServer) -> None:
    seen = threading.Event()
    threads: List[str] = []

    def on_error(failure: naano.Failure) -> None:
        threads.append(threading.current_thread().name)
        seen.set()

    client = naano.Client(server.base, on_error=on_error)
    client.track_signup(session_id="naano_session_nobody", email="a@b.io", company="A")
    assert seen.wait(10.0), "the reporter thread drains the failure log by itself"
    assert threads == ["naano-failures"]


def test_on_error_exceptions_are_contained(server: NaanoServer, caplog: pytest.LogCaptureFixture) -> None:
    def broken(_: naano.Failure) -> None:
        raise RuntimeError("boom")

    client = naano.Client(server.base, on_error=broken)
    client.track_signup(session_id="naano_session_x", email="a@b.io", company="A")
    with caplog.at_level(logging.ERROR, logger="naano"):
        assert client.flush(10.0)
    assert "on_error callback raised" in caplog.text


def test_pending_then_confirmed(external_server: NaanoServer) -> None:
    server = external_server
    slug = server.link_to("https://saas.example/")
    session = server.pending_session(slug, UNKNOWN_IP)
    client = naano.Client(server.base, retry=FAST)
    results: List[naano.SignupResult] = []
    worker = threading.Thread(target=lambda: results.append(
        client.track_signup_and_wait(session_id=session, email="pat@acme.com", company="Acme")))
    worker.start()
    for _ in range(500):
        if server.inference(session)["lead_id"]:
            break
        time.sleep(0.01)
    assert server.inference(session)["status"] == "pending"
    server.set_inference(session, "Acme Corporation")
    worker.join(30)
    assert results and results[0].action == "upgraded"
    assert client.stats()["retried"] >= 1

    # Another network: the signup above taught the server that UNKNOWN_IP's is Acme's.
    stuck = server.pending_session(slug, "198.18.0.1")
    short = naano.Client(server.base, retry=naano.RetryConfig(pending_delays=[0.02, 0.02]))
    with pytest.raises(naano.InferencePending):
        short.track_signup_and_wait(session_id=stuck, email="q@acme.com", company="Acme")


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("session_id", dict(session_id="bad id", email="a@b.io", company="A")),
        ("email", dict(session_id="s", email="nope", company="A")),
        ("company", dict(session_id="s", email="a@b.io", company="   ")),
        ("name", dict(session_id="s", email="a@b.io", company="A", name="n" * 201)),
        ("job_title", dict(session_id="s", email="a@b.io", company="A", job_title="j" * 201)),
        ("linkedin_url", dict(session_id="s", email="a@b.io", company="A", linkedin_url="https://evil.io/in/x")),
    ],
)
def test_validation_errors_are_value_errors_raised_at_once(field: str, kwargs: "dict[str, str]") -> None:
    client = naano.Client("http://127.0.0.1:1")
    with pytest.raises(naano.ValidationError, match=field):
        client.track_signup(**kwargs)
    with pytest.raises(ValueError):
        client.track_signup_and_wait(**kwargs)
    assert client.stats() == {"queued": 0, "sent": 0, "retried": 0, "failed": 0, "dropped": 0}


def test_queue_full_and_shutdown_never_raise(server: NaanoServer, caplog: pytest.LogCaptureFixture) -> None:
    down = naano.Client("http://127.0.0.1:1", max_queue_size=3, retry=FAST)
    with caplog.at_level(logging.WARNING, logger="naano"):
        ids = [down.track_signup(session_id=f"s{i}", email="a@b.io", company="A") for i in range(5)]
    assert [i is not None for i in ids] == [True, True, True, False, False]
    assert down.stats()["dropped"] == 2
    assert "not queued" in caplog.text

    client = naano.Client(server.base)
    assert client.shutdown(5.0)
    assert client.track_signup(session_id="s", email="a@b.io", company="A") is None
    with pytest.raises(naano.ShutDown):
        client.track_signup_and_wait(session_id="s", email="a@b.io", company="A")


def test_http_errors_carry_status_and_code(server: NaanoServer) -> None:
    # A base URL whose path does not exist on the server: a 404 without a pending code.
    client = naano.Client(server.base + "/nowhere")
    with pytest.raises(naano.HTTPError) as raised:
        client.track_signup_and_wait(session_id="s", email="a@b.io", company="A")
    assert raised.value.status == 404
    assert raised.value.code == "not_found"


def test_request_helpers_and_default_client(server: NaanoServer, slug: str) -> None:
    session = server.session(slug, ACME_IP)
    assert naano.session_id_from_request(f"a=1; naano_session={session}") == session
    assert naano.session_id_from_request({"wsgi.version": (1, 0), "HTTP_COOKIE": f"naano_session={session}"}) == session
    assert naano.session_id_from_request("naano_session=bad value") is None
    from starlette.requests import Request as StarletteRequest  # what FastAPI hands a view

    scope = {"type": "http", "method": "POST", "path": "/signup", "query_string": b"",
             "headers": [(b"cookie", f"a=1; naano_session={session}".encode())]}
    assert naano.session_id_from_request(StarletteRequest(scope)) == session
    landing = {**scope, "headers": [], "query_string": f"naano_session={session}".encode()}
    assert naano.session_id_from_request(StarletteRequest(landing)) == session
    assert naano.session_id_from_request(None) is None

    naano.configure(base_url=server.base)
    assert naano.get_client().base_url == server.base
    assert naano.track_signup_from_request(f"naano_session={session}", email="d@acme.com", company="Acme")
    assert naano.track_signup_from_request("other=1", email="e@acme.com", company="Acme") is None
    assert naano.flush(10.0)
    assert len(server.leads("d@acme.com")) == 1
