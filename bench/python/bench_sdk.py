"""Caller-side cost of one tracking call: naano vs posthog (capture) and Segment (track).

    python bench/python/bench_sdk.py [--calls 100000]

Everything runs on 127.0.0.1: a real naano-server (target/release) for naano, a local sink
for posthog and Segment. Prints a Markdown table, then the burst and memory checks.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Callable, List

ROOT = pathlib.Path(__file__).resolve().parents[2]


def percentile(sorted_ns: List[int], p: float) -> float:
    return sorted_ns[round(p / 100 * (len(sorted_ns) - 1))] / 1000.0


def measure(call: Callable[[int], object], n: int) -> List[int]:
    costs = []
    clock = time.perf_counter_ns
    for i in range(n):
        start = clock()
        call(i)
        costs.append(clock() - start)
    costs.sort()
    return costs


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def start_naano(tmp: str) -> "tuple[subprocess.Popen[str], str]":
    proc = subprocess.Popen(
        [str(ROOT / "target/release/naano-server"), "--listen", "127.0.0.1:0", "--database-url", f"{tmp}/bench.db"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "NAANO_ADMIN_TOKEN": "bench", "RUST_LOG": "warn"},
    )
    assert proc.stdout is not None
    base = proc.stdout.readline().strip().rsplit(" ", 1)[-1]
    return proc, base


def admin(base: str, method: str, path: str, body: "dict[str, object] | None" = None) -> "dict[str, object]":
    req = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body else None)
    req.add_header("Authorization", "Bearer bench")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req) as resp:
        return json.loads(resp.read())  # type: ignore[no-any-return]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a: object, **k: object) -> None:
        return None


def sessions(base: str, n: int) -> List[str]:
    creator = admin(base, "POST", "/api/admin/creators", {"name": "Bench"})
    admin(base, "POST", "/api/admin/links", {"creator_id": creator["id"], "destination_url": "https://x.example/", "slug": "py"})
    opener = urllib.request.build_opener(NoRedirect)
    out = []
    for _ in range(n):
        try:
            opener.open(base + "/c/py")
        except urllib.error.HTTPError as err:
            out.append(err.headers["Location"].split("naano_session=")[1])
    time.sleep(1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--others", type=int, default=20_000, help="calls for posthog and Segment")
    args = parser.parse_args()
    import logging

    import naano

    # The server-down case fails every event by design; its warnings are not the subject here.
    logging.getLogger("naano").setLevel(logging.ERROR)

    tmp = tempfile.mkdtemp()
    server, base = start_naano(tmp)
    sink = subprocess.Popen([sys.executable, str(pathlib.Path(__file__).with_name("sink.py"))], stdout=subprocess.PIPE, text=True)
    assert sink.stdout is not None
    sink_url = f"http://127.0.0.1:{sink.stdout.readline().strip()}"
    rows = []
    try:
        pool = sessions(base, 200)

        up = naano.Client(base, max_queue_size=args.calls + 1)
        costs = measure(lambda i: up.track_signup(session_id=pool[i % 200], email=f"u{i}@b.example", company="Bench"), args.calls)
        up.flush(300)
        rows.append(("naano, server up", costs, f"{up.stats()['sent']} sent"))

        down = naano.Client(f"http://127.0.0.1:{free_port()}", connect_timeout=0.2)
        rss_before = rss_mib()
        costs = measure(lambda i: down.track_signup(session_id=pool[i % 200], email=f"d{i}@b.example", company="Bench"), args.calls)
        rss_growth = rss_mib() - rss_before
        stats = down.stats()
        rows.append(("naano, server down", costs, f"{stats['queued']} queued, {stats['dropped']} dropped, RSS +{rss_growth:.0f} MiB"))

        from posthog import Posthog

        ph = Posthog("phc_bench", host=sink_url)
        costs = measure(lambda i: ph.capture("signup", distinct_id=f"u{i}", properties={"email": f"u{i}@b.example"}), args.others)
        ph.flush()
        rows.append(("posthog capture, sink up", costs, ""))

        from segment import analytics

        analytics.write_key = "bench"
        analytics.host = sink_url
        analytics.sync_mode = False
        costs = measure(lambda i: analytics.track(f"u{i}", "Signup", {"email": f"u{i}@b.example"}), args.others)
        analytics.flush()
        rows.append(("Segment track, sink up", costs, ""))

        print("| library | calls | median | p99 | notes |")
        print("| --- | ---: | ---: | ---: | --- |")
        for name, c, note in rows:
            print(f"| {name} | {len(c)} | {percentile(c, 50):.2f} µs | {percentile(c, 99):.2f} µs | {note} |")

        # A burst of 10 000 distinct signups, fully delivered, no duplicates.
        burst = naano.Client(base)
        for i in range(10_000):
            burst.track_signup(session_id=pool[i % 200], email=f"burst{i}@b.example", company="Bench")
        flushed = burst.flush(300)
        leads = 0
        cursor = None
        while True:
            page = admin(base, "GET", "/api/admin/leads?limit=500" + (f"&cursor={cursor}" if cursor else ""))
            leads += sum(1 for lead in page["data"] if str(lead["email"]).startswith("burst"))  # type: ignore[union-attr]
            cursor = page["next_cursor"]
            if not cursor:
                break
        print(f"\nBurst: 10 000 calls -> flushed={flushed}, sent={burst.stats()['sent']}, distinct burst leads on the server={leads}.")
        print(f"Peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB.")
    finally:
        server.terminate()
        sink.terminate()


if __name__ == "__main__":
    main()
