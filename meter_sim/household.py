"""A believable household behind the meter: base load, appliance events, daily and weekly rhythm,
optional PV and EV charging, inductive and capacitive reactive power, uneven phases.

Deterministic: every random draw comes from one `random.Random` seeded by the meter's seed, drawn
in the same order for the same sequence of 1-second steps. Per-step work is small: appliance sums
are updated only when an appliance starts or stops, the rhythm and PV once a minute.
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass
from typing import Any

from meter_sim.config import HouseholdSettings
from meter_sim.persistence import rng_state_from_json, rng_state_to_json

PHASES = (0, 1, 2)

# Hourly activity (0–1) on working days and weekends: morning and evening peaks.
_WEEKDAY = (0.08, 0.05, 0.05, 0.05, 0.05, 0.1, 0.45, 0.8, 0.55, 0.25, 0.2, 0.25,
            0.3, 0.25, 0.2, 0.25, 0.45, 0.8, 1.0, 0.95, 0.8, 0.6, 0.35, 0.15)
_WEEKEND = (0.1, 0.07, 0.05, 0.05, 0.05, 0.05, 0.1, 0.3, 0.6, 0.75, 0.7, 0.75,
            0.8, 0.65, 0.55, 0.55, 0.6, 0.85, 1.0, 0.95, 0.8, 0.65, 0.45, 0.2)


@dataclass(frozen=True, slots=True)
class Appliance:
    name: str
    phases: tuple[int, ...]
    watts: float  # per phase it uses
    pf: float
    inductive: bool  # False = capacitive (electronics, LED drivers)
    minutes: tuple[float, float]  # duration range
    per_day: float  # starts per day at full activity

    @property
    def var(self) -> float:
        q = self.watts * math.tan(math.acos(self.pf))
        return q if self.inductive else -q


APPLIANCES: tuple[Appliance, ...] = (
    Appliance("kettle", (0,), 2000, 1.0, True, (2, 4), 4.0),
    Appliance("microwave", (1,), 1150, 0.92, True, (2, 6), 2.5),
    Appliance("oven", (0, 1, 2), 1100, 1.0, True, (30, 60), 0.7),
    Appliance("hob", (1, 2), 1000, 0.98, True, (10, 30), 1.8),
    Appliance("washing_machine", (2,), 900, 0.85, True, (60, 120), 0.7),
    Appliance("dishwasher", (0,), 1500, 0.95, True, (25, 45), 0.9),
    Appliance("tumble_dryer", (1,), 2200, 0.9, True, (45, 75), 0.35),
    Appliance("television", (2,), 110, 0.6, False, (60, 240), 1.6),
    Appliance("lighting", (0, 1, 2), 60, 0.9, False, (60, 300), 2.2),
    Appliance("computer", (1,), 140, 0.65, False, (60, 360), 1.3),
    Appliance("vacuum_cleaner", (0,), 1400, 0.8, True, (10, 30), 0.35),
    Appliance("hair_dryer", (2,), 1700, 1.0, True, (3, 10), 0.9),
)
_BASE_W = (45.0, 32.0, 38.0)  # standby per phase
_BASE_ELECTRONIC = (1.0, 0.0, 1.0)  # share of the standby that is switched-mode electronics (L2: a pump)
_BASE_VAR = (-12.0, 6.0, -8.0)  # electronics (capacitive) on L1/L3, a pump motor on L2
_FRIDGE = ((0, 105.0, 70.0, 24 * 60, 0.35), (1, 90.0, 60.0, 30 * 60, 0.4))  # phase, W, var, cycle s, duty


def expected_annual_kwh() -> float:
    """Mean yearly consumption of the unscaled household (no PV, no EV), from the tables above:
    used to scale the model so that `annual_kwh` is what the meter registers on average."""
    mean_activity = (5 * sum(_WEEKDAY) + 2 * sum(_WEEKEND)) / (7 * 24)
    appliance_wh = sum(
        a.per_day * mean_activity * a.watts * len(a.phases) * (a.minutes[0] + a.minutes[1]) / 2 / 60
        for a in APPLIANCES
    )
    base_wh = 24 * (sum(_BASE_W) + sum(w * duty for _, w, _, _, duty in _FRIDGE))
    return 365.25 * (appliance_wh + base_wh) / 1000.0


NOMINAL_ANNUAL_KWH = expected_annual_kwh()


class Household:
    """Produces per-phase active power `p` and reactive power `q` (W, var; export negative)."""

    def __init__(self, settings: HouseholdSettings, seed: int) -> None:
        self.settings = settings
        self.rng = random.Random(seed)
        self.scale = settings.annual_kwh / NOMINAL_ANNUAL_KWH
        self.p = [0.0, 0.0, 0.0]
        self.q = [0.0, 0.0, 0.0]
        self.pv_w = 0.0  # total PV output (W, positive)
        self._load_p = [_BASE_W[i] * self.scale for i in PHASES]
        self._load_q = [_BASE_VAR[i] * self.scale for i in PHASES]
        self.electronic_p = [_BASE_W[i] * _BASE_ELECTRONIC[i] * self.scale for i in PHASES]  # of _load_p
        self._running: list[tuple[float, int]] = []  # heap of (end time, appliance index)
        self._rate = 0.0  # appliance starts per second at the current activity
        self._cum: list[float] = []  # cumulative start rates for choosing an appliance
        self._pv_clear = 0.0
        self._cloud = 1.0
        self._cloud_target = 1.0
        self._weather = 1.0
        self._ev_until = 0.0
        self._ev_day = -1
        self._fridge_phase = [self.rng.random() for _ in _FRIDGE]
        self._fridge_p = [0.0, 0.0, 0.0]
        self._fridge_q = [0.0, 0.0, 0.0]
        self._jitter = 0.0
        # Scenario inputs: consumption × load_scale + extra_w (spread over the phases), PV × pv_scale
        self.load_scale = 1.0
        self.extra_w = 0.0
        self.pv_scale = 1.0
        self.ev_w = 0.0  # per phase, as composed last

    # --- once a minute ---------------------------------------------------------------------
    def minute(self, t: float, local_hour: float, weekday: int, day_of_year: int, tick: bool = True) -> None:
        """Once a minute (`tick`), or to rebuild derived state after a restore (no random draws)."""
        profile = _WEEKEND if weekday >= 5 else _WEEKDAY
        h0 = int(local_hour) % 24
        frac = local_hour - int(local_hour)
        activity = profile[h0] * (1 - frac) + profile[(h0 + 1) % 24] * frac
        rates = [a.per_day * activity * self.scale / 86400.0 for a in APPLIANCES]
        self._cum = list(_accumulate(rates))
        self._rate = self._cum[-1]
        self._update_pv(t, day_of_year, tick)
        if tick:
            self._update_ev(t, local_hour, weekday, day_of_year)
        self._update_fridges(t)

    def _update_pv(self, t: float, day_of_year: int, tick: bool) -> None:
        s = self.settings
        if s.pv_kwp <= 0:
            self.pv_w = 0.0
            return
        if tick:
            if int(t) % 86400 < 60:  # a new day's weather: sunny, mixed or overcast
                self._weather = (1.0, 0.65, 0.25)[min(2, int(self.rng.random() * 3))]
            if int(t) % 900 < 60:  # clouds drift every 15 minutes
                self._cloud_target = min(1.0, self._weather * (0.7 + 0.6 * self.rng.random()))
            self._cloud += (self._cloud_target - self._cloud) * 0.2
        decl = math.radians(23.44) * math.sin(2 * math.pi * (284 + day_of_year) / 365.0)
        solar_hour = ((t % 86400) / 3600.0 + s.longitude / 15.0) % 24
        hour_angle = math.radians(15.0 * (solar_hour - 12.0))
        lat = math.radians(s.latitude)
        sin_el = math.sin(lat) * math.sin(decl) + math.cos(lat) * math.cos(decl) * math.cos(hour_angle)
        self._pv_clear = s.pv_kwp * 850.0 * max(0.0, sin_el) ** 1.15
        self.pv_w = self._pv_clear * self._cloud

    def _update_ev(self, t: float, local_hour: float, weekday: int, day_of_year: int) -> None:
        kw = self.settings.ev_charger_kw
        if kw <= 0 or self._ev_day == day_of_year or not 17.0 <= local_hour < 17.02:
            return
        self._ev_day = day_of_year
        if self.rng.random() < (0.55 if weekday < 5 else 0.3):
            self._ev_until = t + 3600 * (1 + 2 * self.rng.random())

    def _update_fridges(self, t: float) -> None:
        # Fridge compressors: on for `duty` of each cycle, phase-shifted by the seed.
        self._fridge_p = [0.0, 0.0, 0.0]
        self._fridge_q = [0.0, 0.0, 0.0]
        for (phase, w, var, cycle, duty), shift in zip(_FRIDGE, self._fridge_phase, strict=True):
            if ((t / cycle) + shift) % 1.0 < duty:
                self._fridge_p[phase] += w * self.scale
                self._fridge_q[phase] += var * self.scale

    # --- every second ----------------------------------------------------------------------
    def step(self, t: float) -> None:
        rng = self.rng
        running = self._running
        while running and running[0][0] <= t:
            _, idx = heapq.heappop(running)
            self._switch(idx, -1.0)
        r = rng.random()
        if r < self._rate:
            idx = _pick(self._cum, r)
            app = APPLIANCES[idx]
            lo, hi = app.minutes
            heapq.heappush(running, (t + 60.0 * (lo + (hi - lo) * rng.random()), idx))
            self._switch(idx, 1.0)
        # Small load noise (±1.5 %) so that readings move every second.
        self._jitter += (rng.random() - 0.5) * 0.006 - self._jitter * 0.05
        self.compose(t)

    def compose(self, t: float) -> None:
        """Per-phase P and Q from the present state (no random draws)."""
        k = (1.0 + self._jitter) * self.load_scale
        ev = self.settings.ev_charger_kw * 1000.0 / 3.0 if t < self._ev_until else 0.0
        self.ev_w = ev
        ev += self.extra_w / 3.0
        pv = self.pv_w * self.pv_scale / 3.0
        lp, lq, fp, fq, p, q = self._load_p, self._load_q, self._fridge_p, self._fridge_q, self.p, self.q
        for i in PHASES:
            p[i] = (lp[i] + fp[i]) * k + ev - pv
            q[i] = (lq[i] + fq[i]) * k

    def _switch(self, idx: int, sign: float) -> None:
        app = APPLIANCES[idx]
        for ph in app.phases:
            self._load_p[ph] += sign * app.watts
            self._load_q[ph] += sign * app.var
            if not app.inductive:  # the capacitive ones are the switched-mode electronics
                self.electronic_p[ph] += sign * app.watts

    def linear_and_electronic(self, i: int) -> tuple[float, float]:
        """Phase i's consumption split into linear loads (heaters, motors, the EV charger's PFC stage) and
        switched-mode electronics (W), for the current harmonics; PV export is not a load."""
        k = (1.0 + self._jitter) * self.load_scale
        electronic = self.electronic_p[i] * k
        total = (self._load_p[i] + self._fridge_p[i]) * k + self.extra_w / 3.0 + self.ev_w
        return max(total - electronic, 0.0), max(electronic, 0.0)

    # --- persistence -----------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        return {
            "rng": rng_state_to_json(self.rng.getstate()),
            "running": [list(x) for x in self._running],
            "cloud": [self._cloud, self._cloud_target, self._weather],
            "ev": [self._ev_until, self._ev_day],
            "fridge": self._fridge_phase,
            "jitter": self._jitter,
            "inputs": [self.load_scale, self.extra_w, self.pv_scale],
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.rng.setstate(rng_state_from_json(state["rng"]))
        for end, idx in state["running"]:
            heapq.heappush(self._running, (float(end), int(idx)))
            self._switch(int(idx), 1.0)
        self._cloud, self._cloud_target, self._weather = state["cloud"]
        self._ev_until, self._ev_day = state["ev"]
        self._fridge_phase = list(state["fridge"])
        self._jitter = float(state["jitter"])
        self.load_scale, self.extra_w, self.pv_scale = (float(x) for x in state.get("inputs", (1.0, 0.0, 1.0)))


def _accumulate(values: list[float]) -> list[float]:
    total, out = 0.0, []
    for v in values:
        total += v
        out.append(total)
    return out


def _pick(cumulative: list[float], r: float) -> int:
    for i, c in enumerate(cumulative):
        if r < c:
            return i
    return len(cumulative) - 1

