"""Typed usage of the public API; checked with `mypy --strict` by test_types.py."""

from __future__ import annotations

import asyncio
from typing import Dict, List, Optional

import naano


def on_error(failure: naano.Failure) -> None:
    kind: str = failure.kind
    status: Optional[int] = failure.status
    print(kind, status, failure.message, failure.at)


def use(client: naano.Client) -> None:
    event_id: Optional[str] = client.track_signup(session_id="s", email="a@b.io", company="A", name="N")
    try:
        result: naano.SignupResult = client.track_signup_and_wait(session_id="s", email="a@b.io", company="A")
        action: str = result.action
        old: Optional[str] = result.old_company
        print(event_id, action, old, result.lead_id, result.company_inference_id)
    except naano.HTTPError as err:
        code: Optional[str] = err.code
        print(err.status, code)
    except naano.NaanoError:
        pass
    stats: Dict[str, int] = client.stats()
    done: bool = client.flush(1.0)
    print(stats, done, client.base_url)


async def use_async(client: naano.Client) -> naano.SignupResult:
    return await client.atrack_signup(session_id="s", email="a@b.io", company="A")


def main() -> None:
    retry = naano.RetryConfig(pending_delays=[1.0, 2.0], event_deadline=60.0)
    client = naano.Client("http://127.0.0.1:1", timeout=1.0, retry=retry, on_error=on_error)
    use(client)
    asyncio.run(use_async(client))
    session: Optional[str] = naano.session_id_from_request("naano_session=abc")
    failures: List[naano.Failure] = []
    print(session, failures, naano.track_signup(session_id="s", email="a@b.io", company="A"))
