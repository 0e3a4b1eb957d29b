"""The simulated wireless M-Bus module (meter_sim/modules/wmbus_radio.py): its schedule, its full and compact frames,
encryption, and what each receiver puts out, on a stepped clock (no sleeping)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from meter_sim.clock import SteppedClock
from meter_sim.config import MeterSimSettings, WmbusSettings
from meter_sim.meter import Meter, serial_number
from meter_sim.modules.wmbus_radio import WmbusRadio
from omnipower import wmbus
from omnipower.errors import DecryptionError
from omnipower.wmbus_receivers import RECEIVERS, Im871aReader, RtlWmbusReader

START = datetime(2026, 1, 15, 11, 0, tzinfo=UTC).timestamp()
KEY = "000102030405060708090A0B0C0D0E0F"


def radio(receiver: str = "rtl_wmbus", **wmbus_settings: object) -> tuple[Meter, WmbusRadio]:
    meter = Meter("wire", MeterSimSettings(start=datetime.fromtimestamp(START, UTC),
                                           wmbus=WmbusSettings.model_validate(wmbus_settings)), SteppedClock(START))
    return meter, WmbusRadio(meter, receiver=receiver)


def test_schedule_full_at_power_up_then_every_interval_every_eighth_full() -> None:
    meter, module = radio(interval_s=16)
    lines = []
    for second in range(0, 16 * 20):
        meter.advance_to(START + second)
        for out in module.due():
            lines.append((second, out))
    assert [s for s, _ in lines] == [0, *range(16, 16 * 20, 16)]  # power-up, then each multiple of 16 s
    decoder = wmbus.TelegramDecoder()
    telegrams = [decoder.decode(line.frame) for _, out in lines for line in RtlWmbusReader().feed(out)]
    assert [t.compact for t in telegrams] == [n % 8 != 0 for n in range(len(telegrams))]
    assert [t.access_number for t in telegrams] == list(range(len(telegrams)))
    counter_blocks = [(t.session, t.cc) for t in telegrams]
    assert len(set(counter_blocks)) == len(counter_blocks)
    assert {t.address for t in telegrams} == {wmbus.LinkAddress("KAM", serial_number("wire"), 0x30, 0x02)}


def test_a_late_telegram_is_sent_once() -> None:
    meter, module = radio(interval_s=16)
    assert len(module.due()) == 1
    meter.advance_to(START + 16 * 5 + 3)  # five slots passed while nobody asked
    assert len(module.due()) == 1 and module.due() == []


def test_telegram_carries_the_meter_values_at_sending_time() -> None:
    meter, module = radio(receiver="im871a", key=KEY, id="12345678")
    meter.advance_to(START + 3600 * 5)  # afternoon: import and export both happened
    out = module.due()[0]
    messages = Im871aReader().feed(out)
    reception = RECEIVERS["im871a"].reception(messages[0])  # type: ignore[arg-type]
    assert reception is not None
    with pytest.raises(DecryptionError, match="give its key"):
        wmbus.decode(reception.frame)
    telegram = wmbus.decode(reception.frame, bytes.fromhex(KEY))
    assert telegram.encrypted and telegram.address.id == 12345678
    expected = meter.readings()
    got = telegram.readings
    assert expected["a_minus"] != 0 and expected["a_plus"] != 0
    for obis, key, resolution in (("1.8.0", "a_plus", 0.01), ("2.8.0", "a_minus", 0.01), ("1.7.0", "p_plus", 1),
                                  ("2.7.0", "p_minus", 1)):
        assert got[obis] == pytest.approx(expected[key], abs=resolution / 2 + 1e-6), obis


def test_unknown_receiver_is_refused() -> None:
    meter = Meter("wire", MeterSimSettings(), SteppedClock(START))
    with pytest.raises(ValueError, match="unknown wireless M-Bus receiver"):
        WmbusRadio(meter, receiver="cul")


@pytest.mark.parametrize(("settings", "reason"), [
    ({"key": "0011"}, "32 hex digits"), ({"interval_s": 2}, "greater than or equal to 4"),
    ({"format": "amb8465"}, "rtl_wmbus"), ({"id": "1234"}, "pattern"),
])
def test_bad_module_settings(settings: dict[str, object], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        WmbusSettings.model_validate(settings)
