"""A fleet's loggers read from disk by worker processes at start-up, when they are large.

Why: a year-old member's loggers are ~35,000 entries (2.4 MB of JSON), parsed only to keep the newest
(`FLEET_LOG_ENTRIES_IN_MEMORY`). Parsed in the gateway's own process, that garbage is freed between the objects of
the members built after it, and the members, scattered over a heap full of holes, cost ~15% more CPU every second
for as long as they run (32–37 against 28 µs a member-second to step, the same code; docs/performance.md). Read by other
processes, only what is kept crosses over, the members are built close together, and the parsing, most of a
year-old fleet's start-up, runs on every core.

Small logs (a fleet of new meters, a test's few members) are read in-process: `read_logs` is the same function
either way (meter_sim/log_journal.py), and `tests/test_fleet_logs.py` holds the two ways to the same meters.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import multiprocessing
import os
from collections.abc import Iterator
from functools import partial
from pathlib import Path

from meter_sim.log_journal import ReadLogs, journal_path, read_logs

log = logging.getLogger(__name__)

# Below this many bytes of loggers on disk in all, starting worker processes (~0.3 s each) costs more than it saves.
WORKERS_FROM_BYTES = 32_000_000
MAX_WORKERS = 4


def on_disk(paths: list[Path]) -> int:
    """The bytes of the loggers' documents and journals at `paths` (a missing file counts 0)."""
    total = 0
    for path in paths:
        for file in (path, journal_path(path)):
            with contextlib.suppress(FileNotFoundError):
                total += file.stat().st_size
    return total


def read_fleet_logs(paths: list[Path], keep: int, workers: int | None = None) -> Iterator[ReadLogs | None]:
    """For each of `paths` (the members' `<id>.logs.json`, in order): what `read_logs(path, keep)` gives, read by
    worker processes, or None where the caller reads it itself. `workers`: how many (default: one a core, at most
    MAX_WORKERS, and none below WORKERS_FROM_BYTES on disk)."""
    if workers is None:
        workers = min(os.cpu_count() or 1, MAX_WORKERS) if on_disk(paths) >= WORKERS_FROM_BYTES else 0
    pool = None
    if workers > 0:
        # spawn, not fork: the event loop's process may have threads (a lock held in one would be held forever in
        # the child), and spawn is the same on every platform.
        try:
            pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        except (OSError, ImportError) as exc:  # no /dev/shm for its locks (a locked-down container): slower
            log.warning("the fleet's loggers are read by this process alone (no worker processes: %s)", exc)
    if pool is None:
        yield from (None for _ in paths)
        return
    with pool:
        # In order, a few at a time per message: the members are built while the next ones are read.
        yield from pool.map(partial(read_logs, keep=keep), paths, chunksize=8)
