"""Chaos: the disk holding recordings fills up while audio webhooks arrive, then gets room again.

The audio folder is a real tmpfs of 256 KiB (we mount it; the test is skipped where mounting is
not allowed): after about seven 32 KiB recordings every write fails with ENOSPC. The web app
must answer those audio webhooks 503 and keep nothing of them (no partial file, no event), the
transcriptions of the same calls must still be accepted, and once the filesystem is enlarged the
recording fetcher must download every recording that was refused, byte for byte.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.dev.sandbox.audio import fake_mp3
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
    wait_for,
    write_contacts,
)

pytestmark = pytest.mark.e2e

CONTACTS = 80
TINY = "256k"
ROOMY = "64m"
#: The sandbox's recording size (its default).
AUDIO_BYTES = 32 * 1024
#: Refused recordings to see before room is made again.
REFUSALS = 3


def _mount(args: list[str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["mount", *args], capture_output=True, check=False, timeout=30)


@pytest.fixture(scope="module")
def audio_mount(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A tmpfs of `TINY` bytes where the stack keeps recordings (its `workdir/audio`)."""
    folder = tmp_path_factory.mktemp("chaos-disk")
    audio = folder / "stack" / "audio"
    audio.mkdir(parents=True)
    done = _mount(["-t", "tmpfs", "-o", f"size={TINY},mode=0755", "tmpfs", str(audio)])
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield audio
    finally:
        if subprocess.run(["umount", str(audio)], capture_output=True, check=False).returncode:
            subprocess.run(["umount", "-l", str(audio)], capture_output=True, check=False)


@pytest.fixture(scope="module")
def disk_full(audio_mount: Path) -> Evidence:
    folder = audio_mount.parent.parent
    contacts = write_contacts(folder / "contacts.csv", CONTACTS)
    tap = WebhookTap(target="")
    stack = make_stack(folder / "stack", tap, sandbox_options={"seed": "29"})
    tap.start()
    try:
        stack.start()
        result, notes = asyncio.run(
            run_with_fault(stack, contacts, lambda: _fill_then_free(stack, tap, audio_mount))
        )
        evidence = gather(stack, tap, result, notes)
        # After `gather`: it waits until the refused recordings have been fetched.
        evidence.notes["files_after"] = sorted(p.name for p in audio_mount.iterdir())
        return evidence
    finally:
        stack.stop()
        tap.stop()


def _refused_for_space(tap: WebhookTap) -> int:
    return tap.count(
        lambda d: (
            d.status == 503
            and d.event_type == "post_call_audio"
            and d.error == "storage_unavailable"
        )
    )


async def _fill_then_free(stack: LocalStack, tap: WebhookTap, audio: Path) -> dict[str, Any]:
    """Wait until recordings are refused for lack of space, look at the folder, make room."""
    await wait_for(lambda: _refused_for_space(tap) >= REFUSALS, "recordings refused", timeout=90)
    # A recording is renamed into place only once whole, so every .mp3 here must be complete
    # even now (a `.part-` file may be mid-write at this instant; none may outlive the test).
    kept_while_full = {
        p.name: p.read_bytes() == fake_mp3(p.stem, AUDIO_BYTES) for p in audio.glob("*.mp3")
    }
    done = await asyncio.to_thread(_mount, ["-o", f"remount,size={ROOMY}", "tmpfs", str(audio)])
    assert done.returncode == 0, done.stderr.decode()
    return {"kept_while_full": kept_while_full, "refused": _refused_for_space(tap)}


def test_full_disk_refused_recordings_with_503(disk_full: Evidence) -> None:
    assert disk_full.notes["refused"] >= REFUSALS
    refused = {
        d.conversation_id
        for d in disk_full.deliveries
        if d.status == 503 and d.event_type == "post_call_audio"
    }
    # The same calls' transcriptions (kept in the database, not on that disk) were accepted.
    transcribed = {
        d.conversation_id
        for d in disk_full.deliveries
        if d.status == 200 and d.event_type == "post_call_transcription"
    }
    assert refused & transcribed


def test_nothing_partial_is_kept(disk_full: Evidence) -> None:
    kept_while_full = disk_full.notes["kept_while_full"]
    assert kept_while_full, "no recording fitted on the tiny disk"
    assert all(kept_while_full.values()), kept_while_full
    assert [n for n in disk_full.notes["files_after"] if not n.endswith(".mp3")] == []
    # Every file on the disk is a recording an outcome points at: none is left over.
    linked = {Path(o.audio_path).name for o in disk_full.outcomes if o.audio_path}
    assert set(disk_full.notes["files_after"]) == linked


def test_refused_recordings_were_fetched_once_room_was_back(disk_full: Evidence) -> None:
    assert_every_recording_stored(disk_full)


def test_every_contact_final(disk_full: Evidence) -> None:
    assert_every_contact_final(disk_full)
    assert_every_call_has_its_outcome(disk_full)


def test_nobody_dialled_twice(disk_full: Evidence) -> None:
    assert_nobody_dialled_twice(disk_full)


def test_nothing_accepted_was_lost(disk_full: Evidence) -> None:
    assert_nothing_accepted_lost(disk_full)


def test_no_slot_left_held(disk_full: Evidence) -> None:
    assert_no_slot_held(disk_full)
