"""A COSEM logical name (an OBIS code, A.B.C.D.E.F) as text and as the six bytes it travels as."""

from __future__ import annotations


def logical_name(text: str) -> bytes:
    """"1.1.1.8.0.255" → six bytes."""
    parts = [int(p) for p in text.split(".")]
    if len(parts) != 6 or not all(0 <= p <= 255 for p in parts):
        raise ValueError(f"logical name {text!r}: six numbers 0–255 separated by dots")
    return bytes(parts)


def logical_name_text(raw: bytes) -> str:
    """Six bytes → "1.1.1.8.0.255"."""
    return ".".join(str(b) for b in raw)
