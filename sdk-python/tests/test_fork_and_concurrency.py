"""Fork safety (os.fork and a real gunicorn --preload run), threads and asyncio."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import naano
from conftest import ACME_IP, NaanoServer


def test_os_fork_child_and_parent_both_deliver(server: NaanoServer, slug: str) -> None:
    sessions = [server.session(slug, ACME_IP) for _ in range(3)]
    client = naano.Client(server.base)
    client.track_signup(session_id=sessions[0], email="p1@acme.com", company="Acme")
    assert client.flush(10.0)

    pid = os.fork()
    if pid == 0:  # the child: its own engine starts on first use
        ok = False
        try:
            client.track_signup(session_id=sessions[1], email="child@acme.com", company="Acme")
            ok = client.flush(20.0) and client.stats()["sent"] == 1
        finally:
            os._exit(0 if ok else 1)

    client.track_signup(session_id=sessions[2], email="p2@acme.com", company="Acme")
    assert client.flush(10.0)
    assert client.stats()["sent"] == 2
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    for email in ("p1@acme.com", "child@acme.com", "p2@acme.com"):
        assert len(server.leads(email)) == 1, email


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> dict:  # type: ignore[type-arg]
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.loads(resp.read())  # type: ignore[no-any-return]


def test_gunicorn_preload_workers_all_deliver(server: NaanoServer, slug: str) -> None:
    sessions = [server.session(slug, ACME_IP) for _ in range(41)]
    port = _free_port()
    env = {**os.environ, "NAANO_BASE_URL": server.base, "PRELOAD_SESSION": sessions[0]}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--preload", "-w", "2", "-b", f"127.0.0.1:{port}",
         "--chdir", os.path.dirname(__file__), "gunicorn_app:app"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                _get(base + "/stats")
                break
            except OSError:
                time.sleep(0.05)
        with ThreadPoolExecutor(8) as pool:
            pids = list(pool.map(lambda i: _get(f"{base}/signup?session={sessions[i + 1]}&email=w{i}@acme.com")["pid"],
                                 range(40)))
        assert len(set(pids)) == 2, "both workers took signups"
        # Flush every worker (requests land on either; ask until both answered).
        flushed = {}
        for _ in range(200):
            answer = _get(base + "/flush")
            flushed[answer["pid"]] = answer
            if set(flushed) == set(pids):
                break
        assert all(a["flushed"] for a in flushed.values()), flushed
        assert sum(a["sent"] for a in flushed.values()) == 40, flushed
    finally:
        proc.terminate()
        proc.wait(30)
    assert server.count_leads() == 41, "40 worker signups and the master's"


def test_sixteen_threads_at_once(server: NaanoServer, slug: str) -> None:
    sessions = [server.session(slug, ACME_IP) for _ in range(16)]
    client = naano.Client(server.base)
    barrier = threading.Barrier(16)
    errors: list = []  # type: ignore[type-arg]

    def work(n: int) -> None:
        barrier.wait()
        for i in range(25):
            try:
                assert client.track_signup(session_id=sessions[n], email=f"t{n}-{i}@acme.com", company="Acme")
            except Exception as err:  # noqa: BLE001 - collected and asserted below
                errors.append(err)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert client.flush(30.0)
    assert client.stats()["sent"] == 400
    assert server.count_leads() == 400


def test_a_thousand_concurrent_atrack_signup_calls(server: NaanoServer, slug: str) -> None:
    sessions = [server.session(slug, ACME_IP) for _ in range(20)]
    client = naano.Client(server.base)

    async def main() -> "list[naano.SignupResult]":
        ticks = 0

        async def ticker() -> None:  # the loop stays responsive while 1000 calls wait
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        tick_task = asyncio.create_task(ticker())
        results = await asyncio.gather(*(
            client.atrack_signup(session_id=sessions[i % 20], email=f"a{i}@acme.com", company="Acme")
            for i in range(1000)
        ))
        tick_task.cancel()
        assert ticks > 0
        return list(results)

    results = asyncio.run(main())
    assert len(results) == 1000
    assert {r.action for r in results} == {"upgraded"}
    assert len({r.lead_id for r in results}) == 1000
    assert server.count_leads() == 1000


def test_atrack_signup_raises_typed_errors(server: NaanoServer) -> None:
    client = naano.Client(server.base)

    async def main() -> None:
        try:
            await client.atrack_signup(session_id="naano_session_nobody", email="a@b.io", company="A")
        except naano.SessionNotFound:
            return
        raise AssertionError("expected SessionNotFound")

    asyncio.run(main())


def test_interpreter_exit_after_asyncio_use_is_clean(server: NaanoServer, slug: str) -> None:
    """No package thread is inside a GIL-released engine call when the interpreter
    finalizes (Python then kills the thread with a forced unwind, which aborts the
    process), including for a client that was dropped before exit."""
    session = server.session(slug, ACME_IP)
    script = (
        "import asyncio, sys, time, naano\n"
        "class SlowFinalizer:\n"
        "    # Keeps finalization busy (GIL released) long enough for any thread still\n"
        "    # waiting in the engine to wake up while the interpreter finalizes.\n"
        "    def __del__(self):\n"
        "        time.sleep(1.5)\n"
        "keep = SlowFinalizer()\n"
        "c = naano.Client(sys.argv[1])\n"
        "async def main():\n"
        "    await c.atrack_signup(session_id=sys.argv[2], email='exit@acme.com', company='Acme')\n"
        "asyncio.run(main())\n"
        "# A client dropped before exit must not leave a thread waiting in the engine.\n"
        "del c\n"
        "import gc; gc.collect()\n"
    )
    for _ in range(2):
        run = subprocess.run([sys.executable, "-c", script, server.base, session], capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        assert "FATAL" not in run.stderr
