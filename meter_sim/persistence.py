"""Permanent memory: the meter's registers, peaks and breaker position survive a crash.

Each save writes a new file, fsyncs it and renames it over the old one (atomic on POSIX); the
previous generation is kept as `.bak`. Loading falls back to the backup when the main file is
unreadable, and refuses to start (rather than restart from zero) when neither can be read: a
total must never go backwards because of a restart.
"""

from __future__ import annotations

import json
import os
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

FORMAT_VERSION = 1


class Persistent(Protocol):
    """A part of the meter's saved state: the component that holds it saves it as plain JSON types and takes it
    back (the meter saves and restores itself part by part, see Meter.parts)."""

    def to_state(self) -> Any: ...

    def restore(self, state: Any) -> None: ...


class Field:
    """A plain attribute of an object as a part of the saved state: `save` turns it into JSON types (as it is by
    default), `load` back into the attribute's type."""

    def __init__(self, owner: object, name: str, load: Callable[[Any], Any],
                 save: Callable[[Any], Any] = lambda value: value) -> None:
        self.owner, self.name, self.load, self.save = owner, name, load, save

    def to_state(self) -> Any:
        return self.save(getattr(self.owner, self.name))

    def restore(self, state: Any) -> None:
        setattr(self.owner, self.name, self.load(state))


class Fields:
    """Several plain attributes of an object as one part of the saved state (a JSON object): JSON key → (attribute,
    load). A key absent from a saved state leaves its attribute as it is."""

    def __init__(self, owner: object, fields: dict[str, tuple[str, Callable[[Any], Any]]]) -> None:
        self.owner, self.fields = owner, fields

    def to_state(self) -> dict[str, Any]:
        return {key: getattr(self.owner, name) for key, (name, _) in self.fields.items()}

    def restore(self, state: dict[str, Any]) -> None:
        for key, (name, load) in self.fields.items():
            if key in state:
                setattr(self.owner, name, load(state[key]))


class SavedOnly:
    """A part that is saved but not restored from its key (kept in the file for its readers, or restored through
    another part)."""

    def __init__(self, save: Callable[[], Any]) -> None:
        self.save = save

    def to_state(self) -> Any:
        return self.save()

    def restore(self, state: Any) -> None:
        pass


def optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def replace_file(path: Path, data: bytes, *, sync: bool = True) -> None:
    """`path` replaced whole by `data`: written to a temporary file beside it (fsynced unless `sync` is false),
    then renamed over it (atomic on POSIX), so a crash leaves the old file or the new one. For small files of
    their own (a counter, a ledger, a memory of topics); the meter's state keeps a backup too (`MeterStore`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        if sync:
            fh.flush()
            os.fsync(fh.fileno())
    os.replace(tmp, path)


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
    """random.Random.getstate() — (version, 625 words, gauss) — for JSON, the words as one hex string: every
    save holds two of them, and as lists of numbers they cost more to build and encode than the rest of the
    meter's state together."""
    version, words, gauss = value
    return {"version": version, "words": struct.pack(f"<{len(words)}I", *words).hex(), "gauss": gauss}


def rng_state_from_json(value: Any) -> Any:
    """The saved form back to random.Random.setstate()'s; also the nested lists saved before."""
    if isinstance(value, dict):
        raw = bytes.fromhex(value["words"])
        return value["version"], struct.unpack(f"<{len(raw) // 4}I", raw), value["gauss"]
    return tuple(rng_state_from_json(v) for v in value) if isinstance(value, list) else value
