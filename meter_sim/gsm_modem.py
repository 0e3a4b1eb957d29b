"""A simulated GSM modem that a modem library drives with AT commands (ITU-T V.250, 3GPP TS 27.007 and 27.005),
without I/O: `feed()` takes the terminal's bytes and returns the modem's (echo, information lines, final result
codes), `receive()` takes an SMS from the network (meter_sim/gsm_network.py) and `take_output()` gives the unsolicited
result codes (`+CMTI`, `+CREG`) due on the line.

`COMMANDS` is the command table: each name with its error family (+CME or +CMS), whether it needs the SIM unlocked,
and a handler per form (action, read `?`, test `=?`, set `=…`); `+CLAC` lists it. A name or form not in the table
answers ERROR. The SIM asks for its PIN when one is configured (`+CPIN: SIM PIN`); three wrong PINs block it
(`+CPIN: SIM PUK`) until `AT+CPIN="<PUK>","<new PIN>"`. Commands that need the SIM answer `+CME ERROR: SIM PIN
required` (11) or `+CMS ERROR: 311` until then, in the form `+CMEE` chooses (0: ERROR, 1: number, 2: text).
`ATZ` and `AT&F` restore the factory settings (echo on, +CMEE=0, PDU mode, no new-message indications); the SIM and
its messages stay as they are.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

from meter_sim import gsm_sms as sms
from meter_sim.gsm_network import GsmNetwork
from meter_sim.gsm_sms import CHARSETS, Family, ModemError, PlainError, SmsState
from omnipower.at import (
    AtCommand,
    AtSyntaxError,
    CommandLine,
    CommandLineReader,
    LineTooLong,
    ReaderEvent,
    ReaderMode,
    TextCancelled,
    TextEntered,
    error_line,
    parse_command_line,
    quote,
)
from omnipower.sms_pdu import SmsDeliver

MANUFACTURER = "OMNIPOWER simulator"
MODEL = "GSM8i head-end modem"
REVISION = "1.0"
OPERATOR = "OMNIPOWER SIM"
SIGNAL = (20, 99)  # +CSQ: rssi 20 (-73 dBm), bit error rate unknown
PIN_ATTEMPTS, PUK_ATTEMPTS = 3, 10

Handler = Callable[["Modem", AtCommand], list[str]]


@dataclass(frozen=True, slots=True)
class CommandSpec:
    family: Family
    needs_sim: bool
    handlers: dict[str, Handler]  # form (action, read, test, set) → handler


def luhn_digit(digits: str) -> str:
    """The check digit that completes an IMEI (3GPP TS 23.003 §6.2.1)."""
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return str((10 - total % 10) % 10)


class Modem:
    def __init__(self, number: str, network: GsmNetwork, pin: str | None = None, puk: str = "12345678") -> None:
        self.number = number
        self.network = network
        self.pin, self.puk = pin, puk
        self.sim = "SIM PIN" if pin is not None else "READY"
        self.attempts = PIN_ATTEMPTS
        self.reader = CommandLineReader()
        self.sms = SmsState()
        self.urcs: list[str] = []  # +CREG
        self.sms_urcs: list[str] = []  # +CMTI, +CMT: held while +CNMI's mode is 0
        self.reference = 0  # TP-MR of the last message sent
        seed = zlib.crc32(number.encode())
        self.imei = (body := f"35{seed % 10**12:012d}") + luhn_digit(body)
        self.imsi = f"23899{seed % 10**10:010d}"
        self.cfun = 1
        self._factory()
        network.attach(self)

    def _factory(self) -> None:
        self.echo, self.cmee, self.creg, self.charset = True, 0, 0, "IRA"
        self.clip, self.crc, self.cvhu = 0, 0, 0
        self.sms.reset()

    @property
    def registered(self) -> bool:
        return self.sim == "READY" and self.cfun == 1

    # --- the line -------------------------------------------------------------------------------------------------
    def feed(self, data: bytes) -> bytes:
        out = bytearray()
        events = self.reader.feed(data)
        while events:
            out += self._events(events)
            events = self.reader.feed(b"")
        return bytes(out) + self.take_output()

    def _events(self, events: list[ReaderEvent]) -> bytes:
        out = bytearray()
        for event in events:
            if self.echo and not isinstance(event, TextEntered | TextCancelled):
                out += event.raw
            if isinstance(event, CommandLine):
                out += self._line(event.text)
            elif isinstance(event, TextEntered):
                out += self._text(event.text)
            elif isinstance(event, TextCancelled):
                self.sms.pending_text = None
                out += _frame([], "OK")
            elif isinstance(event, LineTooLong):
                self.sms.pending_text = None
                out += _frame([], "ERROR")
        return bytes(out)

    def take_output(self) -> bytes:
        """The unsolicited result codes due on the line: none while the terminal types a message, nor while
        +CNMI's mode is 0 (the modem keeps them)."""
        if self.reader.mode is ReaderMode.TEXT:
            return b""
        due = self.urcs + (self.sms_urcs if self.sms.cnmi[0] else [])
        self.urcs = []
        if self.sms.cnmi[0]:
            self.sms_urcs = []
        return _frame(due, None)

    def receive(self, message: SmsDeliver) -> bool:
        """A message from the network: stored (and announced by +CMTI), or shown at once (+CMT) when +CNMI says
        so; False when the memory is full."""
        mt = self.sms.cnmi[1]
        direct = mt == 2 or (mt == 3 and message.message_class == 3)
        index = None
        if not direct:
            index = self.sms.store(message)
            if index is None:
                return False
        if mt:
            self.sms_urcs += sms.delivery_urc(self, index, message)
        return True

    def _line(self, text: str) -> bytes:
        try:
            commands = parse_command_line(text)
        except AtSyntaxError:
            return _frame([], "ERROR")
        info: list[str] = []
        for cmd in commands:
            try:
                info += self._run(cmd)
            except ModemError as exc:
                return _frame(info, error_line(exc.family, exc.code, self.cmee))
            except PlainError:
                return _frame(info, "ERROR")
            if self.sms.pending_text is not None:
                self.reader.expect_text()
                return _frame(info, None) + b"\r\n> "  # the prompt (TS 27.005 §3.5.1); the rest of the line is not run
        return _frame(info, "OK")

    def _run(self, cmd: AtCommand) -> list[str]:
        spec = COMMANDS.get(cmd.name)
        handler = spec.handlers.get(cmd.kind) if spec is not None else None
        if spec is None or handler is None:
            raise PlainError(cmd.name)
        if spec.needs_sim and self.sim != "READY":
            sim_code = {"CME": {"SIM PIN": 11, "SIM PUK": 12}, "CMS": {"SIM PIN": 311, "SIM PUK": 316}}
            raise ModemError(spec.family, sim_code[spec.family].get(self.sim, 13 if spec.family == "CME" else 313))
        return handler(self, cmd)

    def _text(self, text: str) -> bytes:
        complete, self.sms.pending_text = self.sms.pending_text, None
        if complete is None:  # pragma: no cover - the reader enters text mode only after a prompt
            return _frame([], "ERROR")
        try:
            return _frame(complete(text), "OK")
        except ModemError as exc:
            return _frame([], error_line(exc.family, exc.code, self.cmee))

    # --- the SIM --------------------------------------------------------------------------------------------------
    def _enter_pin(self, cmd: AtCommand) -> list[str]:
        args = cmd.args
        if self.sim == "READY" or not args or not all(isinstance(a, str | int) for a in args):
            raise ModemError("CME", 3 if self.sim == "READY" else 50)
        given = [str(a) for a in args]
        if self.sim == "SIM PIN":
            if given[0] != self.pin:
                self.attempts -= 1
                if self.attempts == 0:
                    self.sim, self.attempts = "SIM PUK", PUK_ATTEMPTS
                raise ModemError("CME", 16)
        elif self.sim == "SIM PUK":
            if len(given) != 2 or given[0] != self.puk or not (given[1].isdigit() and 4 <= len(given[1]) <= 8):
                self.attempts -= 1
                if self.attempts == 0:
                    self.sim = "SIM FAILURE"  # a blocked PUK: the SIM is useless now
                raise ModemError("CME", 16)
            self.pin = given[1]
        else:
            raise ModemError("CME", 13)
        self.sim, self.attempts = "READY", PIN_ATTEMPTS
        self._registration_changed()
        return []

    def _registration_changed(self) -> None:
        if self.creg:
            self.urcs.append(f"+CREG: {1 if self.registered else 0}")

    def _cfun(self, cmd: AtCommand) -> list[str]:
        (level,) = _ints(cmd, ((0, 1),), (1,), "CME")
        self.cfun = level
        self._registration_changed()
        return []


