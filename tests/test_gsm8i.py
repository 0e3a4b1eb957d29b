"""The meter's GSM8i module (meter_sim/modules/gsm8i.py) and the SMS reading format (omnipower/sms_reading.py): the
documented command set answered from the meter model, refusals, and a concatenated answer through the simulated
network to the head-end's modem, read back in PDU mode by python-gsmmodem-new's decoder."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from gsmmodem.pdu import decodeSmsPdu, encodeSmsSubmitPdu
from hypothesis import given
from hypothesis import strategies as st

from meter_sim.clock import SteppedClock
from meter_sim.config import MeterSimSettings
from meter_sim.gsm_modem import Modem
from meter_sim.gsm_network import GsmNetwork
from meter_sim.meter import Meter, serial_number
from meter_sim.modules.gsm8i import Gsm8iModule
from omnipower import sms_reading as reading
from omnipower.errors import CodecError
from omnipower.registers import REGISTERS_BY_KEY, REGISTERS_BY_OBIS

START = datetime.fromisoformat("2026-01-15T11:00:00+00:00").timestamp()
HEAD, NUMBER, STRANGER = "+4520000000", "+4520000001", "+4699999999"
GSM = {"number": NUMBER, "pin": "4321", "whitelist": [HEAD, "+4520000002"]}


def module(**gsm: object) -> Gsm8iModule:
    settings = MeterSimSettings(seed=3, start=datetime.fromtimestamp(START).astimezone(),
                                breaker={"min_reconnect_delay_s": 0}, gsm={**GSM, **gsm})
    meter = Meter("gsm", settings, SteppedClock(START))
    meter.advance_to(START + 6 * 3600)  # six hours of household life: the registers mean something
    assert settings.gsm is not None
    return Gsm8iModule(meter, settings.gsm, GsmNetwork(lambda: meter.rtc.wall_time(meter.t)))


def lines(answer: str | None) -> list[str]:
    assert answer is not None
    return answer.split("\n")


def test_every_documented_request_has_an_answer() -> None:
    gsm = module()
    assert set(gsm._answers) == {c.word for c in reading.COMMANDS}
    for command in reading.COMMANDS:
        request = f"4321 {command.word}" + (" 1.8.0" if command.argument else "")
        assert lines(gsm.answer(HEAD, request))[0].startswith("KAM "), request


def test_read_answers_the_main_registers_from_the_meter() -> None:
    gsm = module()
    meter = gsm.meter
    text = lines(gsm.answer(HEAD, "4321 read"))
    assert text[0] == f"KAM {serial_number('gsm'):08d} {meter.rtc.iso(meter.t)}"
    readings = meter.readings()
    mine = {r.key for r in meter.registers}
    expected_keys = [k for k in reading.READ_KEYS if k in mine]
    assert [line.split()[0] for line in text[1:]] == [REGISTERS_BY_KEY[k].obis for k in expected_keys]
    answer = reading.parse_answer("\n".join(text))
    for key in expected_keys:
        reg = REGISTERS_BY_KEY[key]
        assert reading.value_of(reg, answer.values[reg.obis]) == readings[key], key
    assert readings["a_plus"] > 0.1  # a household used energy in six hours: the check compares real values


def test_read_one_register_by_obis() -> None:
    gsm = module()
    text = lines(gsm.answer(HEAD, "4321 READ 32.7.0"))
    volts = gsm.meter.readings()["u_l1"]
    assert text[1] == f"32.7.0 {volts:.1f} V"
    assert lines(gsm.answer(HEAD, "4321 READ 9.9.9")) == ["ERROR unknown register 9.9.9; send HELP"]
    assert lines(gsm.answer(HEAD, "4321 READ 5.8.0"))[1].startswith("5.8.0 ")  # four-quadrant meter: R1 is there


def test_refusals() -> None:
    gsm = module()
    assert gsm.answer(STRANGER, "4321 READ") is None  # not on the whitelist: no answer at all
    assert gsm.answer(HEAD, "READ") == "ERROR PIN"
    assert gsm.answer(HEAD, "1111 READ") == "ERROR PIN"
    assert gsm.answer(HEAD, "4321 DISCONNECT") == "ERROR unknown request 'DISCONNECT'; send <PIN> HELP"
    assert gsm.answer(HEAD, "4321 READ 1.8.0 2.8.0") == "ERROR unknown request 'READ 1.8.0 2.8.0'; send <PIN> HELP"
    assert gsm.answer(HEAD, "4321") == "ERROR empty request; send <PIN> HELP"
    open_module = module(pin=None, whitelist=[])
    assert lines(open_module.answer(STRANGER, "help"))[1] == reading.help_text(False)
    assert "PIN first" in lines(gsm.answer(HEAD, "4321 HELP"))[1]


def test_breaker_and_alarms() -> None:
    gsm = module()
    meter = gsm.meter
    assert lines(gsm.answer(HEAD, "4321 ALARMS"))[1:] == ["ALARMS 0"]
    meter.breaker_command("disconnect")
    meter.set_phase_voltage(2, 190.0)
    meter.advance_to(meter.t + 60)
    breaker = lines(gsm.answer(HEAD, "4321 BREAKER"))
    assert breaker[1] == "128.0.11 disconnected"
    assert re.fullmatch(r"SINCE \S+ remote", breaker[2])
    alarms = lines(gsm.answer(HEAD, "4321 ALARMS"))
    assert alarms[1] == "ALARMS 1" and alarms[2].startswith("undervoltage L2 ")


def test_a_request_by_sms_gets_a_concatenated_answer() -> None:
    gsm = module()
    network = gsm.network
    head = Modem(HEAD, network)
    head.feed(b"ATE0;+CNMI=2,1,0,0,0\r")
    (pdu,) = encodeSmsSubmitPdu(NUMBER, "4321 READ")
    head.feed(f"AT+CMGS={pdu.tpduLength}\r".encode())
    assert b"+CMGS: 1" in head.feed(str(pdu).encode() + b"\x1a")
    network.deliver_pending()  # the request reaches the module, which answers at once
    network.deliver_pending()  # the answer reaches the head-end
    assert head.take_output().count(b"+CMTI") == 2  # more than 160 characters: two messages
    listing = [line for line in head.feed(b"AT+CMGL=4\r").decode().split("\r\n") if line]
    parts = [decodeSmsPdu(line) for line in listing[1::2][:2]]
    assert all(p["number"] == NUMBER for p in parts)
    assert "".join(p["text"] for p in parts) == gsm.answer(HEAD, "4321 READ")
    assert (gsm.answered, gsm.refused) == (1, 0)


def test_strangers_are_counted_not_answered() -> None:
    gsm = module()
    stranger = Modem(STRANGER, gsm.network)
    stranger.feed(f'ATE0;+CMGF=1;+CMGS="{NUMBER}"\r'.encode())
    stranger.feed(b"4321 READ\x1a")
    gsm.network.deliver_pending()
    assert gsm.network.deliver_pending() == 0 and (gsm.answered, gsm.refused) == (0, 1)


def test_answer_parsing() -> None:
    answer = reading.parse_answer("KAM 00000001 2026-01-15T12:00:00+01:00\n1.8.0 1.234 kWh\n128.0.11 connected\n"
                                  "SINCE 2026-01-15T11:00:00+01:00 delivery")
    assert answer.values == {"1.8.0": "1.234 kWh", "128.0.11": "connected"} and "SINCE" in answer.other
    assert reading.value_of(REGISTERS_BY_OBIS["1.8.0"], "1.234 kWh") == 1.234
    with pytest.raises(reading.SmsRequestError, match="ERROR PIN"):
        reading.parse_answer("ERROR PIN")
    for bad in ("", "hello", "KAM 1"):
        with pytest.raises(CodecError):
            reading.parse_answer(bad)
    for obis, value in (("1.8.0", "1.2 MWh"), ("1.8.0", "x kWh"), ("128.0.11", "open")):
        with pytest.raises(CodecError):
            reading.value_of(REGISTERS_BY_OBIS[obis], value)


@given(st.text(max_size=300))
def test_any_text_is_an_answer_or_a_codec_error(text: str) -> None:
    try:
        answer = reading.parse_answer(text)
    except CodecError as exc:
        assert str(exc)
    else:
        assert text.lstrip().startswith("KAM") and answer.serial


@given(st.text(max_size=80))
def test_any_request_is_served_or_refused(text: str) -> None:
    try:
        request = reading.parse_request(text, "4321")
    except reading.SmsRequestError as exc:
        assert exc.answer.startswith("ERROR")
    else:
        assert request.word in {c.word for c in reading.COMMANDS}
