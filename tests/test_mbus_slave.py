"""The M-Bus slave state machine: addressing, link reset, FCB repeat, multi-telegram readout."""

from __future__ import annotations

import pytest

from meter_sim.clock import SteppedClock
from meter_sim.config import MeterSimSettings
from meter_sim.meter import Meter
from meter_sim.modules.mbus_slave import MANUFACTURER, MEDIUM_ELECTRICITY, VERSION, MbusSlave
from omnipower import mbus

ACK = b"\xe5"


def slave(**kw: int) -> MbusSlave:
    meter = Meter("m", MeterSimSettings(), SteppedClock(1_768_478_400))
    meter.advance_to(1_768_478_400 + 86400)
    return MbusSlave(meter, **kw)


def ask(s: MbusSlave, frame: mbus.Frame) -> bytes | None:
    # Every exchange goes through the real encoder and decoder, as on the wire.
    return s.handle(mbus.decode(mbus.encode(frame)))


def readout(reply: bytes | None) -> mbus.VariableDataResponse:
    assert reply is not None
    return mbus.decode_rsp_ud(mbus.decode(reply))


def test_primary_address_link_reset_and_readout() -> None:
    s = slave(primary_address=7)
    assert ask(s, mbus.snd_nke(7)) == ACK
    assert ask(s, mbus.snd_nke(8)) is None
    assert ask(s, mbus.req_ud2(8)) is None
    resp = readout(ask(s, mbus.req_ud2(7)))
    assert (resp.manufacturer, resp.medium, resp.id) == (MANUFACTURER, MEDIUM_ELECTRICITY, s.id)
    readings = mbus.decode_to_readings(resp)
    assert readings["1.8.0"] == pytest.approx(s.meter.register("a_plus"), abs=0.01)
    assert ask(s, mbus.snd_nke(mbus.ADDR_BROADCAST)) is None  # broadcast without reply


def test_fcb_repeat_and_multi_telegram() -> None:
    s = slave(primary_address=1, max_data_len=60)
    first = ask(s, mbus.req_ud2(1, fcb=True))
    assert readout(first).more_records_follow
    assert ask(s, mbus.req_ud2(1, fcb=True)) == first  # same FCB: the answer was lost, repeat it
    parts = [readout(first)]
    fcb = False
    while parts[-1].more_records_follow:
        parts.append(readout(ask(s, mbus.req_ud2(1, fcb=fcb))))
        fcb = not fcb
    assert len(parts) > 2
    whole = mbus.decode_to_readings(mbus.reassemble(parts))
    assert whole["32.7.0"] == pytest.approx(s.meter.readings()["u_l1"], abs=0.1)
    assert len(whole) == len(mbus.decode_to_readings(mbus.VariableDataResponse(
        id=1, manufacturer="KAM", version=1, medium=2, records=tuple(mbus.encode_readings(s.meter.readings())))))


@pytest.mark.parametrize(
    ("mask", "selected"),
    [
        (lambda s: mbus.SelectionMask.exact(s.id, MANUFACTURER, VERSION, MEDIUM_ELECTRICITY), True),
        (lambda s: mbus.SelectionMask("FFFFFFFF"), True),  # all wildcards
        (lambda s: mbus.SelectionMask(f"{s.id:08d}"[:4] + "FFFF", "KAM"), True),
        (lambda s: mbus.SelectionMask(f"{(s.id + 1) % 10**8:08d}"), False),
        (lambda s: mbus.SelectionMask("FFFFFFFF", "EMU"), False),
    ],
)
def test_secondary_addressing(mask: object, selected: bool) -> None:
    s = slave(primary_address=0)
    reply = ask(s, mbus.select(mask(s)))  # type: ignore[operator]
    assert (reply == ACK) is selected and s.selected is selected
    answer = ask(s, mbus.req_ud2(mbus.ADDR_SECONDARY))
    assert (answer is not None) is selected
    if selected:
        assert ask(s, mbus.snd_nke(mbus.ADDR_SECONDARY)) == ACK and not s.selected
        assert ask(s, mbus.req_ud2(mbus.ADDR_SECONDARY)) is None


def command(s: MbusSlave, fcb: bool, *commands: tuple[str, str | int | None], address: int = 1) -> bytes | None:
    return ask(s, mbus.snd_ud(address, mbus.CI_DATA_SEND, mbus.encode_commands(list(commands)), fcb=fcb))


def test_telegram_carries_the_meter_clock_and_outputs() -> None:
    s = slave(primary_address=1)
    meter = s.meter
    status = mbus.decode_status(readout(ask(s, mbus.req_ud2(1))))
    wall = meter.rtc.wall_time(meter.t)
    assert status.time == wall.replace(tzinfo=None, second=0) and status.summer is False  # January
    assert status.breaker == "connected" and status.relays == {"load_control_1": "off", "load_control_2": "off"}


def test_snd_ud_commands_are_carried_out_once_and_refusals_reported_once() -> None:
    s = slave(primary_address=1)
    meter = s.meter
    assert command(s, True, ("breaker", "disconnect"), ("load_control_1", "on"), ("tariff", 3)) == ACK
    assert meter.breaker.state == "disconnected" and meter.load_control.relays == ["on", "off"]
    assert meter.tariffs.override == 3
    resp = readout(ask(s, mbus.req_ud2(1, fcb=False)))
    assert resp.status == 0 and mbus.decode_status(resp).breaker == "disconnected"
    # Released, then the same frame again (same FCB: our E5 was lost) is acknowledged, not carried out twice.
    assert command(s, True, ("breaker", "release")) == ACK
    assert meter.breaker.state == "ready_for_reconnection"
    assert command(s, True, ("breaker", "release")) == ACK
    assert readout(ask(s, mbus.req_ud2(1, fcb=False))).status == 0
    # A refused command (release needs a disconnected breaker) is still E5, then reported once.
    assert command(s, True, ("breaker", "release")) == ACK
    assert readout(ask(s, mbus.req_ud2(1, fcb=False))).status == mbus.STATUS_APPLICATION_ERROR
    assert readout(ask(s, mbus.req_ud2(1, fcb=True))).status == 0
    # An unknown remote-control code and a non-command record are application errors too.
    bad = mbus.encode_records([mbus.make_record(mbus.Quantity.REMOTE_CONTROL, 0x7F, coding=mbus.Coding.INT8)])
    assert ask(s, mbus.snd_ud(1, mbus.CI_DATA_SEND, bad, fcb=False)) == ACK
    assert s.application_error == "record 0: remote-control code 127 is not one of ours"
    assert readout(ask(s, mbus.req_ud2(1, fcb=True))).status == mbus.STATUS_APPLICATION_ERROR
    # Another address's command is not ours; a broadcast is carried out without a reply.
    assert command(s, False, ("load_control_2", "on"), address=9) is None
    assert meter.load_control.relays == ["on", "off"]
    assert command(s, False, ("load_control_2", "on"), address=mbus.ADDR_BROADCAST) is None
    assert meter.load_control.relays == ["on", "on"]
