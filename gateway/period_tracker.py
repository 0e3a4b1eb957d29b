"""One meter's energy periods and capacity tariff: fed each state the gateway reads, it gives the fields to add,
and keeps its ledger across restarts (`<data_dir>/periods/<meter>.json`, written atomically).

The sans-IO parts are `HourLedger`, `energy_periods` and `capacity_tariff`; this module adds what they leave out:
the readings' times parsed, the import so far estimated from P+ where the totals lag (HAN's list 2 comes once an
hour, list 1 brings P+ every 10 s), and the file.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from gateway.capacity_settings import CapacityRule
from gateway.capacity_tariff import capacity_fields, capacity_keys, step_options
from gateway.config import MeterConfig
from gateway.energy_periods import oldest_needed, period_fields, period_keys
from gateway.hourly_energy import HOUR_S, HourLedger, hour_ending_at_or_after, hour_of
from gateway.meter_calendar import MeterCalendar
from gateway.period_fields import StateField, fields_for
from meter_sim.persistence import replace_file
from omnipower.rtc import Rtc

log = logging.getLogger(__name__)

SAVE_EVERY_S = 300  # meter seconds between saves within an hour (and at every new hour, and on close)
FORMAT = 1
POWER_HOLD_S = 30.0  # a P+ reading stands for at most this long (three HAN list-1 pushes): no stale extrapolation


def instant(text: object) -> float | None:
    """UTC epoch seconds of an ISO 8601 time with its offset; None for anything else (a naive time included)."""
    if not isinstance(text, str):
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when.timestamp() if when.tzinfo is not None else None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


class PeriodStore:
    """The ledger's file: read once, replaced whole (write, fsync, rename), so a crash leaves the old or the new."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> HourLedger | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("format") != FORMAT:
                raise ValueError(f"format {data.get('format')!r}, not {FORMAT}")
            return HourLedger.from_dict(data["ledger"])
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
            log.warning("%s is not a period ledger (%s): starting a new one", self.path, exc)
            return None

    def save(self, ledger: HourLedger) -> None:
        self.write(self.encode(ledger))

    @staticmethod
    def encode(ledger: HourLedger) -> bytes:
        """The file's bytes (taken on the event loop: the ledger changes there)."""
        return json.dumps({"format": FORMAT, "ledger": ledger.to_dict()}, separators=(",", ":")).encode()

    def write(self, data: bytes) -> None:
        """Write and fsync (tens of milliseconds on a busy disk: off the event loop, see `PeriodTracker.flush`)."""
        replace_file(self.path, data)


