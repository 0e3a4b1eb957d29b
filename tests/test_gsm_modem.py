"""The simulated modem (meter_sim/gsm_modem.py, gsm_sms.py) and network (meter_sim/gsm_network.py), sans-IO: what
TS 27.007/27.005 say a modem answers, in text and PDU mode, byte-boundary feeding, and fuzzing."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from gsmmodem.pdu import decodeSmsPdu, encodeSmsSubmitPdu
from hypothesis import given, settings
from hypothesis import strategies as st

from meter_sim.gsm_modem import COMMANDS, Modem, luhn_digit
from meter_sim.gsm_network import GsmNetwork
from meter_sim.gsm_sms import CAPACITY

NOW = datetime(2026, 1, 15, 12, 0, 5, tzinfo=timezone(timedelta(hours=1)))
HEAD, METER = "+4520000000", "+4520000001"


def pair(pin: str | None = None) -> tuple[GsmNetwork, Modem, Modem]:
    network = GsmNetwork(lambda: NOW)
    a, b = Modem(HEAD, network, pin), Modem(METER, network)
    for modem in (a, b):
        modem.feed(b"ATE0\r")
    return network, a, b


def at(modem: Modem, text: str) -> list[str]:
    """The lines the modem answers to a command line (V.250 frames each between CR LF; empty lines dropped) or to a
    message text ended by Ctrl-Z."""
    reply = modem.feed((text if text.endswith("\x1a") else text + "\r").encode("latin-1")).decode("latin-1")
    return [line for line in re.split(r"[\r\n]+", reply) if line]


def test_echo_and_factory_settings() -> None:
    network = GsmNetwork(lambda: NOW)
    modem = Modem(HEAD, network)
    assert modem.feed(b"AT\r") == b"AT\r\r\nOK\r\n"  # echo is on from the factory
    assert modem.feed(b"ATE0\r") == b"ATE0\r\r\nOK\r\n"  # echoed before it takes effect
    assert modem.feed(b"AT+CMEE=2;+CMGF=1\r") == b"\r\nOK\r\n"
    assert at(modem, "ATZ") == ["OK"]  # not echoed: echo was off when it came; on again after it
    assert at(modem, "AT+CMEE?;+CMGF?") == ["AT+CMEE?;+CMGF?", "+CMEE: 0", "+CMGF: 0", "OK"]
    assert at(modem, "ATV0") == ["ATV0", "ERROR"]  # numeric result codes are not offered
    assert at(modem, "AT+WIND?") == ["AT+WIND?", "ERROR"]  # not a command of ours
    assert at(modem, "AT+CMGF=7") == ["AT+CMGF=7", "ERROR"]  # +CMEE=0: a bare ERROR


def test_identity() -> None:
    _, modem, _ = pair()
    assert at(modem, "AT+CGMI;+GMM") == ["OMNIPOWER simulator", "GSM8i head-end modem", "OK"]
    imei = at(modem, "AT+CGSN")[0]
    assert len(imei) == 15 and luhn_digit(imei[:14]) == imei[14]
    assert luhn_digit("49015420323751") == "8"  # the IMEI example of TS 23.003 Annex B: 49015420323751 8
    listed = at(modem, "AT+CLAC")
    assert listed[-1] == "OK" and {"AT+CMGS", "AT+CPIN", "AT+CNMI"} <= set(listed)
    assert len(listed) == len(COMMANDS) + 1


def test_pin_puk_and_cmee_forms() -> None:
    _, modem, _ = pair(pin="1234")
    assert at(modem, "AT+CPIN?") == ["+CPIN: SIM PIN", "OK"]
    assert at(modem, "AT+CSQ") == ["+CSQ: 20,99", "OK"]  # the radio works without the SIM
    assert at(modem, "AT+CREG?") == ["+CREG: 0,0", "OK"]
    assert at(modem, "AT+CMGL=4") == ["ERROR"]
    assert at(modem, "AT+CMEE=1;+CMGL=4") == ["+CMS ERROR: 311"]
    assert at(modem, "AT+CIMI") == ["+CME ERROR: 11"]
    assert at(modem, 'AT+CMEE=2;+CPIN="1111"') == ["+CME ERROR: incorrect password"]
    assert at(modem, 'AT+CPIN="2222"') == ["+CME ERROR: incorrect password"]
    assert at(modem, 'AT+CPIN="3333"') == ["+CME ERROR: incorrect password"]
    assert at(modem, "AT+CPIN?") == ["+CPIN: SIM PUK", "OK"]  # three wrong PINs block the SIM
    assert at(modem, 'AT+CPIN="1234"') == ["+CME ERROR: incorrect password"]
    assert at(modem, "AT+CIMI") == ["+CME ERROR: SIM PUK required"]
    assert at(modem, 'AT+CREG=1;+CPIN="12345678","9876"') == ["OK", "+CREG: 1"]
    assert at(modem, "AT+CPIN?;+COPS?") == ["+CPIN: READY", '+COPS: 0,0,"OMNIPOWER SIM",0', "OK"]
    assert at(modem, 'AT+CPIN="9876"') == ["+CME ERROR: operation not allowed"]


def test_text_mode_send_read_list_delete() -> None:
    network, head, meter = pair()
    at(meter, "AT+CMGF=1;+CNMI=2,1,0,0,0")
    assert at(head, "AT+CMGF=1") == ["OK"]
    assert head.feed(f'AT+CMGS="{METER}"\r'.encode()) == b"\r\n> "
    assert head.feed(b"READ 1.8.0\x1a") == b"\r\n+CMGS: 1\r\n\r\nOK\r\n"
    assert meter.take_output() == b""  # nothing before the network delivers
    assert network.deliver_pending() == 1
    assert meter.take_output() == b'\r\n+CMTI: "SM",1\r\n'
    assert at(meter, "AT+CMGR=1") == [f'+CMGR: "REC UNREAD","{HEAD}",,"26/01/15,12:00:05+04"', "READ 1.8.0", "OK"]
    assert at(meter, "AT+CMGR=1")[0].startswith('+CMGR: "REC READ"')
    assert at(meter, 'AT+CMGL="ALL"') == [f'+CMGL: 1,"REC READ","{HEAD}",,"26/01/15,12:00:05+04"', "READ 1.8.0",
                                          "OK"]
    assert at(meter, 'AT+CMGL="REC UNREAD"') == ["OK"]
    assert at(meter, "AT+CMGD=1;+CPMS?") == ['+CPMS: "SM",0,30,"SM",0,30,"SM",0,30', "OK"]
    assert at(meter, "AT+CMEE=1;+CMGR=1") == ["+CMS ERROR: 321"]
    head.feed(b'AT+CMGS="+4520000001"\r')
    assert head.feed(b"abc\x1b") == b"\r\nOK\r\n"  # ESC: nothing sent
    assert network.pending == 0


def test_pdu_mode_judged_by_the_library() -> None:
    network, head, meter = pair()
    at(meter, "AT+CNMI=2,1,0,0,0")
    text = "Long answer " * 20  # 240 characters: two messages
    for pdu in encodeSmsSubmitPdu(METER, text, reference=5):
        assert head.feed(f"AT+CMGS={pdu.tpduLength}\r".encode()) == b"\r\n> "
        assert at(head, str(pdu) + "\x1a")[0].startswith("+CMGS: ")
    network.deliver_pending()
    assert meter.take_output() == b'\r\n+CMTI: "SM",1\r\n\r\n+CMTI: "SM",2\r\n'
    listed = at(meter, "AT+CMGL=4")
    assert listed[0].startswith("+CMGL: 1,0,,") and listed[2].startswith("+CMGL: 2,0,,") and listed[-1] == "OK"
    parts = [decodeSmsPdu(listed[1]), decodeSmsPdu(listed[3])]
    assert all(p["number"] == HEAD and p["smsc"] == "+4599000000" and p["time"] == NOW for p in parts)
    assert parts[0]["text"] + parts[1]["text"] == text
    assert [(p["udh"][0].parts, p["udh"][0].number) for p in parts] == [(2, 1), (2, 2)]
    assert at(meter, "AT+CMGL=0") == ["OK"]  # listing marked them read
    assert at(meter, "AT+CMGD=0,1;+CPMS?")[0] == '+CPMS: "SM",0,30,"SM",0,30,"SM",0,30'


def test_bad_pdus_and_lengths() -> None:
    _, head, _ = pair()
    head.feed(b"AT+CMEE=1\r")
    (pdu,) = encodeSmsSubmitPdu(METER, "hi")
    head.feed(f"AT+CMGS={pdu.tpduLength + 1}\r".encode())
    assert at(head, str(pdu) + "\x1a") == ["+CMS ERROR: 304"]  # the length must be the TPDU's
    head.feed(b"AT+CMGS=10\r")
    assert at(head, "zz\x1a") == ["+CMS ERROR: 304"]
    assert at(head, "AT+CMGS=3") == ["+CMS ERROR: 304"]


def test_direct_routing_and_a_full_memory() -> None:
    network, head, meter = pair()
    at(meter, "AT+CMGF=1;+CNMI=2,2,0,0,0")
    at(head, "AT+CMGF=1")
    head.feed(f'AT+CMGS="{METER}"\r'.encode())
    head.feed(b"direct\x1a")
    network.deliver_pending()
    assert meter.take_output() == f'\r\n+CMT: "{HEAD}",,"26/01/15,12:00:05+04"\r\n\r\ndirect\r\n'.encode()
    at(meter, "AT+CNMI=2,1,0,0,0")
    for n in range(CAPACITY + 1):
        head.feed(f'AT+CMGS="{METER}"\r'.encode())
        head.feed(f"m{n}\x1a".encode())
    assert network.deliver_pending() == CAPACITY and network.pending == 1  # the centre keeps the last one
    meter.take_output()
    at(meter, "AT+CMGD=1")
    assert network.deliver_pending() == 1 and meter.take_output() == b'\r\n+CMTI: "SM",1\r\n'
    assert at(meter, "AT+CMGR=1")[1] == f"m{CAPACITY}"


def test_indications_wait_while_cnmi_mode_is_zero_and_during_text_entry() -> None:
    network, head, meter = pair()
    at(meter, "AT+CNMI=0,1,0,0,0")
    at(head, "AT+CMGF=1")
    head.feed(f'AT+CMGS="{METER}"\r'.encode())
    head.feed(b"x\x1a")
    network.deliver_pending()
    assert meter.take_output() == b""
    meter.feed(f'AT+CMGF=1;+CMGS="{HEAD}"\r'.encode())
    assert at(meter, "AT+CNMI=2,1,0,0,0") == []  # typed while the prompt waits: that is message text
    meter.feed(b"\x1b")
    assert at(meter, "AT+CNMI=2,1,0,0,0") == ["OK", '+CMTI: "SM",1']  # flushed once mode is not 0


def test_unknown_destination_is_dropped_and_charsets() -> None:
    network, head, meter = pair()
    at(head, 'AT+CMGF=1;+CSCS="UCS2"')
    head.feed(b'AT+CMGS="+4599999999"\r')
    head.feed(b"0041\x1a")
    assert network.deliver_pending() == 0 and network.dropped == 1
    at(meter, 'AT+CMGF=1;+CSCS="UCS2";+CNMI=2,1,0,0,0')
    head.feed(f'AT+CMGS="{METER}"\r'.encode())
    head.feed(b"00C60020005F\x1a")  # "Æ _" in UCS2 hex
    network.deliver_pending()
    assert at(meter, "AT+CMGR=1")[1] == "00C60020005F"
    assert at(meter, 'AT+CSCS="GSM";+CMGR=1')[1] == "\x1c \x11"  # the GSM character set's codes
    assert at(meter, 'AT+CSCS="IRA";+CMGR=1')[1] == "? _"
    assert at(meter, 'AT+CMEE=2;+CSCS="KOI8"') == ["+CME ERROR: incorrect parameters"]


def test_byte_boundaries() -> None:
    script = b'ATE0\rAT+CMGF=1;+CNMI=2,1,0,0,0\rAT+CMGS="+4520000001"\rhello\x1aAT+CMGL="ALL"\r'
    _, whole, _ = pair()
    expected = whole.feed(script)
    for cut in range(1, len(script)):
        _, modem, _ = pair()
        assert modem.feed(script[:cut]) + modem.feed(script[cut:]) == expected


@settings(max_examples=200)
@given(st.binary(max_size=300))
def test_fuzz_the_modem(data: bytes) -> None:
    network, head, _ = pair(pin="1234")
    reply = head.feed(data)
    assert reply == b"" or reply.startswith(b"\r\n") or reply.startswith(b"AT") or reply.startswith(b"at")
    network.deliver_pending()
    assert at(head, "\x1bAT") == ["OK"]  # whatever came before, the modem still answers


@given(st.lists(st.sampled_from(["AT+CMGF=1", "AT+CMGF=0", "AT+CMGL=4", 'AT+CMGL="ALL"', "AT+CMGR=1", "AT+CMGD=1",
                                 "AT+CPMS?", "AT+CNMI=2,1,0,0,0", "ATZ", 'AT+CPIN="1234"', "AT+CMGS=20",
                                 'AT+CMGS="+4520000000"', "hello\x1a", "AT+CSCS=\"GSM\""]), max_size=12))
def test_command_sequences_always_end_in_a_result(lines: list[str]) -> None:
    network, head, meter = pair(pin="1234")
    at(head, 'AT+CPIN="1234";+CMGF=1')
    head.feed(f'AT+CMGS="{METER}"\r'.encode())
    head.feed(b"hi\x1a")
    network.deliver_pending()
    for line in lines:
        reply = meter.feed(line.encode() + (b"" if line.endswith("\x1a") else b"\r"))
        assert reply.endswith((b"OK\r\n", b"ERROR\r\n", b"> ")) or b"ERROR: " in reply or reply == b""
