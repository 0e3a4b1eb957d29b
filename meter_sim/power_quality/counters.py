"""The §7.8 occurrence counters: their names in the [TD] column order of logger 1.1.99.98.17.255 (after RTC), and
the index each detector counts at. One list of running totals, shared by the detectors; the head-end takes
differences (§7.8 inferred)."""

from __future__ import annotations

from typing import Final

# Spelling as in [TD].
COUNTER_NAMES: Final = (
    "F1", "F2", "VoltageVariation_Low1", "VoltageVariation_Low2", "VoltageVariation_High",
    "RapidVoltageChanges", "Voltage_Unbalance", "Interupts_Long", "Interupts_Short",
    "THD_U_L1", "THD_U_L2", "THD_U_L3", "THD_I_L1", "THD_I_L2", "THD_I_L3", "Sags", "Swells",
)
F1, F2, LOW1, LOW2, HIGH, RVC, UNBALANCE, INTERRUPTS_LONG, INTERRUPTS_SHORT = range(9)
THD_U = 9  # + phase index
THD_I = 12
SAGS, SWELLS = 15, 16
assert COUNTER_NAMES[THD_U + 2] == "THD_U_L3" and COUNTER_NAMES[THD_I] == "THD_I_L1"
assert (COUNTER_NAMES[SAGS], COUNTER_NAMES[SWELLS]) == ("Sags", "Swells")
