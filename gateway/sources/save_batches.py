"""Saving the permanent memory of a fleet's meters in batches, one worker thread at a time.

Why: a fleet member saves every `fleet.save_interval` (60 s), so 19,000 members make ~320 saves a second. Each
save on a thread of its own (`asyncio.to_thread`) hands the interpreter lock back and forth a dozen times (open,
write, fsync, rename …) and wakes the event loop when done: measured, a save cost the event loop ~0.7 ms, and a
gateway of 19,000 members published 3,600 states a second instead of 9,700 (docs/performance.md). Written in
batches — whatever waits when the thread is free, in one thread job — the same saves cost next to nothing.

A save is done (its file durable, as `MeterStore.save` makes it) when `save` returns; an error is raised to the
caller whose save it was, and the rest of the batch is saved. A caller cancelled while it waits does not stop the
batch: the writer is a task of its own, so the saves of the others are never lost with it.

A caller hands over how to take its snapshot, not the snapshot: it is taken when there is room among the ROOM saves
waiting or being written. A meter's snapshot is ~22 kB; taken when the save came due, the snapshots of a fleet whose
writer fell behind (a CPU-bound process, a slow disk) all waited in memory at once.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

ROOM = 100  # saves waiting or being written at once


class Store(Protocol):
    """Where a save goes: a meter's registers (`MeterStore`) or its loggers (`LogJournal`)."""

    def save(self, state: Any) -> None: ...


_Item = tuple[Store, Any, "asyncio.Future[None]"]


class SaveBatches:
    def __init__(self, room: int = ROOM) -> None:
        self._waiting: list[_Item] = []
        self._writer: asyncio.Task[None] | None = None
        self._room = room
        self._held = 0  # saves that have their room: waiting for the writer or being written
        # Callers waiting for room, in order. Not an asyncio.Semaphore: Python 3.11's scans all its waiters on every
        # acquire, and a fleet whose writer is behind has thousands waiting.
        self._queue: deque[asyncio.Future[None]] = deque()
        self.batches = 0  # thread jobs so far (for tests and benches)

    async def save(self, store: Store, snapshot: Callable[[], Any]) -> None:
        """Save what `snapshot()` returns, called when there is room (see the module's docstring)."""
        loop = asyncio.get_running_loop()
        if self._held < self._room and not self._queue:
            self._held += 1
        else:
            turn = loop.create_future()
            self._queue.append(turn)
            try:
                await turn  # the room of a save that ended passes to this one
            except asyncio.CancelledError:
                if turn.done() and not turn.cancelled():  # it had been given the room: pass it on
                    self._pass_room()
                raise  # (a cancelled turn still queued is skipped by _pass_room)
        try:
            future: asyncio.Future[None] = loop.create_future()
            self._waiting.append((store, snapshot(), future))
            if self._writer is None or self._writer.done():
                self._writer = loop.create_task(self._write())
            await future
        finally:
            self._pass_room()

    def _pass_room(self) -> None:
        while self._queue:
            turn = self._queue.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self._held -= 1

    async def _write(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            self.batches += 1
            errors = await asyncio.to_thread(_save_all, [(store, state) for store, state, _ in batch])
            for (_, _, future), error in zip(batch, errors, strict=True):
                if future.done():  # its caller was cancelled: the save happened all the same
                    continue
                if error is None:
                    future.set_result(None)
                else:
                    future.set_exception(error)


def _save_all(items: list[tuple[Store, Any]]) -> list[BaseException | None]:
    errors: list[BaseException | None] = []
    for store, state in items:
        try:
            store.save(state)
        except Exception as exc:  # the caller's error (a full disk …), not the batch's
            errors.append(exc)
        else:
            errors.append(None)
    return errors
