"""The master side of the GSM8i module's SMS reading: the gateway drives a GSM modem (a serial port, a pty or TCP)
with AT commands (our own sans-IO client, omnipower/at_client.py, in PDU mode), sends the meter a `READ` request
(omnipower/sms_reading.py) every `sms.interval_s` seconds (SMS cost money: an hour by default, 5 minutes at the
least) and publishes what the answer carries: the main registers in the register table's units, the meter's time
and the breaker position.

At start the modem is checked (`AT`), its SIM unlocked with `sms.sim_pin` when it asks (a refused PIN is never tried
again: three wrong PINs block the SIM; fix the configuration and restart), set to PDU mode with `+CMTI` indications,
and swept of stored messages. Messages from other numbers are deleted unread, and logged. Read-only: the module's SMS
reading carries no commands. The state keeps the last answer; the meter is offline while the last request went
unanswered.
"""

from __future__ import annotations

import asyncio
import logging
import time

from gateway.config import MeterConfig
from gateway.sources.base import MeterInfo, Readings, ReadOnlySource, SourceError
from gateway.sources.lines import MAX_BACKOFF_S, open_line
from gateway.sources.modem_line import ModemFailure, ModemLine
from omnipower import sms_reading as reading
from omnipower.address import parse_address
from omnipower.at import quote
from omnipower.at_client import Response
from omnipower.errors import CodecError
from omnipower.registers import REGISTERS_BY_KEY, REGISTERS_BY_OBIS
from omnipower.sms_concat import Reassembler, split_text
from omnipower.sms_pdu import Address, SmsSubmit, decode_deliver, encode_smsc, encode_submit, split_smsc

log = logging.getLogger(__name__)
MODEM_LINE = (115200, "8N1")
BEFORE_PIN = ("ATE0", "AT+CMEE=1")  # echo off, numeric errors
AFTER_PIN = ("AT+CMGF=0", f'AT+CPMS={quote("SM")},{quote("SM")},{quote("SM")}', "AT+CNMI=2,1,0,0,0")  # PDU mode,
# the SIM's storage, +CMTI for each new message


class SimRefused(Exception):
    """The SIM refused its PIN (or is blocked): not retried."""


