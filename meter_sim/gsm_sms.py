"""The SMS commands of the simulated modem (3GPP TS 27.005 §3), for meter_sim/gsm_modem.py.

Text mode (`+CMGF=1`) and PDU mode (0), message storage "SM" (`+CPMS`, 30 places), new-message indications
(`+CNMI`: `+CMTI` for a stored message, `+CMT` routed directly), reading (`+CMGR`, `+CMGL`; reading marks a message
read), deleting (`+CMGD` with its delete flags), sending (`+CMGS` with its `> ` prompt, the text or PDU ended by
Ctrl-Z, ESC to cancel; the parameters of text mode from `+CSMP`), and `+CSCA`, `+CSMS`. In text mode the characters
cross the line in the `+CSCS` character set (IRA, GSM, UCS2 as hex, 8859-1); a received character the set lacks is
shown as `?`, and a concatenated message's header is not shown (PDU mode shows everything). What the modem cannot
do answers `+CMS ERROR` (numeric or verbose by `+CMEE`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from omnipower import gsm7
from omnipower.at import Arg, AtCommand, quote
from omnipower.errors import CodecError, EncodeError
from omnipower.sms_pdu import (
    MAX_OCTETS,
    MAX_SEPTETS,
    Address,
    Alphabet,
    SmsDeliver,
    SmsSubmit,
    UserData,
    decode_dcs,
    decode_submit,
    encode_deliver,
    encode_smsc,
    split_smsc,
)

if TYPE_CHECKING:
    from meter_sim.gsm_modem import Modem

MEMORY = "SM"
CAPACITY = 30
STATUS_TEXT = ("REC UNREAD", "REC READ", "STO UNSENT", "STO SENT")  # PDU mode numbers them 0–3 (4: all)
CNMI_RANGES = ((0, 3), (0, 3), (0, 0), (0, 2), (0, 1))  # mode, mt, bm, ds, bfr
DELETE_FLAGS = {1: {1}, 2: {1, 3}, 3: {1, 2, 3}, 4: {0, 1, 2, 3}}  # +CMGD delflag → the statuses it deletes


Family = Literal["CME", "CMS"]


class ModemError(Exception):
    """A command refused with `+CME ERROR` or `+CMS ERROR` (family and code)."""

    def __init__(self, family: Family, code: int) -> None:
        super().__init__(f"+{family} ERROR: {code}")
        self.family, self.code = family, code


class PlainError(Exception):
    """A command answered with a bare ERROR (V.250: unknown or malformed)."""


def cms(code: int) -> ModemError:
    return ModemError("CMS", code)


@dataclass(frozen=True, slots=True)
class Charset:
    """How text crosses the line in text mode: `to_te` never fails (a missing character becomes '?'), `from_te`
    raises ValueError."""

    to_te: Callable[[str], str]
    from_te: Callable[[str], str]


def _gsm_to_te(text: str) -> str:
    return "".join(chr(c) for ch in text for c in (gsm7.septets(ch) if gsm7.is_gsm7(ch) else [0x3F]))


def _gsm_from_te(text: str) -> str:
    if any(ord(ch) > 0x7F for ch in text):
        raise ValueError("GSM character set: a byte above 7F")
    return gsm7.text_of([ord(ch) for ch in text])


CHARSETS: dict[str, Charset] = {
    "IRA": Charset(lambda t: t.encode("ascii", "replace").decode(), lambda t: t.encode("ascii").decode()),
    "GSM": Charset(_gsm_to_te, _gsm_from_te),
    "UCS2": Charset(lambda t: gsm7.encode_ucs2(t).hex().upper(), lambda t: gsm7.decode_ucs2(bytes.fromhex(t))),
    "8859-1": Charset(lambda t: t.encode("latin-1", "replace").decode("latin-1"), lambda t: t),
}


@dataclass
class Stored:
    status: int  # index into STATUS_TEXT
    message: SmsDeliver


@dataclass
class SmsState:
    """What +CMGF, +CNMI, +CSMP, +CSCA and the storage hold; ATZ resets all but the storage (it is the SIM's)."""

    text_mode: bool = False
    cnmi: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)
    csmp: tuple[int, int, int, int] = (17, 167, 0, 0)  # fo (SMS-SUBMIT, relative validity), vp, pid, dcs
    service_centre: str = "+4599000000"
    storage: dict[int, Stored] = field(default_factory=dict)
    pending_text: Callable[[str], list[str]] | None = None  # what the text after the > prompt completes

    def reset(self) -> None:
        fresh = SmsState()
        self.text_mode, self.cnmi, self.csmp = fresh.text_mode, fresh.cnmi, fresh.csmp
        self.service_centre, self.pending_text = fresh.service_centre, None

    def store(self, message: SmsDeliver) -> int | None:
        """The index the message takes, or None when the memory is full."""
        index = next((i for i in range(1, CAPACITY + 1) if i not in self.storage), None)
        if index is not None:
            self.storage[index] = Stored(0, message)
        return index


