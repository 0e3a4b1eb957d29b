"""The one root of "the meter refuses this command": callers that only report a refusal catch `MeterRefused`.

Each component raises its own subclass (BreakerRefused, LoadControlRefused, PrepaymentRefused, TariffRefused), so
a caller that treats one kind differently can still tell them apart.
"""

from __future__ import annotations


class MeterRefused(Exception):
    """A command the meter's present state or configuration does not allow; the message says why."""
