"""`SourceEvents` (a source's event queue, lighter than asyncio.Queue) against `asyncio.Queue` itself: the same
operations give the same events in the same order, and a waiting consumer wakes for the next one."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.sources.base import BreakerStatus, SourceEvents

# ("put", n): an event; ("take",): get_nowait (or QueueEmpty); ("wait",): a consumer waits, then one is put
OPS = st.lists(st.one_of(st.tuples(st.just("put"), st.integers(0, 99)), st.tuples(st.just("take")),
                         st.tuples(st.just("wait"))), max_size=40)


def _event(n: int) -> BreakerStatus:
    return BreakerStatus("connected" if n % 2 else "disconnected", f"r{n}", f"t{n}")


async def _run(queue: SourceEvents | asyncio.Queue[BreakerStatus], ops: list[tuple[object, ...]]) -> list[object]:
    seen: list[object] = []
    for n, op in enumerate(ops):
        if op[0] == "put":
            queue.put_nowait(_event(int(op[1])))  # type: ignore[arg-type]
        elif op[0] == "take":
            try:
                seen.append(queue.get_nowait())
            except asyncio.QueueEmpty:
                seen.append("empty")
        else:
            consumer = asyncio.create_task(queue.get())
            await asyncio.sleep(0)  # it waits when nothing is queued
            queue.put_nowait(_event(1000 + n))  # type: ignore[arg-type]
            seen.append(await asyncio.wait_for(consumer, 1))
        seen.append((queue.empty(), queue.qsize()))
    return seen


@given(OPS)
def test_source_events_behave_as_an_asyncio_queue(ops: list[tuple[object, ...]]) -> None:
    async def both() -> tuple[list[object], list[object]]:
        return await _run(SourceEvents(), ops), await _run(asyncio.Queue(), ops)

    ours, theirs = asyncio.run(both())
    assert ours == theirs


def test_a_cancelled_consumer_leaves_the_queue_usable() -> None:
    async def scenario() -> BreakerStatus:
        events = SourceEvents()
        waiting = asyncio.create_task(events.get())
        await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        again = asyncio.create_task(events.get())  # a restarted pump
        await asyncio.sleep(0)
        events.put_nowait(_event(7))
        return await asyncio.wait_for(again, 1)

    assert asyncio.run(scenario()) == _event(7)


def test_a_second_consumer_is_refused() -> None:
    async def scenario() -> None:
        events = SourceEvents()
        first = asyncio.create_task(events.get())
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError, match="one consumer"):
            await events.get()
        first.cancel()

    asyncio.run(scenario())


def test_a_consumer_replaced_before_its_cancellation_ran_does_not_take_the_new_one_s_wake_up() -> None:
    """The old consumer's future is cancelled at once, its own clean-up runs later: the new consumer, started in
    between, is not refused, and its future is still the one an event wakes."""
    async def scenario() -> BreakerStatus:
        events = SourceEvents()
        old = asyncio.create_task(events.get())
        await asyncio.sleep(0)
        old.cancel()
        new = events.get()
        waiting = new.send(None)  # the new consumer runs up to its wait, before the old one's clean-up
        await asyncio.sleep(0)  # now the old one's
        with pytest.raises(asyncio.CancelledError):
            await old
        events.put_nowait(_event(3))
        assert waiting.done()
        with pytest.raises(StopIteration) as done:
            new.send(None)
        return done.value.value  # type: ignore[no-any-return]

    assert asyncio.run(scenario()) == _event(3)
