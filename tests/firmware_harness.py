"""Keys and images for the firmware tests: a manufacturer key pair (Ed25519, as PEM: PKCS#8 private,
SubjectPublicKeyInfo public), signed, unsigned and spoilt images of our format, and a meter that trusts the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from meter_sim.config import MeterSimSettings
from meter_sim.meter import Meter
from omnipower import firmware_image as fi

KEY = ed25519.Ed25519PrivateKey.generate()
PUBLIC_PEM = KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
STRANGER = ed25519.Ed25519PrivateKey.generate()
NEW_VERSION = "5098736-V1"


def private_pem(key: ed25519.Ed25519PrivateKey = KEY) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def write_keys(folder: Path) -> tuple[Path, Path]:
    """KEY.pem (private, PKCS#8) and KEY.pub.pem (public, SubjectPublicKeyInfo) in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    private, public = folder / "KEY.pem", folder / "KEY.pub.pem"
    private.write_bytes(private_pem())
    public.write_text(PUBLIC_PEM)
    return private, public


def image(version: str = NEW_VERSION, target: fi.Target = fi.Target.DIRECT,
          key: ed25519.Ed25519PrivateKey | None = KEY, size: int = 3000) -> bytes:
    """A synthetic image of `size` payload bytes, signed by `key` (None: unsigned)."""
    built = fi.build(version, target, fi.synthetic_payload(version, target, size))
    return (fi.sign(built, key) if key is not None else built).to_bytes()


def tampered(data: bytes) -> bytes:
    """One bit of the payload changed."""
    return data[:100] + bytes([data[100] ^ 0x01]) + data[101:]


def with_key(settings: dict[str, Any] | None = None, public_key: str | None = PUBLIC_PEM) -> MeterSimSettings:
    doc = dict(settings or {})
    doc["firmware"] = {**doc.get("firmware", {}), "public_key": public_key}
    return MeterSimSettings.model_validate(doc)


def spoilt_images() -> dict[str, bytes]:
    """Each kind of image a meter refuses, by the reason code its event log gives."""
    good = image()
    return {"unsigned": image(key=None), "tampered": tampered(good), "truncated": good[:-40],
            "wrong_target": image(target=fi.Target.CT), "wrong_key": image(key=STRANGER),
            "malformed": b"MZ" + good[2:]}


def total_registers(meter: Meter) -> dict[str, Any]:
    """The registers that must survive a restart: every total, the breaker and the tariff plan."""
    from omnipower.registers import TOTAL_KEYS

    readings = meter.readings()
    return {k: v for k, v in readings.items() if k in TOTAL_KEYS or k in ("breaker", "debiting_periods")}
