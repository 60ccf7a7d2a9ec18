"""Where recordings go: a small interface with a local-folder implementation.

An S3-compatible bucket fits the same shape (a multipart upload to a staging key behind
`open_writer`, copied to its final key on `commit`); callers only ever stream bytes in and get
back a location string to keep on the outcome. The key is given at commit time because a
webhook's conversation id may come after its audio in the body.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import BinaryIO, Protocol

from orchestrator.errors import StorageFull

_SAFE = re.compile(r"[^A-Za-z0-9._-]")


class Writer(Protocol):
    """A stream being written; `commit` makes it visible, `abort` throws it away."""

    def write(self, data: bytes) -> None:
        """Append bytes."""

    def commit(self, key: str) -> str:
        """Finish the object as `key` and return where it is."""

    def abort(self) -> None:
        """Discard everything written."""


class Storage(Protocol):
    """Somewhere to stream recordings to."""

    def open_writer(self) -> Writer:
        """Start writing a new object (named on commit)."""

    def exists(self, key: str) -> bool:
        """Whether `key` was committed."""


class _FileWriter:
    def __init__(self, storage: FolderStorage) -> None:
        self._storage = storage
        storage.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".part-", dir=storage.root)
        self._tmp = Path(tmp)
        self._fh: BinaryIO = os.fdopen(fd, "wb")
        self.size = 0

    def write(self, data: bytes) -> None:
        try:
            self._fh.write(data)
        except OSError as exc:
            self.abort()
            raise StorageFull(exc.errno, f"cannot write recording: {exc.strerror}") from exc
        self.size += len(data)

    def commit(self, key: str) -> str:
        final = self._storage.path(key)
        try:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
        except OSError as exc:
            self.abort()
            raise StorageFull(exc.errno, f"cannot write recording: {exc.strerror}") from exc
        # Atomic: a reader sees the whole file or none of it.
        self._tmp.replace(final)
        return str(final)

    def abort(self) -> None:
        if not self._fh.closed:
            self._fh.close()
        self._tmp.unlink(missing_ok=True)


class FolderStorage:
    """Recordings as files in one folder (the default)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        """The file holding `key` (unsafe characters replaced)."""
        return self.root / _SAFE.sub("_", key)

    def open_writer(self) -> Writer:
        """Write to a temporary file renamed into place on commit."""
        return _FileWriter(self)

    def exists(self, key: str) -> bool:
        """Whether the file is there."""
        return self.path(key).is_file()