class PeriodTracker:
    def __init__(self, rtc: Rtc, *, energy: bool = True, export: bool = True, rule: CapacityRule | None = None,
                 store: PeriodStore | None = None) -> None:
        self.calendar = MeterCalendar(rtc)
        self.energy = energy
        self.export = export
        self.rule = rule
        self.store = store
        self.ledger = (store.load() if store is not None else None) or HourLedger()
        keys = (period_keys(export) if energy else []) + (capacity_keys(rule) if rule is not None else [])
        self.fields: tuple[StateField, ...] = fields_for(keys, step_options(rule) if rule is not None else ())
        self._power: list[tuple[float, float]] = []  # (instant, P+ kW) since the ledger's horizon
        self._saved_at: float | None = None
        self._saved_hour: int | None = None
        self._dirty = False
        self._pending: bytes | None = None  # the ledger as it was at the last save point, not yet on disk
        self._writing = asyncio.Lock()  # one write at a time (a state read by a command and by the round at once)

    def update(self, readings: Mapping[str, Any], totals_time: str | None = None) -> dict[str, Any]:
        """Count one state's readings and give the fields to publish with it. `totals_time`: the instant the energy
        totals stand for when it is not the readings' `time` (HAN list 2: the hour boundary they were captured at).
        """
        now = instant(readings.get("time"))
        a_plus = _number(readings.get("a_plus"))
        if now is not None and a_plus is not None:
            at = instant(totals_time) if totals_time is not None else now
            if at is not None and self.ledger.observe(at, a_plus, _number(readings.get("a_minus"))):
                self._dirty = True
        power = _number(readings.get("p_plus"))
        if now is not None and power is not None and (not self._power or now > self._power[-1][0]):
            self._power.append((now, power / 1000))
        out: dict[str, Any] = {}
        anchor = self.ledger.anchor
        if anchor is not None:
            self.ledger.prune(oldest_needed(self.calendar, hour_ending_at_or_after(max(anchor.t, now or anchor.t))))
        if self.energy:
            out.update(period_fields(self.ledger, self.calendar, self.export))
        if self.rule is not None:
            if now is None:
                out.update(dict.fromkeys(capacity_keys(self.rule)))
                if "capacity_step" in out:  # an enum is never null (Home Assistant refuses it)
                    out["capacity_step"] = step_options(self.rule)[0]
            else:
                so_far = self.ledger.energy(hour_of(now))[0] + self._estimate(now)
                power_now = self._power[-1][1] if self._power and self._power[-1][0] == now else None
                out.update(capacity_fields(self.rule, self.ledger, self.calendar, now, so_far, power_now))
        if now is not None:
            self._maybe_save(now)
        return out

    def _estimate(self, now: float) -> float:
        """kWh imported this hour after the ledger's horizon, from the P+ readings (each held until the next, for
        at most POWER_HOLD_S): nothing where the totals are as fresh as the readings."""
        anchor = self.ledger.anchor
        start = max(anchor.t if anchor is not None else -math.inf, hour_of(now) * HOUR_S)
        samples = self._power
        while len(samples) > 1 and samples[1][0] <= start:
            del samples[0]  # wholly before the part still estimated
        total = 0.0
        for (t, kw), (t_next, _) in zip(samples, [*samples[1:], (now, 0.0)], strict=True):
            begin, end = max(t, start), min(t_next, now, t + POWER_HOLD_S)
            if end > begin:
                total += kw * (end - begin) / HOUR_S
        return total

    def _maybe_save(self, now: float) -> None:
        """At a save point, the ledger's bytes are taken (for `flush` to write): nothing waits for the disk here."""
        if self.store is None or not self._dirty:
            return
        hour = hour_of(now)
        if self._saved_at is not None and hour == self._saved_hour and now - self._saved_at < SAVE_EVERY_S:
            return
        self._pending, self._dirty = self.store.encode(self.ledger), False
        self._saved_at, self._saved_hour = now, hour

    async def flush(self) -> None:
        """Write what the last save point took, in a worker thread: an fsync on the event loop would hold every
        request and publication for its duration (docs/design-notes.md, "nothing waits for the disk")."""
        if self._pending is None or self.store is None:
            return
        async with self._writing:
            data, self._pending = self._pending, None  # the newest bytes, if another save point came meanwhile
            if data is None:
                return
            try:
                await asyncio.to_thread(self.store.write, data)
            except OSError as exc:  # a full or read-only disk must not stop the publications
                self._dirty = True  # write it again at the next save point
                log.warning("cannot save %s: %s", self.store.path, exc)

    def save(self) -> None:
        """Write the ledger now, on the way out (when anything changed since the last write)."""
        if self.store is None or not (self._dirty or self._pending is not None):
            return
        try:
            self.store.save(self.ledger)
            self._dirty, self._pending = False, None
        except OSError as exc:  # a full or read-only disk must not stop the publications
            log.warning("cannot save %s: %s", self.store.path, exc)


def trackers_for(meters: list[MeterConfig], exports: Mapping[str, bool], data_dir: Path) -> dict[str, PeriodTracker]:
    """A tracker for each listed meter with energy periods or a capacity tariff (a fleet's members have neither).
    `exports`: whether each meter has an export register (A−)."""
    return {
        m.id: PeriodTracker(Rtc(m.z11, m.z15), energy=m.energy_periods, export=exports.get(m.id, True),
                            rule=m.capacity_tariff, store=PeriodStore(data_dir / "periods" / f"{m.id}.json"))
        for m in meters if m.energy_periods or m.capacity_tariff is not None
    }
