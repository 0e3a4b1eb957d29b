"""A meter state file saved by an earlier version still restores, and the meter carries on as that version did.

`data/meter_state_v1.json` was written once by the Meter of commit 583ccb3, before the meter's components saved
and restored their own parts, and is never regenerated. It holds the settings, the saved state (a meter with
prepayment, smart disconnect, module pulse outputs, tariff command, load control, a tamper episode, an overvoltage
trip, an outage and an open single-value excursion behind it), and what that code made of it: per key of
`to_state()`, a digest of the state just after restoring it 60 s later and after two more hours, plus the readings
then; and the same for an early save, which lacks the parts added later (derived below by stripping them).
A deliberate change of the model changes the digests: then check the change and record new ones.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from meter_sim.clock import SteppedClock
from meter_sim.config import MeterSimSettings
from meter_sim.meter import Meter
from meter_sim.persistence import rng_state_from_json

FIXTURE = json.loads((Path(__file__).parent / "data" / "meter_state_v1.json").read_text())
# Parts of the state that saves made before they existed lack (the meter restores them fresh); such a save kept
# only the P+ peak, under "peak", instead of the demand registers.
LATER_PARTS = ("debiting_periods", "load_control", "power_quality", "restore_when_allowed", "smart_disconnect",
               "prepayment", "tamper", "display", "s0", "s0_wh", "pulse_outputs", "pulse_count", "module_inputs",
               "clock_offset", "mono", "inputs", "last_midnight", "tariffs")
# Parts and readings added after the fixture was written: a save without them restores them as the meter was
# delivered (the firmware it runs, no reconfiguration scheduled), and the rest carries on as the fixture recorded.
NEWER_PARTS = ("firmware", "scheduled")
NEWER_READINGS = ("firmware_version", "firmware_checksum")


def without_newer(values: dict[str, Any], newer: tuple[str, ...] = NEWER_PARTS) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k not in newer}


def digest(state: dict[str, Any]) -> dict[str, str]:
    """A short digest of each part of a state, as JSON (so a difference names the part). Random generator states
    are taken in the form the fixture's version saved them (nested lists), whatever form saves them now."""
    parts = json.loads(json.dumps(state))
    for part in parts.values():
        if isinstance(part, dict) and "rng" in part:
            part["rng"] = json.loads(json.dumps(rng_state_from_json(part["rng"])))
    return {k: hashlib.sha256(json.dumps(v, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]
            for k, v in parts.items()}


def restored(state: dict[str, Any]) -> Meter:
    return Meter("fixture", MeterSimSettings(**FIXTURE["settings"]), SteppedClock(FIXTURE["restored_at"]),
                 state=json.loads(json.dumps(state)))


def test_a_state_saved_by_the_earlier_version_restores_and_carries_on_as_it_did() -> None:
    saved = FIXTURE["state"]
    meter = restored(saved)
    delivered = Meter("fixture", meter.settings, SteppedClock(FIXTURE["restored_at"])).to_state()
    assert all(meter.to_state()[part] == delivered[part] for part in NEWER_PARTS)
    state = without_newer(meter.to_state())
    assert sorted(state) == sorted(saved)  # the same keys: the file format is unchanged
    assert state["energy"] == saved["energy"] and state["demand"] == saved["demand"]
    assert state["prepayment"] == saved["prepayment"] and state["pulse_outputs"] == saved["pulse_outputs"]
    assert digest(state) == FIXTURE["after_restore_digest"]
    meter.set_phase_voltage(3, None)  # the fixture forced L3 to 250 V when it was saved
    meter.advance_to(meter.t + 2 * 3600)
    later = FIXTURE["two_hours_later"]
    assert without_newer(json.loads(json.dumps(meter.readings())), NEWER_READINGS) == later["readings"]
    assert digest(without_newer(meter.to_state())) == later["state_digest"]


def test_an_early_save_without_the_later_parts_restores_them_fresh() -> None:
    early = {k: v for k, v in FIXTURE["state"].items() if k not in LATER_PARTS and k != "demand"}
    early["peak"] = FIXTURE["state"]["demand"]["peaks"]["p_plus"]
    meter = restored(early)
    assert meter.demand.peak("p_plus").value == early["peak"][0]
    assert meter.tariffs.override == 2  # from "tariff_override", which early saves held instead of "tariffs"
    assert digest(without_newer(meter.to_state())) == FIXTURE["early_save"]["after_restore_digest"]
    meter.set_phase_voltage(3, None)
    meter.advance_to(meter.t + 3600)
    assert digest(without_newer(meter.to_state())) == FIXTURE["early_save"]["hour_later_digest"]


def test_a_state_without_its_registers_is_refused_rather_than_started_from_zero() -> None:
    broken = {k: v for k, v in FIXTURE["state"].items() if k not in ("energy", "breaker")}
    with pytest.raises(ValueError, match="meter state lacks energy, breaker"):
        restored(broken)
