"""The GSM8i module (68 50 053) of a simulated meter: SMS reading on the simulated network (meter_sim/gsm_network.py).

The data sheet: "Collection of consumption data via GSM/GPRS communication. Supports SMS reading." The module is a
subscriber with the number of the meter's `gsm` settings. A request (all parts of it, when concatenated) from a
sender on the whitelist (or from anyone, when the whitelist is empty) is answered by SMS from the meter's registers
at that moment, in the format of omnipower/sms_reading.py; an answer longer than one message goes as a concatenated
SMS. A sender not on the whitelist gets no answer: the request is dropped and counted (`refused`), as an SMS
answer costs the meter's owner money and would tell a stranger that a meter answers here. GPRS is the DLMS wrapper
server (meter_sim/modules/dlms_server.py `converse_wrapper`) on the module's own listen address, `serve --gprs`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from meter_sim.config import GsmSettings
from meter_sim.gsm_network import GsmNetwork
from meter_sim.meter import Meter, serial_number
from omnipower import sms_reading as reading
from omnipower.registers import REGISTERS_BY_KEY, REGISTERS_BY_OBIS
from omnipower.sms_concat import Reassembler, split_text
from omnipower.sms_pdu import Address, SmsDeliver, SmsSubmit

log = logging.getLogger(__name__)


class Gsm8iModule:
    def __init__(self, meter: Meter, settings: GsmSettings, network: GsmNetwork) -> None:
        self.meter = meter
        self.number = settings.number
        self.pin = settings.pin.get_secret_value() if settings.pin is not None else None
        self.whitelist = frozenset(settings.whitelist)
        self.network = network
        self.serial = f"{serial_number(meter.id):08d}"
        self.parts = Reassembler()
        self.reference = 0  # the concatenation reference of the last answer
        self.answered = 0
        self.refused = 0
        self._answers: dict[str, Callable[[str | None], list[str]]] = {
            "READ": self._read, "BREAKER": self._breaker, "ALARMS": self._alarms, "HELP": self._help,
        }
        network.attach(self)

    def receive(self, message: SmsDeliver) -> bool:
        sender = message.originator.number
        text = self.parts.add(sender, message.user_data)
        if text is None:
            return True  # more parts to come
        answer = self.answer(sender, text)
        if answer is None:
            self.refused += 1
            log.info("gsm8i %s: request from %s refused: not on the whitelist", self.number, sender)
            return True
        self.answered += 1
        self.reference = (self.reference + 1) % 256
        for part in split_text(answer, self.reference):
            self.network.submit(self.number, SmsSubmit(Address.of(sender), part))
        return True

    def answer(self, sender: str, text: str) -> str | None:
        """The answer to a request's text from `sender` (None: not answered)."""
        if self.whitelist and sender not in self.whitelist:
            return None
        try:
            request = reading.parse_request(text, self.pin)
        except reading.SmsRequestError as exc:
            return exc.answer
        self.meter.update()
        try:
            lines = self._answers[request.word](request.argument)
        except reading.SmsRequestError as exc:
            return exc.answer
        meter = self.meter
        return "\n".join([reading.header(self.serial, meter.rtc.iso(meter.t)), *lines])

    def _read(self, obis: str | None) -> list[str]:
        mine = {r.key: r for r in self.meter.registers}  # this meter's, with its units (pulse input, prepayment)
        if obis is None:
            chosen = [mine[key] for key in reading.READ_KEYS if key in mine]
        else:
            register = REGISTERS_BY_OBIS.get(obis)
            if register is None:
                raise reading.SmsRequestError(f"ERROR unknown register {obis[:20]}; send HELP")
            if register.key not in mine:
                raise reading.SmsRequestError(f"ERROR this meter has no register {obis}")
            chosen = [mine[register.key]]
        return reading.register_lines(chosen, self.meter.readings([r.key for r in chosen]))

    def _breaker(self, _: str | None) -> list[str]:
        breaker = self.meter.breaker
        return [*self._read(REGISTERS_BY_KEY["breaker"].obis),
                f"SINCE {self.meter.rtc.iso(breaker.changed_at)} {breaker.reason}"]

    def _alarms(self, _: str | None) -> list[str]:
        rtc = self.meter.rtc
        active = sorted(self.meter.alarms.active.items(), key=lambda kv: (kv[1], kv[0][0]))
        return reading.alarm_lines([(kind, phase, rtc.iso(since)) for (kind, phase), since in active])

    def _help(self, _: str | None) -> list[str]:
        return [reading.help_text(self.pin is not None)]

