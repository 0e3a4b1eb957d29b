"""The outbox on its own: order, what is kept while the broker is away, bounds, and a kill -9."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.outbox import Outbox, Outgoing


def event(n: int) -> Outgoing:
    return Outgoing("omnipower/m1/alarm", f'{{"n":{n}}}'.encode(), keep=True)


def state(n: int) -> Outgoing:
    return Outgoing("omnipower/m1/state", f'{{"n":{n}}}'.encode(), retain=True)


def drain(box: Outbox) -> list[Outgoing]:
    out = []
    while (msg := box.peek()) is not None:
        out.append(msg)
        box.sent()
    return out


def test_connected_events_go_ahead_of_waiting_state_in_order(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    other = Outgoing("omnipower/m2/state", b"{}", retain=True)
    box.put([state(1), event(1), other, event(2)], connected=True)
    assert drain(box) == [event(1), event(2), state(1), other] and box.events == 0


def test_away_only_events_are_kept_and_survive_a_restart(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    box.put([state(1), event(1), state(2), event(2)], connected=False)
    assert len(box) == 2 and box.events == 2
    box.close()  # the gateway stops (or dies: see the kill test) with two events unsent
    again = Outbox(tmp_path / "o.sqlite3")
    assert drain(again) == [event(1), event(2)]
    again.close()
    assert len(Outbox(tmp_path / "o.sqlite3")) == 0  # sent means forgotten


def test_a_lost_connection_drops_queued_state_not_events(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    box.put([state(1), event(1), state(2)], connected=True)
    box.drop_state()
    assert drain(box) == [event(1)]


def test_bounded_oldest_events_go_first(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3", limit=100)
    box.put([event(n) for n in range(250)], connected=False)
    assert box.events == 100 and box.dropped == 150
    assert drain(box) == [event(n) for n in range(150, 250)]


@given(st.lists(st.tuples(st.booleans(), st.booleans()), max_size=40))
@settings(max_examples=100, deadline=None)
def test_order_is_kept_whatever_the_mix(ops: list[tuple[bool, bool]]) -> None:
    """Events in order, ahead of the waiting state; a state while connected takes the place of the one still
    waiting on its topic; while away, no state is kept."""
    box = Outbox()
    events: list[Outgoing] = []
    latest: list[Outgoing] = []
    for n, (is_event, connected) in enumerate(ops):
        msg = event(n) if is_event else state(n)
        box.put([msg], connected)
        if is_event:
            events.append(msg)
        elif connected:
            latest = [msg]
    assert drain(box) == events + latest


def test_a_newer_state_replaces_the_waiting_one_not_the_one_in_flight() -> None:
    box = Outbox()
    other = Outgoing("omnipower/m2/state", b"{}", retain=True)
    box.put([state(1), other], connected=True)
    assert box.take(0) == state(1)  # the sender has it
    box.in_flight = 1
    box.put([state(2)], connected=True)  # so this one queues behind
    box.put([state(3)], connected=True)  # and this one replaces it
    box.put([Outgoing("omnipower/m1/han", b"x", qos=0)], connected=True)  # not retained: never replaced
    box.put([Outgoing("omnipower/m1/han", b"y", qos=0)], connected=True)
    box.in_flight = 0
    assert drain(box) == [state(1), other, state(3), Outgoing("omnipower/m1/han", b"x", qos=0),
                          Outgoing("omnipower/m1/han", b"y", qos=0)]
    box.put([state(4)], connected=True)
    assert len(box) == 1 and box.peek() == state(4)


def test_kill_9_while_queueing_loses_nothing_committed(tmp_path: Path) -> None:
    """A process queues events and is killed with SIGKILL in the middle of it: every event whose put had
    returned is there for the next process, in order, with nothing torn."""
    db = tmp_path / "o.sqlite3"
    script = textwrap.dedent(f"""
        import os, sys
        from gateway.outbox import Outbox, Outgoing
        from pathlib import Path
        box = Outbox(Path({str(db)!r}))
        n = 0
        while True:  # until killed, mid-stream
            box.put([Outgoing("t/alarm", str(n).encode(), keep=True)], connected=False)
            print(n, flush=True)
            n += 1
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parent.parent, env=dict(os.environ))
    assert proc.stdout is not None
    for line in proc.stdout:
        if int(line) == 300:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    recovered = [int(m.payload) for m in drain(Outbox(db))]
    assert len(recovered) > 300 and recovered == list(range(len(recovered)))


def test_a_message_the_broker_keeps_refusing_is_dropped_not_retried_forever(tmp_path: Path) -> None:
    """Found by the MQTT fuzz: a response topic deeper than Mosquitto allows made it drop the gateway at every
    reconnect, and the kept response came back each time."""
    box = Outbox(tmp_path / "o.sqlite3")
    poison, fine = event(1), event(2)
    box.put([poison, fine], connected=True)
    box.connection_lost(was_in_flight=True)
    box.connection_lost(was_in_flight=True)
    assert box.peek() is poison  # two losses in a row may be the broker restarting
    box.connection_lost(was_in_flight=True)
    assert drain(box) == [fine] and len(Outbox(tmp_path / "o.sqlite3")) == 0