def _frame(lines: list[str], final: str | None) -> bytes:
    """V.250 §5.7.1 (verbose): each information line and the final result code between CR LF pairs."""
    text = "".join(f"\r\n{line}\r\n" for line in lines) + (f"\r\n{final}\r\n" if final is not None else "")
    return text.encode("latin-1", "replace")


def _ints(cmd: AtCommand, ranges: tuple[tuple[int, int], ...], defaults: tuple[int, ...],
          family: Family) -> tuple[int, ...]:
    try:
        return sms._ints(cmd, ranges, defaults)
    except ModemError:
        raise ModemError(family, 50 if family == "CME" else 302) from None


def _setting(attribute: str, high: int) -> dict[str, Handler]:
    """Read, test and set of a 27.007 switch kept as one number (`+CMEE`, `+CLIP` …)."""
    def set_(m: Modem, cmd: AtCommand) -> list[str]:
        (value,) = _ints(cmd, ((0, high),), (0,), "CME")
        setattr(m, attribute, value)
        return []

    name = "+" + attribute.upper()
    return {"set": set_, "read": lambda m, c: [f"{name}: {getattr(m, attribute)}"],
            "test": lambda m, c: [f"{name}: (0-{high})"]}


def _basic_switch(attribute: str, allowed: tuple[int, ...]) -> dict[str, Handler]:
    """E, V, Q: a digit (none = 0); what the simulation does not offer (V0: numeric results) answers ERROR."""
    def set_(m: Modem, cmd: AtCommand) -> list[str]:
        value = cmd.args[0] if cmd.args else 0
        if value not in allowed:
            raise PlainError(cmd.name)
        if attribute:
            setattr(m, attribute, bool(value))
        return []

    return {"action": set_, "set": set_}


