"""A signup view's response is unaffected when Naano is down or stalled."""

from __future__ import annotations

import socket
import threading
from typing import Iterator, List

import pytest
from flask import Flask, request

import naano
from naano.flask import Naano


def make_app(base_url: str) -> Flask:
    app = Flask(__name__)
    app.config["NAANO_BASE_URL"] = base_url
    app.config["NAANO_TIMEOUT"] = 0.3
    ext = Naano(app)

    @app.post("/signup")
    def signup() -> str:
        ext.track_signup(email=request.form["email"], company=request.form["company"])
        return "welcome"

    app.extensions["test_client"] = ext
    return app


@pytest.fixture
def stalled() -> Iterator[str]:
    """A listener that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: List[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("kind", ["down", "stalled"])
def test_signup_view_succeeds_and_nothing_escapes(kind: str, stalled: str) -> None:
    base = stalled if kind == "stalled" else f"http://127.0.0.1:{free_port()}"
    app = make_app(base)
    web = app.test_client()
    web.set_cookie("naano_session", "naano_session_whatever")
    for i in range(20):
        resp = web.post("/signup", data={"email": f"u{i}@acme.com", "company": "Acme"})
        assert resp.status_code == 200 and resp.data == b"welcome"
    ext: Naano = app.extensions["naano"]
    stats = ext.client.stats()
    assert stats["queued"] + stats["failed"] == 20, stats
    # flush respects its bound: the events are still retrying.
    assert ext.client.flush(0.2) is False