def test_losses_with_different_messages_in_flight_drop_nothing(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    box.put([event(n) for n in range(4)], connected=True)
    for _ in range(3):
        box.connection_lost(was_in_flight=True)
        box.connection_lost(was_in_flight=False)  # a loss with nothing in flight says nothing of the front
        box.sent()  # the front went through after the reconnect
    assert drain(box) == [event(3)]


def rows(path: Path) -> int:
    with sqlite3.connect(path) as db:
        count: int = db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        return count


def test_connected_events_acknowledged_at_once_never_touch_the_disk(tmp_path: Path) -> None:
    """While the broker is there, a response or an alarm goes out without waiting for an fsync."""
    db = tmp_path / "o.sqlite3"
    box = Outbox(db)
    box.put([event(1), state(1), event(2)], connected=True)
    assert rows(db) == 0
    assert drain(box) == [event(1), event(2), state(1)]
    box.write_behind(0.0)
    assert rows(db) == 0 and box.events == 0


def test_connected_events_not_acknowledged_in_time_are_written_in_order(tmp_path: Path) -> None:
    db = tmp_path / "o.sqlite3"
    box = Outbox(db)
    box.put([event(1), state(1), event(2)], connected=True)
    box.write_behind()  # younger than WRITE_BEHIND_S: not yet
    assert rows(db) == 0
    box.write_behind(0.0)  # as the link does once they are WRITE_BEHIND_S old
    assert rows(db) == 2
    box.put([event(3)], connected=False)  # the broker went away: committed at once, behind them
    assert rows(db) == 3
    del box  # killed: no close
    again = Outbox(db)
    assert drain(again) == [event(1), event(2), event(3)]
    again.close()  # the deletes of the acknowledged rows are written with the next write, or at close
    assert rows(db) == 0


def test_a_lost_connection_writes_every_unwritten_event(tmp_path: Path) -> None:
    db = tmp_path / "o.sqlite3"
    box = Outbox(db)
    box.put([event(1), state(1), event(2)], connected=True)
    box.drop_state()
    assert rows(db) == 2
    assert drain(Outbox(db)) == [event(1), event(2)]


@given(st.lists(st.tuples(st.integers(0, 4), st.booleans()), max_size=40))
@settings(max_examples=60, deadline=None)
def test_order_and_durability_whatever_the_mix(tmp_path_factory: pytest.TempPathFactory,
                                               ops: list[tuple[int, bool]]) -> None:
    """Events put while connected or away, some acknowledged, with write-behinds and lost connections between:
    after a kill, the outbox holds exactly the unacknowledged events that had been written, in order, and every
    event that was away (committed at put) is among them."""
    db = tmp_path_factory.mktemp("box") / "o.sqlite3"
    box = Outbox(db)
    n = 0
    for op, connected in ops:
        if op <= 1:
            box.put([event(n) if op == 0 else state(n)], connected)
            n += 1
        elif op == 2 and box.peek() is not None:
            box.sent()
        elif op == 3:
            box.write_behind(0.0)
        else:
            box.drop_state()
    box.write_behind(0.0)
    pending = [m for m in drain_copy(box) if m.keep]
    del box
    assert drain(Outbox(db)) == pending


def drain_copy(box: Outbox) -> list[Outgoing]:
    return [m for i in range(len(box)) if (m := box.peek(i)) is not None]


def test_an_answer_goes_ahead_of_the_waiting_state_behind_what_is_in_flight() -> None:
    """A fleet queues thousands of states; a request's answer (and any event) must not wait behind them."""
    box = Outbox()
    states = [Outgoing(f"omnipower/f{n}/state", b"{}", retain=True) for n in range(5)]
    box.put(states, connected=True)
    assert box.take(0) == states[0] and box.take(1) == states[1]
    box.in_flight = 2  # as the sender says
    answer = [Outgoing("omnipower/m1/state", b"new", retain=True), event(1)]
    box.put(answer, connected=True, urgent=True)
    box.put([event(2)], connected=True, urgent=True)  # behind the earlier urgent ones, in order
    assert drain_copy(box) == [*states[:2], *answer, event(2), *states[2:]]


def test_an_urgent_state_replaces_the_waiting_one_so_no_older_state_follows_it() -> None:
    box = Outbox()
    box.put([state(1), state(9)], connected=True)  # state(9) replaced state(1): one waiting entry
    box.put([state(2)], connected=True, urgent=True)
    assert drain(box) == [state(2), state(2)]  # the waiting entry now says the same: never state(9) after 2


@given(st.lists(st.tuples(st.sampled_from(["event", "state", "other", "take", "sent", "lost"]), st.booleans()),
                max_size=50))
@settings(max_examples=150, deadline=None)
def test_events_keep_their_order_and_no_topic_goes_back_whatever_the_lanes(ops: list[tuple[str, bool]]) -> None:
    """Urgent or not, taken or waiting, connection lost or not: events come out in the order they were put, and on
    each retained topic the last message out is the last one put (no older state follows a newer one)."""
    box = Outbox()
    put_events: list[Outgoing] = []
    last_put: dict[str, Outgoing] = {}
    out: list[Outgoing] = []
    for n, (op, urgent) in enumerate(ops):
        if op in ("event", "state", "other"):
            msg = event(n) if op == "event" else (state(n) if op == "state" else
                                                  Outgoing("omnipower/m2/state", str(n).encode(), retain=True))
            box.put([msg], connected=True, urgent=urgent)
            (put_events.append(msg) if msg.keep else last_put.__setitem__(msg.topic, msg))
        elif op == "take" and box.take(box.in_flight) is not None:
            box.in_flight += 1
        elif op == "sent" and box.in_flight:
            out.append(box.peek())  # type: ignore[arg-type]
            box.sent()
            box.in_flight -= 1
        elif op == "lost":
            box.in_flight = 0
            box.drop_state()
            last_put.clear()  # the next connection announces the latest afresh
            out = [m for m in out if m.keep]
    box.in_flight = 0
    out += drain(box)
    assert [m for m in out if m.keep] == put_events
    for topic, msg in last_put.items():
        assert [m for m in out if m.topic == topic][-1] == msg
