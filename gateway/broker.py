"""Finding a broker: use the configured one, or localhost, or start an embedded one (amqtt) so
that the demo works on a machine with nothing else installed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from gateway.config import MqttSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BrokerChoice:
    host: str
    port: int
    protocol: str  # "auto" | "5" | "3.1.1"
    embedded: bool


async def reachable(host: str, port: int, timeout: float = 2.0) -> bool:
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def choose(mqtt: MqttSettings) -> BrokerChoice:
    host = mqtt.host or "localhost"
    if mqtt.embedded_broker == "always":
        return BrokerChoice("127.0.0.1", mqtt.port, "3.1.1", True)
    if mqtt.embedded_broker == "auto" and mqtt.host is None and not await reachable(host, mqtt.port):
        log.warning(
            "no MQTT broker answers on %s:%d and none is configured: starting an embedded broker "
            "(amqtt, MQTT 3.1.1) on 127.0.0.1:%d. Install Mosquitto or set mqtt.host for real use.",
            host, mqtt.port, mqtt.port,
        )
        return BrokerChoice("127.0.0.1", mqtt.port, "3.1.1", True)
    return BrokerChoice(host, mqtt.port, mqtt.protocol, False)


class EmbeddedBroker:
    """amqtt in-process, anonymous, on loopback only."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._broker: Any = None

    async def __aenter__(self) -> EmbeddedBroker:
        from amqtt.broker import Broker  # imported here: only the demo fallback needs it

        self._broker = Broker(
            {
                "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
                "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
            }
        )
        await self._broker.start()
        log.info("embedded MQTT broker listening on 127.0.0.1:%d", self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._broker is not None:
            with contextlib.suppress(Exception):
                await self._broker.shutdown()