class SmsSource(ReadOnlySource):
    why_no_commands = "the GSM8i module's SMS reading is read-only"

    def __init__(self, config: MeterConfig) -> None:
        super().__init__()
        if config.transport is None or config.sms.number is None:
            raise ValueError(f"meter {config.id}: an sms source needs a transport (the modem) and sms.number")
        self.config = config
        self.options = config.sms
        self.number: str = config.sms.number
        self.address = parse_address(config.transport)
        self.info = MeterInfo(
            meter_id=config.id,
            name=config.name or f"OMNIPOWER {config.id}",
            source="sms",
            model="OMNIPOWER (GSM8i, SMS reading)",
            serial_number="unknown",
            sw_version="unknown",
            registers=tuple(REGISTERS_BY_KEY[key] for key in reading.READ_KEYS),
            commands=frozenset(),
        )
        self._readings: Readings | None = None
        self._problem = "no answer from the meter yet"
        self._parts = Reassembler()
        self._answered = asyncio.Event()

    async def read(self) -> Readings:
        if self._readings is None or not self.online:
            raise SourceError(self._problem)
        return dict(self._readings)

    async def run(self) -> None:
        delay = 1.0
        while True:
            try:
                reader, writer = await open_line(self.address, *MODEM_LINE)
            except OSError as exc:
                self._fail(f"cannot open the modem on {self.address}: {exc}")
            else:
                modem = ModemLine(reader, writer)
                refused = False
                try:
                    await self._session(modem)
                except SimRefused as exc:
                    self._fail(str(exc))
                    refused = True
                except (ModemFailure, OSError) as exc:
                    self._fail(f"modem on {self.address}: {exc}")
                    delay = 1.0
                finally:
                    await modem.close()
                if refused:
                    await asyncio.Event().wait()  # until the gateway restarts with another PIN
            await asyncio.sleep(delay)
            delay = min(MAX_BACKOFF_S, delay * 2)

    def _fail(self, problem: str) -> None:
        if problem != self._problem or self.online:
            log.warning("meter %s: %s", self.config.id, problem)
        self._problem = problem
        self.online = False

    async def _session(self, modem: ModemLine) -> None:
        await self._set_up(modem)
        while True:
            began = time.monotonic()
            await self._poll(modem)
            while (left := began + self.options.interval_s - time.monotonic()) > 0:
                try:  # a late answer (or a message from elsewhere) is read while waiting
                    async with asyncio.timeout(left):
                        index = await modem.next_message()
                    await self._take(modem, index)
                except TimeoutError:
                    break

    async def _set_up(self, modem: ModemLine) -> None:
        for _ in range(3):
            try:
                await modem.command("AT", timeout=2.0)
                break
            except ModemFailure:
                continue
        else:
            raise ModemFailure("no answer to AT: is a modem on the line?")
        for command in BEFORE_PIN:
            await self._must(modem, command)
        await self._unlock(modem)
        for command in AFTER_PIN:
            await self._must(modem, command)
        registration = (await self._must(modem, "AT+CREG?")).line("+CREG:") or ""
        if registration.split(",")[-1:] not in (["1"], ["5"]):  # home or roaming
            raise ModemFailure(f"not registered on a network (+CREG: {registration})")
        listing = await self._must(modem, "AT+CMGL=4")  # what arrived while no one listened
        for line in listing.lines:
            if line.startswith("+CMGL:"):
                await self._take(modem, int(line[6:].split(",")[0]))

    async def _must(self, modem: ModemLine, command: str) -> Response:
        response = await modem.command(command)
        if not response.ok:
            raise ModemFailure(f"{command} answered {response.error}")
        return response

    async def _unlock(self, modem: ModemLine) -> None:
        state = (await self._must(modem, "AT+CPIN?")).line("+CPIN:")
        if state == "READY":
            return
        pin = self.options.sim_pin
        if state != "SIM PIN" or pin is None:
            raise SimRefused(f"the modem's SIM says {state}: {'set sms.sim_pin' if state == 'SIM PIN' else ''}"
                             "unlock it by hand (the gateway does not enter a PUK)")
        response = await modem.command(f"AT+CPIN={quote(pin.get_secret_value())}")
        if not response.ok:
            raise SimRefused(f"the modem's SIM refused sms.sim_pin ({response.error}); not tried again: three wrong "
                             "PINs block the SIM")

    async def _poll(self, modem: ModemLine) -> None:
        pin = self.options.pin
        request = f"{pin.get_secret_value()} READ" if pin is not None else "READ"
        self._answered.clear()
        for part in split_text(request, 0):
            tpdu = encode_submit(SmsSubmit(Address.of(self.number), part))
            response = await modem.send(f"AT+CMGS={len(tpdu)}", (encode_smsc(None) + tpdu).hex().upper())
            if not response.ok:
                raise ModemFailure(f"sending the request to {self.number}: AT+CMGS answered {response.error}")
        try:
            async with asyncio.timeout(self.options.reply_timeout_s):
                while not self._answered.is_set():
                    await self._take(modem, await modem.next_message())
        except TimeoutError:
            self._fail(f"no answer from the meter {self.number} within {self.options.reply_timeout_s:g} s")

    async def _take(self, modem: ModemLine, index: int) -> None:
        """Read the message at `index`, delete it, and use it when it is (the last part of) the meter's answer."""
        response = await modem.command(f"AT+CMGR={index}")
        await modem.command(f"AT+CMGD={index}")
        if not response.ok or len(response.lines) < 2:
            return
        try:
            message = decode_deliver(split_smsc(bytes.fromhex(response.lines[1]))[1])
        except (ValueError, CodecError) as exc:
            log.warning("meter %s: message %d of the modem is no SMS-DELIVER: %s", self.config.id, index, exc)
            return
        sender = message.originator.number
        if sender != self.number:
            log.warning("meter %s: deleted an SMS from %s (not the meter's number)", self.config.id, sender)
            return
        text = self._parts.add(sender, message.user_data)
        if text is not None:
            self._answer(text)

    def _answer(self, text: str) -> None:
        try:
            answer = reading.parse_answer(text)
            readings: Readings = {"time": answer.time}
            for code, raw in answer.values.items():
                register = REGISTERS_BY_OBIS[code]
                readings[register.key] = reading.value_of(register, raw)
        except reading.SmsRequestError as exc:
            self._fail(f"the meter {self.number} answered {exc.answer!r} (check sms.pin)")
            self._answered.set()
            return
        except CodecError as exc:
            log.warning("meter %s: answer not understood: %s", self.config.id, exc)
            return
        self._readings = readings
        self.online = True
        self._answered.set()
        breaker = readings.get("breaker")
        if isinstance(breaker, str):
            self.note_polled_breaker(breaker, answer.time)
