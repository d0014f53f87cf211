"""A WSGI app for the pre-fork test: the client is created, and used, in the gunicorn
master at import (``--preload``), before the workers are forked."""

from __future__ import annotations

import json
import os
import time
from typing import Callable, Iterable
from urllib.parse import parse_qs

import naano

client = naano.Client()  # NAANO_BASE_URL from the environment
# Start the engine in the master: the workers inherit a running engine's memory.
client.track_signup(session_id=os.environ["PRELOAD_SESSION"], email="master@acme.com", company="Acme")
client.flush(10.0)


def app(environ: dict, start_response: Callable) -> Iterable[bytes]:  # type: ignore[type-arg]
    query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    if environ["PATH_INFO"] == "/signup":
        client.track_signup(session_id=query["session"], email=query["email"], company="Acme")
        time.sleep(0.05)  # keep this worker busy so the other one takes requests too
        body = {"pid": os.getpid()}
    else:
        body = {"pid": os.getpid(), "flushed": client.flush(10.0), **client.stats()}
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]
