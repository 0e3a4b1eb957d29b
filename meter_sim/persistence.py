"""Permanent memory: the meter's registers, peaks and breaker position survive a crash.

Each save writes a new file, fsyncs it and renames it over the old one (atomic on POSIX); the
previous generation is kept as `.bak`. Loading falls back to the backup when the main file is
unreadable, and refuses to start (rather than restart from zero) when neither can be read: a
total must never go backwards because of a restart.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1


class PersistenceError(Exception):
    """Stored meter state exists but cannot be read."""


class MeterStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.backup = path.with_suffix(path.suffix + ".bak")
        # Saves run in worker threads; a task cancelled while its save runs does not stop the thread, so the
        # next save (the one on close) could rename the same .tmp file from under it.
        self._lock = threading.Lock()

    def save(self, state: dict[str, Any]) -> None:
        with self._lock:
            self._save(state)

    def _save(self, state: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps({"format": FORMAT_VERSION, "state": state}, separators=(",", ":")).encode()
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if self.path.exists():
            os.replace(self.path, self.backup)
        os.replace(tmp, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def load(self) -> dict[str, Any] | None:
        """The last saved state, or None when the meter has never been saved."""
        errors = []
        for candidate in (self.path, self.backup):
            if not candidate.exists():
                continue
            try:
                doc = json.loads(candidate.read_bytes())
                if doc.get("format") != FORMAT_VERSION or not isinstance(doc.get("state"), dict):
                    raise ValueError(f"unknown format {doc.get('format')!r}")
                state: dict[str, Any] = doc["state"]
                return state
            except (OSError, ValueError, AttributeError) as exc:
                errors.append(f"{candidate}: {exc}")
        if errors:
            raise PersistenceError(
                "stored meter state cannot be read (" + "; ".join(errors) + "); refusing to start from zero"
            )
        return None


def rng_state_to_json(value: Any) -> Any:
    """random.Random.getstate() is nested tuples; JSON wants lists."""
    return [rng_state_to_json(v) for v in value] if isinstance(value, tuple | list) else value


def rng_state_from_json(value: Any) -> Any:
    return tuple(rng_state_from_json(v) for v in value) if isinstance(value, list) else value
