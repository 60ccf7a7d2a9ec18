"""A validation worker: `python -m orchestrator.intake.validation_worker` (see validation_pool).

Reads from stdin a frame with (header, rules), then frames of record batches; writes a first
frame when ready, then one frame of results per batch, in order; exits at end of input.
"""

from __future__ import annotations

import json
import pickle
import sys
from typing import Any, BinaryIO

from orchestrator.intake.rows import ContactRow
from orchestrator.intake.text_rows import TextRows
from orchestrator.intake.validation_pool import FRAME, check_records, frame


def _read(stream: BinaryIO) -> Any | None:
    head = stream.read(FRAME.size)
    if len(head) < FRAME.size:
        return None
    (size,) = FRAME.unpack(head)
    # Frames come from the importing process that started this one.
    return pickle.loads(stream.read(size))  # noqa: S301


def serve(stdin: BinaryIO, stdout: BinaryIO) -> None:
    """Answer batches until the input ends."""
    setup = _read(stdin)
    if setup is None:
        return
    header, rules = setup
    parser = TextRows(header, rules)
    # Ready: the importer sends batches here from now on (it validated the first ones itself).
    stdout.write(frame(None))
    stdout.flush()
    while (records := _read(stdin)) is not None:
        checked = [
            row._replace(variables_json=json.dumps(row.variables))
            if isinstance(row, ContactRow)
            else row
            for row in check_records(parser, records)
        ]
        stdout.write(frame(checked))
        stdout.flush()


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
