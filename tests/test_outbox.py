"""The outbox on its own: order, what is kept while the broker is away, bounds, and a kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

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


def test_connected_everything_goes_in_order(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    msgs = [state(1), event(1), state(2), event(2)]
    box.put(msgs, connected=True)
    assert drain(box) == msgs and box.events == 0


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
    box = Outbox()
    expected = []
    for n, (is_event, connected) in enumerate(ops):
        msg = event(n) if is_event else state(n)
        box.put([msg], connected)
        if is_event or connected:
            expected.append(msg)
    assert drain(box) == expected


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