def _reset(m: Modem, cmd: AtCommand) -> list[str]:
    if cmd.args not in ((), (0,)):
        raise PlainError(cmd.name)
    m._factory()
    return []


def _set_charset(m: Modem, cmd: AtCommand) -> list[str]:
    if len(cmd.args) != 1 or cmd.args[0] not in CHARSETS:
        raise ModemError("CME", 50)
    m.charset = str(cmd.args[0])
    return []


def _creg_set(m: Modem, cmd: AtCommand) -> list[str]:
    (m.creg,) = _ints(cmd, ((0, 1),), (0,), "CME")
    return []


def _cops_read(m: Modem, cmd: AtCommand) -> list[str]:
    return [f"+COPS: 0,0,{quote(OPERATOR)},0" if m.registered else "+COPS: 0"]


def _cops_set(m: Modem, cmd: AtCommand) -> list[str]:
    """Mode and format are checked; whatever operator is asked for, the one network is the one there is."""
    _ints(AtCommand(cmd.name, cmd.kind, cmd.args[:2]), ((0, 4), (0, 2)), (0, 0), "CME")
    return []


def _csms_set(m: Modem, cmd: AtCommand) -> list[str]:
    sms._ints(cmd, ((0, 0),), (0,))  # phase 2 only: no +CNMA acknowledgements
    return ["+CSMS: 1,1,1"]


def _cpin_read(m: Modem, cmd: AtCommand) -> list[str]:
    if m.sim not in ("READY", "SIM PIN", "SIM PUK"):
        raise ModemError("CME", 13)
    return [f"+CPIN: {m.sim}"]


def _text(*lines: str) -> Handler:
    return lambda m, c: list(lines)


def _value(read: Callable[[Modem], str]) -> Handler:
    return lambda m, c: [read(m)]


def _ok(m: Modem, cmd: AtCommand) -> list[str]:
    return []


_IDENTITY = {
    "+CGMI": _value(lambda m: MANUFACTURER), "+CGMM": _value(lambda m: MODEL), "+CGMR": _value(lambda m: REVISION),
    "+CGSN": _value(lambda m: m.imei),
}

