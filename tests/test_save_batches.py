"""A fleet's saves written in batches (gateway/sources/save_batches.py): each durable when its `save` returns, an
error only its own caller's, and a cancelled caller's save made all the same."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from gateway.sources.save_batches import SaveBatches
from meter_sim.persistence import MeterStore


async def test_saves_made_together_go_in_few_batches_and_each_is_on_disk(tmp_path: Path) -> None:
    saves = SaveBatches()
    stores = [MeterStore(tmp_path / f"m{n}.json") for n in range(200)]
    await asyncio.gather(*(saves.save(store, lambda n=n: {"n": n}) for n, store in enumerate(stores)))
    assert [store.load() for store in stores] == [{"n": n} for n in range(200)]
    assert 1 <= saves.batches < 200  # the first alone, the rest behind it


async def test_a_failing_save_fails_its_caller_only(tmp_path: Path) -> None:
    (tmp_path / "not-a-folder").write_text("")
    saves = SaveBatches()
    good, bad = MeterStore(tmp_path / "good.json"), MeterStore(tmp_path / "not-a-folder" / "bad.json")
    results = await asyncio.gather(saves.save(bad, lambda: {"n": 1}), saves.save(good, lambda: {"n": 2}),
                                   return_exceptions=True)
    assert isinstance(results[0], OSError) and results[1] is None
    assert good.load() == {"n": 2}


async def test_a_cancelled_caller_s_save_is_made_and_the_next_ones_too(tmp_path: Path) -> None:
    saves = SaveBatches()
    first, second = MeterStore(tmp_path / "a.json"), MeterStore(tmp_path / "b.json")
    task = asyncio.create_task(saves.save(first, lambda: {"n": 1}))
    await asyncio.sleep(0)  # queued, its batch started
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await saves.save(second, lambda: {"n": 2})
    assert first.load() == {"n": 1} and second.load() == {"n": 2}


async def test_a_later_save_of_one_store_wins(tmp_path: Path) -> None:
    saves = SaveBatches()
    store = MeterStore(tmp_path / "m.json")
    await asyncio.gather(*(saves.save(store, lambda n=n: {"n": n}) for n in range(5)))
    assert store.load() == {"n": 4}


async def test_no_more_snapshots_wait_than_there_is_room_for(tmp_path: Path) -> None:
    """A snapshot is taken when there is room: 200 saves due at once hold at most `room` snapshots at a time."""
    taken: list[int] = []
    saved: list[int] = []
    alive: list[int] = []

    class Counting(MeterStore):
        def save(self, state: Any) -> None:
            super().save(state)
            saved.append(state["n"])

    def snapshot(n: int) -> dict[str, int]:
        taken.append(n)
        alive.append(len(taken) - len(saved))
        return {"n": n}

    saves = SaveBatches(room=8)
    stores = [Counting(tmp_path / f"m{n}.json") for n in range(200)]
    await asyncio.gather(*(saves.save(store, lambda n=n: snapshot(n)) for n, store in enumerate(stores)))
    assert sorted(saved) == list(range(200)) and [store.load() for store in stores] == [{"n": n} for n in range(200)]
    assert max(alive) == 8  # the room filled, and never more


async def test_a_caller_cancelled_while_it_waits_for_room_gives_it_back(tmp_path: Path) -> None:
    """Cancelled before its turn or just as its turn came, a caller neither takes a snapshot nor keeps the room."""
    saves = SaveBatches(room=1)
    taken: list[str] = []
    store = MeterStore(tmp_path / "m.json")

    def snapshot(name: str) -> dict[str, str]:
        taken.append(name)
        return {"by": name}

    first = asyncio.create_task(saves.save(store, lambda: snapshot("first")))
    queued = asyncio.create_task(saves.save(store, lambda: snapshot("queued")))  # cancelled while it waits
    handed = asyncio.create_task(saves.save(store, lambda: snapshot("handed")))  # cancelled once its turn came
    last = asyncio.create_task(saves.save(store, lambda: snapshot("last")))
    await asyncio.sleep(0)
    queued.cancel()
    pass_room = saves._pass_room

    def and_cancel() -> None:  # the first save ends, its room passes to `handed`, which is cancelled before it runs
        pass_room()
        if not handed.cancelled():
            handed.cancel()

    saves._pass_room = and_cancel  # type: ignore[method-assign]
    await asyncio.wait_for(last, 10)  # a room kept by a cancelled caller would leave it waiting for ever
    await first
    for task in (queued, handed):
        with pytest.raises(asyncio.CancelledError):
            await task
    assert taken == ["first", "last"] and store.load() == {"by": "last"}
    await saves.save(store, lambda: snapshot("after"))  # and the room is there for the next
    assert taken[-1] == "after"
