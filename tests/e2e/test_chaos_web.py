"""Chaos: the web process is killed (SIGKILL) while webhooks arrive, then started again.

While it is down the sandbox's deliveries find nobody listening; it retries each a few times
(`webhook_retry`, like the provider), and the web app stays down until at least one webhook has
run out of retries, so some are really lost. Polling must make up for them (and the recording
fetcher for lost audio): every contact ends final, nobody is dialled twice, and every webhook
the web app did accept — before the kill or after the restart — was applied.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from orchestrator.dev.stack import LocalStack
from tests.e2e.chaos_kit import (
    Evidence,
    WebhookTap,
    assert_every_call_has_its_outcome,
    assert_every_contact_final,
    assert_every_recording_stored,
    assert_no_slot_held,
    assert_nobody_dialled_twice,
    assert_nothing_accepted_lost,
    gather,
    make_stack,
    run_with_fault,
    sandbox_dials,
    wait_for,
    write_contacts,
)

pytestmark = pytest.mark.e2e

CONTACTS = 80


@pytest.fixture(scope="module")
def web_killed(tmp_path_factory: pytest.TempPathFactory) -> Evidence:
    folder = tmp_path_factory.mktemp("chaos-web")
    contacts = write_contacts(folder / "contacts.csv", CONTACTS)
    tap = WebhookTap(target="")
    stack = make_stack(folder / "stack", tap, sandbox_options={"seed": "23"})
    tap.start()
    try:
        stack.start()
        result, notes = asyncio.run(run_with_fault(stack, contacts, lambda: _kill_web(stack, tap)))
        return gather(stack, tap, result, notes)
    finally:
        stack.stop()
        tap.stop()


def _webhooks_failed(stack: LocalStack) -> int:
    """Deliveries the sandbox gave up on (every retry unanswered)."""
    return int(stack.sandbox_get("/sandbox/summary").json()["webhooks"]["failed"])


async def _kill_web(stack: LocalStack, tap: WebhookTap) -> dict[str, Any]:
    """Once a third of the contacts were dialled and webhooks flow: kill -9 the web process,
    keep it down until a webhook was given up on, start it again."""
    await wait_for(lambda: sandbox_dials(stack) >= CONTACTS // 3, "a third of the dials")
    await wait_for(lambda: tap.count(lambda d: d.status == 200) > 0, "an accepted webhook")
    web = next(p for p in stack.processes if p.name == "web")
    accepted_before = tap.count(lambda d: d.status == 200)
    await asyncio.to_thread(stack.stop_process, web, kill=True)
    await wait_for(lambda: _webhooks_failed(stack) > 0, "a webhook lost while web is down")
    unanswered = tap.count(lambda d: d.status == 0)
    await asyncio.to_thread(stack.start_web)
    return {
        "returncode": web.popen.returncode,
        "accepted_before": accepted_before,
        "unanswered_while_down": unanswered,
    }


def test_web_was_killed_and_webhooks_were_lost(web_killed: Evidence) -> None:
    notes = web_killed.notes
    assert notes["returncode"] == -9
    assert notes["unanswered_while_down"] > 0
    assert web_killed.summary["webhooks"]["failed"] > 0
    accepted = sum(1 for d in web_killed.deliveries if d.status == 200)
    assert accepted > notes["accepted_before"], "no webhook was accepted after the restart"


def test_every_contact_final(web_killed: Evidence) -> None:
    assert_every_contact_final(web_killed)
    assert_every_call_has_its_outcome(web_killed)


def test_nobody_dialled_twice(web_killed: Evidence) -> None:
    assert_nobody_dialled_twice(web_killed)


def test_nothing_accepted_was_lost(web_killed: Evidence) -> None:
    assert_nothing_accepted_lost(web_killed)


def test_lost_recordings_were_fetched(web_killed: Evidence) -> None:
    assert_every_recording_stored(web_killed)


def test_no_slot_left_held(web_killed: Evidence) -> None:
    assert_no_slot_held(web_killed)
