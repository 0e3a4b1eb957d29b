"""The outbox: every publication waits here, in order, until the broker has it.

Two kinds of message pass through it:
- **events** (`Outgoing.keep`: an alarm event, a breaker change, a command response) happen once and
  carry their own time. They survive a broker outage *and* a gateway restart, and go out in the order
  they happened. At most `limit` are kept; past that the oldest are dropped, with a warning (a meter that
  alarms every second through a week-long outage must not fill the disk).
- **state** (everything else: state, display, availability, discovery …) is only worth its latest
  value: a newer retained message takes the place of one on the same topic still waiting to be sent (not
  of one in flight), so a fleet faster than its broker delays states instead of growing the queue; and the
  link announces the latest of each on every (re)connect. While the broker is away it is
  therefore not kept at all: Home Assistant would file a replayed stream of old readings under the
  arrival time. History stays available from the meter's own loggers through `get`.

Where events are kept (SQLite, the standard library's, WAL with `synchronous=FULL`):
- while the broker is **away**, each batch of events is committed before `put` returns, so a `kill -9`
  at any point loses nothing queued;
- while it is **there**, an event goes out at once and is written only if the broker has not acknowledged
  it within WRITE_BEHIND_S (`write_behind`, called by the link), without an fsync of its own, or durably
  when the connection is lost. Almost every event is acknowledged well before that and never touches the
  disk: a command's response is not held behind it. The price: a `kill -9` can lose an event of the last
  WRITE_BEHIND_S that had been handed to the socket but not yet acknowledged (the broker has usually
  already received it), and a power cut also one written behind since the last durable commit.
A message leaves the table only after its PUBACK (a message whose PUBACK was lost is sent again: MQTT
QoS 1 is at least once); the deletes of acknowledged rows are batched into the next write.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

EVENT_LIMIT = 10_000
WRITE_BEHIND_S = 0.05  # an event not acknowledged this long after it was queued is written to disk
POISON_STRIKES = 3  # connections lost in a row while the same message was the oldest in flight


@dataclass(frozen=True, slots=True)
class Outgoing:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False
    correlation_data: bytes | None = None
    keep: bool = False  # an event: kept across broker outages and gateway restarts, in order
    periodic: bool = False  # a meter's state or display: a fleet's go on the state connection (state_stream.py)


@dataclass(slots=True)
class _Entry:
    msg: Outgoing
    row: int | None = None  # its row in the table, once written (only events are)
    queued: float = field(default_factory=time.monotonic)
    taken: bool = False  # handed to the sender (in flight): never replaced
    urgent: bool = False  # in the lane ahead of the waiting state (see Outbox.put)
    done: bool = False  # acknowledged (or dropped): out of the queue


class Outbox:
    def __init__(self, path: Path | None = None, limit: int = EVENT_LIMIT) -> None:
        self.limit = limit
        self._queue: deque[_Entry] = deque()
        self._unwritten = 0  # events queued while connected and not yet written (see the module's docstring)
        self._pending: deque[_Entry] = deque()  # those events, oldest first (some may be done since)
        self._latest: dict[str, _Entry] = {}  # retained state waiting to be sent, by topic (see put)
        self._urgent_waiting = 0  # urgent entries not yet taken, right behind the ones in flight
        self._acknowledged: list[int] = []  # rows whose message the broker has: deleted with the next write
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
                msg = Outgoing(topic, bytes(payload), qos, bool(retain), correlation, True)
                self._queue.append(_Entry(msg, row_id, urgent=True))
                self._kept += 1
                self._urgent_waiting += 1
            if self._kept:
                self.emptied.clear()
                log.info("outbox: %d event(s) kept from before the restart", self._kept)

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def events(self) -> int:
        return self._kept

    def put(self, msgs: Iterable[Outgoing], connected: bool, urgent: bool = False) -> None:
        """Queue; while the broker is away, state is not kept (see the module's docstring).

        Two lanes. **Urgent** — every event, and (`urgent`) a request's answer or an event's batch — goes right
        behind what is in flight and the urgent messages before it, in order; the **periodic state** waits
        behind. So a command is answered at network speed while a fleet's thousands of states queue, and events
        keep their order among themselves (all of them are urgent, the ones kept from an outage or a restart
        included). An urgent retained message also replaces the waiting state on its topic, so that an older
        state cannot follow it."""
        batch = list(msgs)
        if not connected:
            events = [m for m in batch if m.keep]
            if events:  # committed before they are queued: a kill -9 loses none of them
                self.write_behind(0.0)
                entries = [_Entry(m, urgent=True) for m in events]
                self._write(entries)
                self._insert_urgent(entries)
        elif urgent:
            self._insert_urgent([_Entry(m, urgent=True) for m in batch])
        else:
            for msg in batch:
                if msg.keep:
                    self._insert_urgent([_Entry(msg, urgent=True)])
                elif msg.retain:
                    # Retained state is only worth its latest value: a newer one takes the place of one still
                    # waiting, so a broker slower than the meters delays states instead of growing the queue.
                    waiting = self._latest.get(msg.topic)
                    if waiting is not None and not waiting.taken:
                        waiting.msg = msg
                    else:
                        self._latest[msg.topic] = entry = _Entry(msg)
                        self._queue.append(entry)
                else:
                    self._queue.append(_Entry(msg))
        self._bound()
        if self._queue:
            self.emptied.clear()
        self._changed.set()

    def _insert_urgent(self, entries: list[_Entry]) -> None:
        at = self.in_flight + self._urgent_waiting
        for entry in entries:
            self._queue.insert(at, entry)
            at += 1
            self._urgent_waiting += 1
            msg = entry.msg
            if msg.keep:
                self._kept += 1
                if entry.row is None:
                    self._unwritten += 1
                    self._pending.append(entry)
            elif msg.retain:
                waiting = self._latest.get(msg.topic)
                if waiting is not None and not waiting.taken:
                    waiting.msg = msg

    def write_behind(self, older_than: float = WRITE_BEHIND_S, durable: bool = False) -> None:
        """Write the events queued while connected that are still unacknowledged after `older_than` seconds
        (all of them with 0), and delete the rows of acknowledged ones, in one transaction."""
        if self._db is None or not (self._unwritten or self._acknowledged):
            return
        due = time.monotonic() - older_than
        late: list[_Entry] = []
        pending = self._pending
        while pending and pending[0].queued <= due:
            entry = pending.popleft()
            if not entry.done and entry.row is None:
                late.append(entry)
        if late or self._acknowledged:
            # These went to the broker already: written for a crash of this process, without an fsync of
            # their own (WAL, synchronous=NORMAL: the next full commit or checkpoint makes them durable). An
            # fsync here would stop the event loop for tens of ms on a busy disk, with a fleet every 50 ms.
            self._write(late, durable)
            self._unwritten -= len(late)

    def _write(self, entries: list[_Entry], durable: bool = True) -> None:
        if self._db is None:
            return
        self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        with self._db:  # one transaction (one fsync when durable) for the lot
            if self._acknowledged:
                self._db.executemany("DELETE FROM events WHERE id = ?", [(r,) for r in self._acknowledged])
                self._acknowledged.clear()
            for e in entries:
                m = e.msg
                cur = self._db.execute(
                    "INSERT INTO events (topic, payload, qos, retain, correlation) VALUES (?, ?, ?, ?, ?)",
                    (m.topic, m.payload, m.qos, int(m.retain), m.correlation_data))
                e.row = cur.lastrowid

    def _bound(self) -> None:
        while self._kept > self.limit:
            self._drop_oldest_event()

    def _drop_oldest_event(self) -> None:
        for i, entry in enumerate(self._queue):
            if entry.msg.keep and i >= self.in_flight:
                if entry.urgent and not entry.taken:
                    self._urgent_waiting -= 1
                del self._queue[i]
                self._forget(entry)
                self.dropped += 1
                if self.dropped == 1 or self.dropped % 1000 == 0:
                    log.warning("outbox full (%d events): dropped the oldest (%d so far)", self.limit, self.dropped)
                return

    def peek(self, index: int = 0) -> Outgoing | None:
        """The message `index` places behind the front (the sender keeps several in flight)."""
        return self._queue[index].msg if index < len(self._queue) else None

    @property
    def urgent_waiting(self) -> bool:
        """Whether an urgent message waits for the sender (it goes even when the window is full)."""
        return self._urgent_waiting > 0

    def take(self, index: int) -> Outgoing | None:
        """`peek` for the sender: the message is about to be in flight, and no newer state replaces it now."""
        if index >= len(self._queue):
            return None
        entry = self._queue[index]
        if entry.urgent and not entry.taken:
            self._urgent_waiting -= 1
        entry.taken = True
        return entry.msg

    def sent(self) -> None:
        """The front message is with the broker (acknowledged for QoS 1): forget it."""
        entry = self._queue.popleft()
        if self._latest.get(entry.msg.topic) is entry:
            del self._latest[entry.msg.topic]
        self._forget(entry)
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
        """The connection is gone: queued state is stale (the next connect announces the latest), and every
        event not yet written is written now (the outage may outlast the gateway)."""
        self._queue = deque(e for e in self._queue if e.msg.keep)
        self.write_behind(0.0, durable=True)  # the outage may outlast this process, and the power
        self._latest.clear()
        for e in self._queue:  # what is left are events, in order: all urgent, none in flight any more
            e.taken = False
            e.urgent = True
        self._urgent_waiting = len(self._queue)
        if not self._queue:
            self.emptied.set()

    def poke(self) -> None:
        """Wake `wait` (the sender: the broker acknowledged something)."""
        self._changed.set()

    async def wait(self) -> None:
        """Until something may have changed (a put, or the outbox ran empty)."""
        await self._changed.wait()
        self._changed.clear()

    def close(self) -> None:
        self.write_behind(0.0)
        if self._db is not None:
            self._db.close()
            self._db = None

    def _forget(self, entry: _Entry) -> None:
        entry.done = True
        if not entry.msg.keep:
            return
        self._kept -= 1
        if entry.row is None:
            self._unwritten -= 1
        else:
            self._acknowledged.append(entry.row)
