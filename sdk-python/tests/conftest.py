"""A real naano-server process on a temporary SQLite file, driven over HTTP."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, Iterator, List, Optional

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
ADMIN_TOKEN = "pytest-admin-token"
ACME_IP = "203.0.113.10"
GLOBEX_IP = "198.51.100.5"
UNKNOWN_IP = "192.0.2.1"
IP_TABLE = (
    "cidr,company,domain,confidence\n"
    "203.0.113.0/24,Acme Corporation,acme.com,0.9\n"
    "198.51.100.0/24,Globex Inc,globex.com,0.8\n"
)


def server_binary() -> str:
    path = os.environ.get("NAANO_SERVER_BIN") or str(ROOT / "target" / "debug" / "naano-server")
    if not os.path.exists(path):
        raise RuntimeError(f"{path} is missing: run `cargo build -p naano-server` first")
    return path


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


class NaanoServer:
    def __init__(self, tmp: pathlib.Path, extra: List[str]) -> None:
        self.tmp = tmp
        table = tmp / "ip-companies.csv"
        table.write_text(IP_TABLE)
        self.db = tmp / "naano.db"
        self.proc = subprocess.Popen(
            [server_binary(), "--listen", "127.0.0.1:0", "--trust-proxy", "--database-url", str(self.db),
             "--ip-companies", str(table), *extra],
            stdout=subprocess.PIPE,
            env={**os.environ, "NAANO_ADMIN_TOKEN": ADMIN_TOKEN, "RUST_LOG": "warn"},
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        prefix = "naano-server listening on "
        if not line.startswith(prefix):
            self.proc.kill()
            raise RuntimeError(f"naano-server did not start: {line!r}")
        self.base = line[len(prefix):].strip()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)

    def request(self, method: str, path: str, body: Optional[Dict[str, Any]] = None,
                headers: Optional[Dict[str, str]] = None) -> "tuple[int, Dict[str, str], Any]":
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {ADMIN_TOKEN}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with _opener.open(req, timeout=30) as resp:
                raw = resp.read()
                return resp.status, dict(resp.headers), json.loads(raw) if raw else None
        except urllib.error.HTTPError as err:
            raw = err.read()
            try:
                payload = json.loads(raw) if raw else None
            except ValueError:
                payload = raw.decode()
            return err.code, dict(err.headers), payload

    def admin_get(self, path: str) -> Any:
        status, _, body = self.request("GET", path)
        assert status == 200, body
        return body

    def link_to(self, destination: str) -> str:
        _, _, creator = self.request("POST", "/api/admin/creators", {"name": "Py Creator"})
        status, _, link = self.request("POST", "/api/admin/links",
                                       {"creator_id": creator["id"], "destination_url": destination})
        assert status == 201, link
        return str(link["slug"])

    def click(self, slug: str, ip: str) -> str:
        """Follows the tracking link; returns the redirect's Location."""
        status, headers, _ = self.request("GET", f"/c/{slug}", headers={"X-Forwarded-For": ip})
        assert status == 302
        return headers["location"]

    def pending_session(self, slug: str, ip: str) -> str:
        query = urllib.parse.urlparse(self.click(slug, ip)).query
        return urllib.parse.parse_qs(query)["naano_session"][0]

    def session(self, slug: str, ip: str) -> str:
        session = self.pending_session(slug, ip)
        self.wait_status(session, ("inferred", "no_company"))
        return session

    def inference(self, session: str) -> Dict[str, Any]:
        data = self.admin_get(f"/api/admin/inferences?session_id={session}")["data"]
        return dict(data[0])

    def wait_status(self, session: str, wanted: "tuple[str, ...]") -> Dict[str, Any]:
        for _ in range(1000):
            inference = self.inference(session)
            if inference["status"] in wanted:
                return inference
            time.sleep(0.01)
        raise AssertionError(f"{session} never reached {wanted}")

    def leads(self, email: str) -> List[Dict[str, Any]]:
        return list(self.admin_get("/api/admin/leads?" + urllib.parse.urlencode({"email": email}))["data"])

    def count_leads(self) -> int:
        total, cursor = 0, None
        while True:
            page = self.admin_get("/api/admin/leads?limit=500" + (f"&cursor={cursor}" if cursor else ""))
            total += len(page["data"])
            cursor = page["next_cursor"]
            if not cursor:
                return total

    def set_inference(self, session: str, company: str) -> Any:
        status, _, body = self.request("PUT", f"/api/admin/sessions/{session}/inference",
                                       {"company": company, "confidence": 0.9})
        assert status == 200, body
        return body


@pytest.fixture
def server(tmp_path: pathlib.Path) -> Iterator[NaanoServer]:
    srv = NaanoServer(tmp_path, [])
    yield srv
    srv.stop()


@pytest.fixture
def external_server(tmp_path: pathlib.Path) -> Iterator[NaanoServer]:
    srv = NaanoServer(tmp_path, ["--external-inference"])
    yield srv
    srv.stop()


@pytest.fixture
def slug(server: NaanoServer) -> str:
    return server.link_to("https://saas.example/welcome")
