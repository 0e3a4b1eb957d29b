"""The outbox: every publication waits here, in order, until the broker has it.

Two kinds of message pass through it:
- **events** (`Outgoing.keep`: an alarm event, a breaker change, a command response) happen once and
  carry their own time. They are written to SQLite (the standard library's) before they are sent and
  deleted once the broker acknowledged them, so they survive a broker outage *and* a gateway restart,
  and go out in the order they happened. At most `limit` are kept; past that the oldest are dropped,
  with a warning (a meter that alarms every second through a week-long outage must not fill the disk).
- **state** (everything else: state, display, availability, discovery …) is only worth its latest
  value, and the link announces the latest of each on every (re)connect. While the broker is away it is
  therefore not kept at all: Home Assistant would file a replayed stream of old readings under the
  arrival time. History stays available from the meter's own loggers through `get`.

Crash-safe: SQLite in WAL mode with `synchronous=FULL` commits every event before it is queued, and a
message leaves the table only after its PUBACK, so a `kill -9` at any point loses nothing queued (a
message whose PUBACK was lost is sent again: MQTT QoS 1 is at least once).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

EVENT_LIMIT = 10_000
POISON_STRIKES = 3  # connections lost in a row while the same message was the oldest in flight


@dataclass(frozen=True, slots=True)
class Outgoing:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False
    correlation_data: bytes | None = None
    keep: bool = False  # an event: kept across broker outages and gateway restarts, in order


class Outbox:
    def __init__(self, path: Path | None = None, limit: int = EVENT_LIMIT) -> None:
        self.limit = limit
        self._queue: deque[tuple[int | None, Outgoing]] = deque()  # (row id of a kept event, message)
        self._kept = 0
        self._changed = asyncio.Event()
        self.emptied = asyncio.Event()  # set while nothing waits to be sent
        self.emptied.set()
        self._db: sqlite3.Connection | None = None
        self.dropped = 0  # events dropped because the outbox was full
        self.in_flight = 0  # the sender's messages at the front: handed to the broker, never dropped from here
        self._suspect: Outgoing | None = None  # the oldest message in flight when connections were lost
        self._strikes = 0
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, "
                "payload BLOB NOT NULL, qos INTEGER NOT NULL, retain INTEGER NOT NULL, correlation BLOB)")
            rows = self._db.execute("SELECT id, topic, payload, qos, retain, correlation FROM events ORDER BY id")
            for row_id, topic, payload, qos, retain, correlation in rows:
                self._queue.append((row_id, Outgoing(topic, bytes(payload), qos, bool(retain), correlation, True)))
                self._kept += 1
            if self._kept:
                self.emptied.clear()
                log.info("outbox: %d event(s) kept from before the restart", self._kept)

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def events(self) -> int:
        return self._kept

    def put(self, msgs: Iterable[Outgoing], connected: bool) -> None:
        """Queue in order; while the broker is away, state is not kept (see the module's docstring)."""
        rows: list[Outgoing] = []
        for msg in msgs:
            if msg.keep:
                rows.append(msg)
            elif connected:
                self._flush_rows(rows)
                rows = []
                self._queue.append((None, msg))
        self._flush_rows(rows)
        if self._queue:
            self.emptied.clear()
        self._changed.set()

    def _flush_rows(self, msgs: list[Outgoing]) -> None:
        if not msgs:
            return
        if self._db is None:
            self._queue.extend((None, m) for m in msgs)
        else:
            with self._db:  # one transaction (one fsync) for the lot
                for m in msgs:
                    cur = self._db.execute(
                        "INSERT INTO events (topic, payload, qos, retain, correlation) VALUES (?, ?, ?, ?, ?)",
                        (m.topic, m.payload, m.qos, int(m.retain), m.correlation_data))
                    self._queue.append((cur.lastrowid, m))
        self._kept += len(msgs)
        while self._kept > self.limit:
            self._drop_oldest_event()

    def _drop_oldest_event(self) -> None:
        for i, (row_id, msg) in enumerate(self._queue):
            if msg.keep and i >= self.in_flight:
                del self._queue[i]
                self._forget(row_id)
                self._kept -= 1
                self.dropped += 1
                if self.dropped == 1 or self.dropped % 1000 == 0:
                    log.warning("outbox full (%d events): dropped the oldest (%d so far)", self.limit, self.dropped)
                return

    def peek(self, index: int = 0) -> Outgoing | None:
        """The message `index` places behind the front (the sender keeps several in flight)."""
        return self._queue[index][1] if index < len(self._queue) else None

    def sent(self) -> None:
        """The front message is with the broker (acknowledged for QoS 1): forget it."""
        row_id, msg = self._queue.popleft()
        if msg.keep:
            self._kept -= 1
            self._forget(row_id)
        if not self._queue:
            self.emptied.set()

    def connection_lost(self, was_in_flight: bool) -> None:
        """A broker drops a client for a message it will not take (e.g. a topic deeper than it allows): the
        oldest unacknowledged message then comes back at every reconnect and the gateway would loop forever.
        When the same message was the oldest in flight for POISON_STRIKES lost connections in a row, drop it."""
        front = self.peek() if was_in_flight else None
        if front is None or front is not self._suspect:
            self._suspect, self._strikes = front, int(front is not None)
            return
        self._strikes += 1
        if self._strikes >= POISON_STRIKES:
            log.warning("outbox: dropped a message on %s after %d connections were lost sending it", front.topic,
                        self._strikes)
            self._suspect, self._strikes = None, 0
            self.sent()

    def drop_state(self) -> None:
        """The connection is gone: queued state is stale (the next connect announces the latest)."""
        self._queue = deque(item for item in self._queue if item[1].keep)
        if not self._queue:
            self.emptied.set()

    async def wait(self) -> None:
        """Until something may have changed (a put, or the outbox ran empty)."""
        await self._changed.wait()
        self._changed.clear()

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _forget(self, row_id: int | None) -> None:
        if self._db is not None and row_id is not None:
            self._db.execute("DELETE FROM events WHERE id = ?", (row_id,))