# --- formatting ---------------------------------------------------------------------------------------------------
def _scts(when: datetime) -> str:
    """Text mode's time stamp: "yy/MM/dd,hh:mm:ss±zz", the zone in quarters of an hour (TS 27.005 §3.3.1)."""
    offset = when.utcoffset()
    quarters = int(offset.total_seconds()) // 900 if offset is not None else 0
    return f"{when:%y/%m/%d,%H:%M:%S}{'-' if quarters < 0 else '+'}{abs(quarters):02d}"


def pdu_hex(m: Modem, message: SmsDeliver) -> tuple[int, str]:
    """(TPDU length, hex of the service centre and TPDU) as PDU mode shows a message."""
    tpdu = encode_deliver(message)
    return len(tpdu), (encode_smsc(Address.of(m.sms.service_centre)) + tpdu).hex().upper()


def message_text(m: Modem, message: SmsDeliver) -> str:
    ud = message.user_data
    text = ud.data.hex().upper() if ud.alphabet is Alphabet.DATA8 else ud.text
    return CHARSETS[m.charset].to_te(text)


def _text_header(m: Modem, message: SmsDeliver) -> str:
    return f"{quote(CHARSETS[m.charset].to_te(message.originator.number))},,\"{_scts(message.timestamp)}\""


def delivery_urc(m: Modem, index: int | None, message: SmsDeliver) -> list[str]:
    """+CMTI for a stored message, or +CMT with the message itself (routed directly)."""
    if index is not None:
        return [f'+CMTI: "{MEMORY}",{index}']
    if m.sms.text_mode:
        return [f"+CMT: {_text_header(m, message)}", message_text(m, message)]
    length, hex_pdu = pdu_hex(m, message)
    return [f"+CMT: ,{length}", hex_pdu]


# --- commands -----------------------------------------------------------------------------------------------------
def _ints(cmd: AtCommand, ranges: tuple[tuple[int, int], ...], defaults: tuple[int, ...]) -> tuple[int, ...]:
    """The numeric parameters of `cmd`, each in its range, omitted ones from `defaults`; CMS 302 otherwise."""
    if len(cmd.args) > len(ranges):
        raise cms(302)
    values = list(defaults)
    for i, arg in enumerate(cmd.args):
        if arg is None:
            continue
        if not isinstance(arg, int) or not ranges[i][0] <= arg <= ranges[i][1]:
            raise cms(302)
        values[i] = arg
    return tuple(values)


def cmgf_set(m: Modem, cmd: AtCommand) -> list[str]:
    (mode,) = _ints(cmd, ((0, 1),), (0,))
    m.sms.text_mode = mode == 1
    return []


def cnmi_set(m: Modem, cmd: AtCommand) -> list[str]:
    was = m.sms.cnmi
    values = _ints(cmd, CNMI_RANGES, (0, 0, 0, 0, 0))
    m.sms.cnmi = (values[0], values[1], values[2], values[3], values[4])
    if was[0] == 0 and values[0] != 0 and values[4] == 1:
        m.sms_urcs.clear()  # bfr 1: what the modem held while indications were off is dropped, not flushed
    return []


def cpms_set(m: Modem, cmd: AtCommand) -> list[str]:
    if not cmd.args or len(cmd.args) > 3 or any(a not in (MEMORY, None) for a in cmd.args):
        raise cms(302)
    used = len(m.sms.storage)
    return [f"+CPMS: {','.join([f'{used},{CAPACITY}'] * 3)}"]


def cpms_read(m: Modem, cmd: AtCommand) -> list[str]:
    used = len(m.sms.storage)
    return [f"+CPMS: {','.join([f'{quote(MEMORY)},{used},{CAPACITY}'] * 3)}"]


def csmp_set(m: Modem, cmd: AtCommand) -> list[str]:
    values = _ints(cmd, ((0, 255),) * 4, m.sms.csmp)
    m.sms.csmp = (values[0], values[1], values[2], values[3])
    return []


def csca_set(m: Modem, cmd: AtCommand) -> list[str]:
    if not cmd.args or not isinstance(cmd.args[0], str) or not cmd.args[0].lstrip("+").isdigit():
        raise cms(304 if not m.sms.text_mode else 305)
    m.sms.service_centre = cmd.args[0] if cmd.args[0].startswith("+") else "+" + cmd.args[0]
    return []


def _index(m: Modem, arg: Arg) -> int:
    if not isinstance(arg, int) or not 1 <= arg <= CAPACITY:
        raise cms(321)
    return arg


def cmgr_set(m: Modem, cmd: AtCommand) -> list[str]:
    index = _index(m, cmd.args[0] if cmd.args else None)
    stored = m.sms.storage.get(index)
    if stored is None:
        raise cms(321)
    lines = _entry(m, None, stored)
    stored.status = 1 if stored.status == 0 else stored.status
    return lines


