"""Detector state as plain JSON: NaN and ±inf are stored as null, and read back with their default."""

from __future__ import annotations

import math
from typing import Any


def num(x: float) -> float | None:
    return x if math.isfinite(x) else None


def flt(x: Any, default: float) -> float:
    return default if x is None else float(x)


def opt_int(x: Any) -> int | None:
    return None if x is None else int(x)
