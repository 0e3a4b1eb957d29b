"""The head-end's modem on a line (`omnipower-sim serve --gsm ADDR`): bytes between the line and the sans-IO modem
(meter_sim/gsm_modem.py), and the network's deliveries (meter_sim/gsm_network.py) paced in real time.

One simulated network joins the head-end modem (the `head_end` of the meter's `gsm` settings) and the meter's GSM8i
module (meter_sim/modules/gsm8i.py). A submitted message is delivered `DELIVERY_DELAY_S` later, the answer as long
again: a modem library sees its `+CMGS` result well before the `+CMTI` of the answer, as on a real network. On TCP
the newest connection is the terminal (a modem has one serial line); what the modem has to say while no terminal is
there waits for the next.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from meter_sim.config import GsmSettings
from meter_sim.gsm_modem import Modem
from meter_sim.gsm_network import GsmNetwork
from meter_sim.meter import Meter
from meter_sim.modules.gsm8i import Gsm8iModule

DELIVERY_DELAY_S = 0.3
Write = Callable[[bytes], None]


class ModemLine:
    def __init__(self, meter: Meter, settings: GsmSettings, delay: float = DELIVERY_DELAY_S) -> None:
        self.network = GsmNetwork(lambda: meter.rtc.wall_time(meter.t))
        self.module = Gsm8iModule(meter, settings, self.network)
        head_end = settings.head_end
        self.modem = Modem(head_end.number, self.network,
                           head_end.pin.get_secret_value() if head_end.pin is not None else None,
                           head_end.puk.get_secret_value())
        self.delay = delay
        self._write: Write | None = None
        self._timer: asyncio.TimerHandle | None = None

    async def converse(self, reader: asyncio.StreamReader, write: Write) -> None:
        """One terminal's session (a TCP connection, or a serial line or pty for its whole life)."""
        self._write = write
        self.modem.reader.reset()
        try:
            self._send(self.modem.take_output())  # what came while no terminal was there
            while data := await reader.read(4096):
                self._send(self.modem.feed(data))
                self._schedule()
        finally:
            if self._write is write:
                self._write = None

    def _send(self, data: bytes) -> None:
        if data and self._write is not None:
            self._write(data)

    def _schedule(self) -> None:
        if self.network.in_transit and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.delay, self._deliver)

    def _deliver(self) -> None:
        self._timer = None
        self.pump()
        self._schedule()

    def pump(self) -> None:
        """Deliver what the network holds and pass the modem's indications to the terminal (also called every
        second by `serve`, for messages that waited for room in a full memory)."""
        self.network.deliver_pending()
        if self._write is not None:
            self._send(self.modem.take_output())

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
