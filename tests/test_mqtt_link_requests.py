"""How the MQTT link takes incoming messages (gateway/mqtt_link.py): each is handled from the pass of the event
loop in which it was read (`start_now`, an eager task), one at a time and in order, the retained ones that
come with the subscriptions after the announcements; a handler's fault ends the session, not the gateway."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import Mosquitto, Probe, probe_client

from gateway.config import MqttSettings
from gateway.mqtt_link import Incoming, MqttLink, Outgoing, start_now

# Also run on Python 3.13 by the test command (start_now is Python 3.12's eager task there, our own on 3.11).
pytestmark = pytest.mark.integration

# --- start_now: the first step at once, every later step a task's own ---------------------------------------


async def _from_a_callback(coro: Any) -> asyncio.Task[None]:
    """start_now as the link calls it: from a plain callback of the event loop (paho's read), not from a task."""
    loop = asyncio.get_running_loop()
    made: asyncio.Future[asyncio.Task[None]] = loop.create_future()
    loop.call_soon(lambda: made.set_result(start_now(coro, loop)))
    return await made


async def test_the_first_step_runs_before_start_now_returns() -> None:
    steps: list[str] = []
    seen: list[asyncio.Task[Any] | None] = []
    gate = asyncio.Event()

    async def work() -> None:
        seen.append(asyncio.current_task())
        steps.append("first")
        async with asyncio.timeout(5):  # needs to know its task
            await gate.wait()
        steps.append("second")
        await asyncio.sleep(0)
        steps.append("third")

    loop = asyncio.get_running_loop()
    made: list[asyncio.Task[None]] = []

    def callback() -> None:
        made.append(start_now(work(), loop))
        steps.append(f"returned with {len(steps)} step(s) done")

    loop.call_soon(callback)
    await asyncio.sleep(0)
    task = made[0]
    assert steps == ["first", "returned with 1 step(s) done"]
    assert seen == [task]
    assert not task.done()
    gate.set()
    await task
    assert steps[2:] == ["second", "third"]


async def test_a_coroutine_that_never_waits_is_done_at_once() -> None:
    async def work() -> None:
        return None

    task = await _from_a_callback(work())
    assert task.done() and task.exception() is None


async def test_a_failure_and_a_cancellation_are_the_task_s() -> None:
    async def fails() -> None:
        raise ValueError("bad")

    task = await _from_a_callback(fails())
    assert task.done() and isinstance(task.exception(), ValueError)

    async def waits() -> None:
        await asyncio.sleep(60)

    task = await _from_a_callback(waits())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()


async def test_from_inside_a_task_it_is_an_ordinary_task() -> None:
    steps: list[str] = []

    async def work() -> None:
        steps.append("ran")

    task = start_now(work(), asyncio.get_running_loop())
    assert steps == []  # a task cannot run another's step inside its own
    await task
    assert steps == ["ran"]


# --- the link with a real broker --------------------------------------------------------------------------


class User:
    """A LinkUser that answers `req/<name>` on `ans/<name>`; `req/slow` waits for `release`, `req/boom` raises."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.handled: list[str] = []
        self.boomed = False

    def subscriptions(self) -> list[str]:
        return ["req/#"]

    async def announcements(self) -> list[Outgoing]:
        return [Outgoing("ans/announced", b"1")]

    async def handle(self, message: Incoming) -> list[Outgoing]:
        name = message.topic.removeprefix("req/")
        self.handled.append(name)
        if name == "slow":
            await self.release.wait()
        if name == "boom" and not self.boomed:
            self.boomed = True
            raise RuntimeError("a fault in a handler")
        return [Outgoing(f"ans/{name}", message.payload)]

    def goodbye(self) -> list[Outgoing]:
        return []


@contextlib.asynccontextmanager
async def running_link(broker: Mosquitto, user: User) -> AsyncIterator[MqttLink]:
    link = MqttLink(MqttSettings(client_id="link-under-test"), broker.host, broker.port, "5",
                    Outgoing("ans/will", b"gone"))
    task = asyncio.create_task(link.run(user))
    try:
        async with asyncio.timeout(10):
            await link.connected.wait()
        yield link
    finally:
        link.stop()
        async with asyncio.timeout(10):
            await task


def _answers(probe: Probe) -> list[str]:
    return [m.topic.removeprefix("ans/") for m in probe.messages if m.topic.startswith("ans/")]


async def test_messages_are_answered_in_order_when_one_answer_waits(mosquitto: Mosquitto) -> None:
    user = User()
    async with probe_client(mosquitto, "ans/#") as probe, running_link(mosquitto, user):
        await probe.wait_for("ans/announced")
        await probe.publish("req/slow", b"s")
        await probe.publish("req/fast", b"f")
        await asyncio.sleep(0.3)
        assert user.handled == ["slow"]  # the second waits for the first's answer
        user.release.set()
        await probe.wait_for("ans/fast")
        assert _answers(probe) == ["announced", "slow", "fast"]


async def test_retained_messages_are_handled_after_the_announcements(mosquitto: Mosquitto) -> None:
    user = User()
    async with probe_client(mosquitto, "ans/#") as probe:
        await probe.publish("req/kept", b"k", retain=True)
        async with running_link(mosquitto, user):
            await probe.wait_for("ans/kept")
            assert _answers(probe) == ["announced", "kept"]


async def test_a_fault_in_a_handler_ends_the_session_and_the_next_one_answers(
        mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture) -> None:
    user = User()
    caplog.set_level(logging.INFO, "gateway.mqtt_link")
    async with probe_client(mosquitto, "ans/#") as probe, running_link(mosquitto, user):
        await probe.wait_for("ans/announced")
        await probe.publish("req/boom", b"1")
        await probe.wait_for("ans/announced", after=1, timeout=10)  # a new session announced itself again
        assert "MQTT session failed; reconnecting" in caplog.text
        assert "a fault in a handler" in caplog.text
        await probe.publish("req/boom", b"2")
        assert (await probe.wait_for("ans/boom")).payload == b"2"