def _entry(m: Modem, index: int | None, stored: Stored) -> list[str]:
    """The +CMGR (index None) or +CMGL lines of one stored message."""
    prefix = "+CMGR: " if index is None else f"+CMGL: {index},"
    if m.sms.text_mode:
        return [f"{prefix}{quote(STATUS_TEXT[stored.status])},{_text_header(m, stored.message)}",
                message_text(m, stored.message)]
    length, hex_pdu = pdu_hex(m, stored.message)
    return [f"{prefix}{stored.status},,{length}", hex_pdu]


def cmgl_set(m: Modem, cmd: AtCommand) -> list[str]:
    arg = cmd.args[0] if cmd.args else (STATUS_TEXT[0] if m.sms.text_mode else 0)
    names = (*STATUS_TEXT, "ALL")
    if m.sms.text_mode:
        if arg not in names:
            raise cms(305)
        wanted = names.index(str(arg))
    else:
        if not isinstance(arg, int) or not 0 <= arg <= 4:
            raise cms(304)
        wanted = arg
    lines: list[str] = []
    for index, stored in sorted(m.sms.storage.items()):
        if wanted in (4, stored.status):
            lines += _entry(m, index, stored)
            stored.status = 1 if stored.status == 0 else stored.status
    return lines


def cmgd_set(m: Modem, cmd: AtCommand) -> list[str]:
    index, flag = (*cmd.args, None, None)[:2]
    flag = 0 if flag is None else flag
    if not isinstance(flag, int) or not 0 <= flag <= 4 or len(cmd.args) > 2:
        raise cms(302)
    if flag == 0:
        m.sms.storage.pop(_index(m, index), None)
        return []
    for i in [i for i, s in m.sms.storage.items() if s.status in DELETE_FLAGS[flag]]:
        del m.sms.storage[i]
    return []


def cmgs_set(m: Modem, cmd: AtCommand) -> list[str]:
    """Checks the parameters, then asks for the text: the modem shows its prompt (`pending_text` set)."""
    if m.sms.text_mode:
        if not cmd.args or not isinstance(cmd.args[0], str) or len(cmd.args) > 2:
            raise cms(305)
        destination = Address(cmd.args[0], 1) if cmd.args[0].startswith("+") else Address(cmd.args[0], 0)
        m.sms.pending_text = lambda text: _send_text(m, destination, text)
    else:
        if len(cmd.args) != 1 or not isinstance(cmd.args[0], int) or not 7 <= cmd.args[0] <= 164:
            raise cms(304)
        length = cmd.args[0]
        m.sms.pending_text = lambda text: _send_pdu(m, length, text)
    return []


def _send_text(m: Modem, destination: Address, text: str) -> list[str]:
    fo, vp, pid, dcs = m.sms.csmp
    try:
        alphabet, message_class = decode_dcs(dcs)
        body = CHARSETS[m.charset].from_te(text)
    except (ValueError, CodecError):
        raise cms(305) from None
    if alphabet is Alphabet.DATA8:
        raise cms(303)
    if alphabet is Alphabet.GSM7:
        fits = gsm7.is_gsm7(body) and gsm7.septet_length(body) <= MAX_SEPTETS
    else:
        fits = len(gsm7.encode_ucs2(body)) <= MAX_OCTETS
    if not fits:  # text mode sends one message: the terminal splits a long text itself
        raise cms(305)
    submit = SmsSubmit(destination, UserData(body, alphabet), pid=pid, message_class=message_class,
                       validity=vp if fo >> 3 & 3 == 2 else None, status_report_request=bool(fo & 0x20))
    return _submit(m, submit)


def _send_pdu(m: Modem, length: int, text: str) -> list[str]:
    try:
        _, tpdu = split_smsc(bytes.fromhex(text.strip()))
        if len(tpdu) != length:
            raise cms(304)
        submit = decode_submit(tpdu)
    except (ValueError, CodecError):  # not hex, or not an SMS-SUBMIT
        raise cms(304) from None
    return _submit(m, submit)


def _submit(m: Modem, submit: SmsSubmit) -> list[str]:
    if not m.registered:
        raise cms(331)
    m.reference = (m.reference + 1) % 256
    try:
        m.network.submit(m.number, dataclasses.replace(submit, reference=m.reference))
    except EncodeError:  # pragma: no cover - a decoded submit always encodes again
        raise cms(304) from None
    return [f"+CMGS: {m.reference}"]


def cmgl_test(m: Modem, cmd: AtCommand) -> list[str]:
    return [f"+CMGL: ({','.join(quote(n) for n in (*STATUS_TEXT, 'ALL'))})" if m.sms.text_mode else "+CMGL: (0-4)"]