COMMANDS: dict[str, CommandSpec] = {
    "Z": CommandSpec("CME", False, {"action": _reset, "set": _reset}),
    "&F": CommandSpec("CME", False, {"action": _reset, "set": _reset}),
    "E": CommandSpec("CME", False, _basic_switch("echo", (0, 1))),
    "V": CommandSpec("CME", False, _basic_switch("", (1,))),
    "Q": CommandSpec("CME", False, _basic_switch("", (0,))),
    "H": CommandSpec("CME", False, {"action": _ok, "set": _ok}),  # no call to hang up: there are no calls
    "I": CommandSpec("CME", False, {"action": _text(MANUFACTURER, MODEL, f"Revision: {REVISION}")}),
    **{name: CommandSpec("CME", False, {"action": handler, "test": _ok}) for name, handler in _IDENTITY.items()},
    **{"+G" + name[3:]: CommandSpec("CME", False, {"action": handler, "test": _ok})
       for name, handler in _IDENTITY.items()},  # V.250's +GMI … say the same
    "+CIMI": CommandSpec("CME", True, {"action": _value(lambda m: m.imsi), "test": _ok}),
    "+CNUM": CommandSpec("CME", True, {"action": _value(lambda m: f'+CNUM: "",{quote(m.number)},145'),
                                       "test": _ok}),
    "+CMEE": CommandSpec("CME", False, _setting("cmee", 2)),
    "+CPIN": CommandSpec("CME", False, {"read": _cpin_read, "test": _ok,
                                        "set": Modem._enter_pin}),
    "+CFUN": CommandSpec("CME", False, {"read": _value(lambda m: f"+CFUN: {m.cfun}"), "test": _text("+CFUN: (0,1)"),
                                        "set": Modem._cfun}),
    "+CSQ": CommandSpec("CME", False, {"action": _value(lambda m: f"+CSQ: {SIGNAL[0]},{SIGNAL[1]}"),
                                       "test": _text("+CSQ: (0-31,99),(0-7,99)")}),
    "+CREG": CommandSpec("CME", False, {
        "read": _value(lambda m: f"+CREG: {m.creg},{1 if m.registered else 0}"), "test": _text("+CREG: (0,1)"),
        "set": _creg_set}),
    "+COPS": CommandSpec("CME", False, {"read": _cops_read, "set": _cops_set, "test": _text(
        f'+COPS: (2,{quote(OPERATOR)},"OMNISIM","23899",0),,(0-4),(0-2)')}),
    "+CSCS": CommandSpec("CME", False, {"read": _value(lambda m: f"+CSCS: {quote(m.charset)}"), "set": _set_charset,
                                        "test": _text(f"+CSCS: ({','.join(quote(c) for c in CHARSETS)})")}),
    "+CLIP": CommandSpec("CME", False, {**_setting("clip", 1), "read": _value(lambda m: f"+CLIP: {m.clip},1")}),
    "+CRC": CommandSpec("CME", False, _setting("crc", 1)),
    "+CVHU": CommandSpec("CME", False, _setting("cvhu", 1)),
    "+CLAC": CommandSpec("CME", False, {"action": lambda m, c: ["AT" + name for name in COMMANDS]}),
    # TS 27.005
    "+CSMS": CommandSpec("CMS", False, {"read": _text("+CSMS: 0,1,1,1"), "test": _text("+CSMS: (0)"),
                                        "set": _csms_set}),
    "+CMGF": CommandSpec("CMS", False, {"set": sms.cmgf_set, "test": _text("+CMGF: (0,1)"),
                                        "read": _value(lambda m: f"+CMGF: {int(m.sms.text_mode)}")}),
    "+CNMI": CommandSpec("CMS", False, {"set": sms.cnmi_set, "test": _text("+CNMI: (0-3),(0-3),(0),(0-2),(0,1)"),
                                        "read": _value(lambda m: "+CNMI: " + ",".join(map(str, m.sms.cnmi)))}),
    "+CSMP": CommandSpec("CMS", False, {"set": sms.csmp_set, "test": _ok,
                                        "read": _value(lambda m: "+CSMP: " + ",".join(map(str, m.sms.csmp)))}),
    "+CSCA": CommandSpec("CMS", True, {"set": sms.csca_set, "test": _ok,
                                       "read": _value(lambda m: f"+CSCA: {quote(m.sms.service_centre)},145")}),
    "+CPMS": CommandSpec("CMS", True, {"set": sms.cpms_set, "read": sms.cpms_read,
                                       "test": _text(f'+CPMS: ("{sms.MEMORY}"),("{sms.MEMORY}"),("{sms.MEMORY}")')}),
    "+CMGR": CommandSpec("CMS", True, {"set": sms.cmgr_set, "test": _ok}),
    "+CMGL": CommandSpec("CMS", True, {"set": sms.cmgl_set, "action": sms.cmgl_set, "test": sms.cmgl_test}),
    "+CMGD": CommandSpec("CMS", True, {"set": sms.cmgd_set,
                                       "test": _text(f"+CMGD: (1-{sms.CAPACITY}),(0-4)")}),
    "+CMGS": CommandSpec("CMS", True, {"set": sms.cmgs_set, "test": _ok}),
}
