"""A fleet's saves written in batches (gateway/sources/save_batches.py): each durable when its `save` returns, an
error only its own caller's, and a cancelled caller's save made all the same."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gateway.sources.save_batches import SaveBatches
from meter_sim.persistence import MeterStore


async def test_saves_made_together_go_in_few_batches_and_each_is_on_disk(tmp_path: Path) -> None:
    saves = SaveBatches()
    stores = [MeterStore(tmp_path / f"m{n}.json") for n in range(200)]
    await asyncio.gather(*(saves.save(store, {"n": n}) for n, store in enumerate(stores)))
    assert [store.load() for store in stores] == [{"n": n} for n in range(200)]
    assert 1 <= saves.batches < 200  # the first alone, the rest behind it


async def test_a_failing_save_fails_its_caller_only(tmp_path: Path) -> None:
    (tmp_path / "not-a-folder").write_text("")
    saves = SaveBatches()
    good, bad = MeterStore(tmp_path / "good.json"), MeterStore(tmp_path / "not-a-folder" / "bad.json")
    results = await asyncio.gather(saves.save(bad, {"n": 1}), saves.save(good, {"n": 2}), return_exceptions=True)
    assert isinstance(results[0], OSError) and results[1] is None
    assert good.load() == {"n": 2}


async def test_a_cancelled_caller_s_save_is_made_and_the_next_ones_too(tmp_path: Path) -> None:
    saves = SaveBatches()
    first, second = MeterStore(tmp_path / "a.json"), MeterStore(tmp_path / "b.json")
    task = asyncio.create_task(saves.save(first, {"n": 1}))
    await asyncio.sleep(0)  # queued, its batch started
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await saves.save(second, {"n": 2})
    assert first.load() == {"n": 1} and second.load() == {"n": 2}


async def test_a_later_save_of_one_store_wins(tmp_path: Path) -> None:
    saves = SaveBatches()
    store = MeterStore(tmp_path / "m.json")
    await asyncio.gather(*(saves.save(store, {"n": n}) for n in range(5)))
    assert store.load() == {"n": 4}
