"""The worked example of docs/capacity-tariffs.md: a month of HAN list-2 pushes, made with the project's HAN encoder
and read through the real `han` source (HDLC reader, decoder, the source's own bookkeeping), gives the capacity step
and top-3 hours computed by hand in the document, under Glitre Nett's published rule and steps.

Every expected number below is the document's, worked out by hand; none comes from our code."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from gateway.capacity_settings import NorwayRule
from gateway.config import MeterConfig
from gateway.period_tracker import PeriodTracker
from gateway.sources.han import HanSource
from omnipower.dlms import CosemDateTime
from omnipower.han import HanListKind, encode_han_push
from omnipower.rtc import Rtc

METER_ID, METER_TYPE = "5706567012345678", "6841131BN243101040"
START_TOTAL = 45210.00  # A+ at 1 November 2026 00:00, kWh
BASE = 1.20  # kWh in every hour not listed below
SPECIAL = {(3, 17): 10.80, (3, 18): 11.20, (10, 8): 7.30, (24, 23): 10.40, (30, 23): 9.90}  # (day, hour): kWh
GAP = (datetime(2026, 11, 12, 6), datetime(2026, 11, 14, 6))  # no push arrives strictly between these boundaries


def energy_of(hour_start: datetime) -> float:
    return SPECIAL.get((hour_start.day, hour_start.hour), BASE)


def list2(boundary: datetime, total: float) -> bytes:
    """The hourly push as the meter sends it, 5 s after the hour, its clock in local (standard) time."""
    readings = {"a_plus": total, "a_minus": 0.0, "r_plus": 0.0, "r_minus": 0.0, "p_plus": 1200, "p_minus": 0,
                "q_plus": 0, "q_minus": 0, "i_l1": 1.74, "i_l2": 1.74, "i_l3": 1.74, "u_l1": 230, "u_l2": 230,
                "u_l3": 230}
    when = CosemDateTime.from_datetime(boundary + timedelta(seconds=5), clock_status=0x00)
    return encode_han_push(readings, HanListKind.LIST_2, when, METER_ID, METER_TYPE)


async def push(source: HanSource, frame: bytes) -> None:
    """One frame through the source's real path: its HDLC reader, the decoder, `_accept`."""
    reader = asyncio.StreamReader()
    reader.feed_data(frame)
    reader.feed_eof()
    await source._frames(reader)


async def run_month() -> tuple[PeriodTracker, dict[datetime, dict[str, Any]]]:
    config = MeterConfig(id="m1", source="han", transport="tcp:127.0.0.1:9",
                         capacity_tariff={"rule": "norway"})
    source = HanSource(config)
    assert isinstance(config.capacity_tariff, NorwayRule)
    tracker = PeriodTracker(Rtc(config.z11, config.z15), rule=config.capacity_tariff)
    states: dict[datetime, dict[str, Any]] = {}
    boundary, total = datetime(2026, 11, 1), START_TOTAL
    while boundary <= datetime(2026, 12, 1):
        if not GAP[0] < boundary < GAP[1]:
            await push(source, list2(boundary, round(total, 2)))
            states[boundary] = tracker.update(await source.read(), source.totals_time)
        total += energy_of(boundary)
        boundary += timedelta(hours=1)
    return tracker, states


@pytest.fixture(scope="module")
def month() -> tuple[PeriodTracker, dict[datetime, dict[str, Any]]]:
    return asyncio.run(run_month())


def test_the_month_gives_the_documented_step_and_top_three_hours(month: tuple[PeriodTracker, Any]) -> None:
    _, states = month
    final = states[datetime(2026, 12, 1)]["capacity_previous_month"]
    assert final == {
        "month": "2026-11",
        "value": 10.5,  # (11.20 + 10.40 + 9.90) / 3
        "step": "4",  # 10–15 kW: 690 kr/month
        "peaks": [{"time": "2026-11-03T18:00:00+01:00", "kwh": 11.2},
                  {"time": "2026-11-24T23:00:00+01:00", "kwh": 10.4},
                  {"time": "2026-11-30T23:00:00+01:00", "kwh": 9.9}],
    }


def test_the_last_hour_of_the_month_counts_for_november_though_it_arrives_in_december(
        month: tuple[PeriodTracker, Any]) -> None:
    _, states = month
    before = states[datetime(2026, 11, 30, 23)]  # 23:00:05: the hour 23–24 is not yet known
    assert [p["time"] for p in before["capacity_month_peaks"]] == [
        "2026-11-03T18:00:00+01:00", "2026-11-10T08:00:00+01:00", "2026-11-24T23:00:00+01:00"]
    assert (before["capacity_month_value"], before["capacity_step"]) == (9.633, "3")  # (11.2 + 7.3 + 10.4) / 3
    final = states[datetime(2026, 12, 1)]
    assert (final["energy_import_hour"], final["energy_hour_start"]) == (9.9, "2026-11-30T23:00:00+01:00")
    assert (final["energy_import_day"], final["energy_day_start"]) == (37.5, "2026-11-30T00:00:00+01:00")
    assert (final["energy_import_month"], final["energy_month_start"]) == (907.6, "2026-11-01T00:00:00+01:00")
    assert final["capacity_month_peaks"] == [] and final["capacity_step"] == "1"  # December has just begun


def test_a_day_closes_with_the_push_after_its_midnight(month: tuple[PeriodTracker, Any]) -> None:
    _, states = month
    nov4 = states[datetime(2026, 11, 4)]
    assert (nov4["energy_import_day"], nov4["energy_day_start"]) == (48.4, "2026-11-03T00:00:00+01:00")
    nov25 = states[datetime(2026, 11, 25)]  # the 23:00 hour of the 24th arrives at 00:00:05 on the 25th
    assert {"time": "2026-11-24T23:00:00+01:00", "kwh": 10.4} in nov25["capacity_month_peaks"]


def test_the_two_days_offline_are_spread_over_their_hours_without_a_spike(month: tuple[PeriodTracker, Any]
                                                                           ) -> None:
    tracker, states = month
    back = states[datetime(2026, 11, 14, 6)]
    assert back["energy_import_hour"] == 1.2  # not the 57.60 kWh of the 48 hours it closes
    start = int(datetime(2026, 11, 12, 6, tzinfo=timezone(timedelta(hours=1))).timestamp()) // 3600
    gap = [tracker.ledger.energy(h)[0] for h in range(start, start + 48)]
    assert gap == pytest.approx([1.2] * 48)
