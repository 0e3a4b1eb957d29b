"""The firmware image format (omnipower/firmware_image.py): round trips, every kind of refusal, and hypothesis
fuzzing of the parser and the verifier (any changed byte of a signed image is refused, nothing else escapes)."""

from __future__ import annotations

import hashlib
import struct

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from omnipower import firmware_image as fi
from omnipower.errors import CodecError, EncodeError

ED_KEY = ed25519.Ed25519PrivateKey.generate()
EC_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_KEY = ed25519.Ed25519PrivateKey.generate()


def signed(version: str = "5098736-U2", target: fi.Target = fi.Target.DIRECT, key: fi.PrivateKey = ED_KEY,
           payload: bytes = b"program " * 100) -> bytes:
    return fi.sign(fi.build(version, target, payload), key).to_bytes()


@pytest.mark.parametrize("key", [ED_KEY, EC_KEY], ids=["ed25519", "ecdsa-p256"])
def test_a_signed_image_round_trips_and_verifies(key: fi.PrivateKey) -> None:
    data = signed(key=key)
    image = fi.verify(data, key.public_key(), fi.Target.DIRECT)
    assert image.version == "5098736-U2" and image.payload == b"program " * 100
    assert image.to_bytes() == data and fi.parse(data) == image
    # The layout the module docstring documents, read here by hand.
    magic, fmt, target, flags, version, length, digest = struct.unpack_from(">4sBBH16sI32s", data)
    assert (magic, fmt, target, flags, length) == (b"OPFW", 1, 1, 0, 800)
    assert version.rstrip(b"\0") == b"5098736-U2" and digest == hashlib.sha256(b"program " * 100).digest()
    trailer = data[60 + 800:]
    assert trailer[:4] == b"OPSG" and trailer[4] == (1 if key is ED_KEY else 2)
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert trailer[5:13] == hashlib.sha256(spki).digest()[:8]
    assert int.from_bytes(trailer[13:15], "big") == len(trailer) - 15
    assert image.checksum == hashlib.sha256(data[:860]).digest()[:8].hex()


def test_signing_again_replaces_the_signature() -> None:
    once = fi.parse(signed())
    again = fi.sign(once, OTHER_KEY)
    assert fi.verify(again.to_bytes(), OTHER_KEY.public_key(), fi.Target.DIRECT).checksum == once.checksum


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]


REFUSALS = [
    ("unsigned", lambda d: d[:860], "not signed"),
    ("tampered", lambda d: _flip(d, 100), "does not match the digest"),
    ("bad_signature", lambda d: _flip(d, 9), "signature does not verify"),  # the version in the header
    ("bad_signature", lambda d: _flip(d, len(d) - 1), "signature does not verify"),
    ("truncated", lambda d: d[:30], "ends inside its 60-byte header"),
    ("truncated", lambda d: d[:500], "announces 860 bytes"),
    ("truncated", lambda d: d[:-1], "signature ends after 63 of its 64 bytes"),
    ("truncated", lambda d: d[:865], "signature block ends after 5"),
    ("malformed", lambda d: b"MZ" + d[2:], "not a firmware image"),
    ("malformed", lambda d: d + b"\0", "1 bytes follow the signature"),
    ("malformed", lambda d: d[:5] + b"\x07" + d[6:], "target 7 is unknown"),
]


@pytest.mark.parametrize(("code", "change", "message"), REFUSALS, ids=[f"{c}-{m[:12]}" for c, _, m in REFUSALS])
def test_each_kind_of_bad_image_is_refused_with_its_reason(code: str, change: object, message: str) -> None:
    assert callable(change)
    with pytest.raises(fi.ImageError, match=message) as caught:
        fi.verify(change(signed()), ED_KEY.public_key(), fi.Target.DIRECT)
    assert caught.value.code == code


def test_a_wrong_target_and_a_wrong_key_are_named() -> None:
    with pytest.raises(fi.ImageError, match="for a ct meter, this is a direct meter") as caught:
        fi.verify(signed(target=fi.Target.CT), ED_KEY.public_key(), fi.Target.DIRECT)
    assert caught.value.code == "wrong_target"
    with pytest.raises(fi.ImageError, match=f"signed by key {fi.key_id(OTHER_KEY.public_key()).hex()}") as caught:
        fi.verify(signed(key=OTHER_KEY), ED_KEY.public_key(), fi.Target.DIRECT)
    assert caught.value.code == "wrong_key"


def test_versions_and_payloads_the_format_cannot_carry_are_refused() -> None:
    for version in ("", "x" * 17, "a b", "-lead", "é"):
        with pytest.raises(EncodeError, match="firmware version"):
            fi.build(version, fi.Target.DIRECT, b"")
    with pytest.raises(EncodeError, match="at most"):
        fi.build("v1", fi.Target.DIRECT, bytes(fi.MAX_PAYLOAD + 1))


def test_keys_of_other_kinds_are_refused_by_name() -> None:
    rsa_pem = rsa.generate_private_key(65537, 1024).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with pytest.raises(ValueError, match="RSAPrivateKey: firmware is signed with Ed25519 or ECDSA P-256"):
        fi.load_private_key(rsa_pem)
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(ValueError, match="only P-256"):
        fi.load_public_key(p384)
    with pytest.raises(ValueError, match="not an unencrypted PEM private key"):
        fi.load_private_key(b"-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ValueError, match="not a PEM public key"):
        fi.load_public_key(b"hello")


def test_the_factory_image_is_the_same_for_the_same_version() -> None:
    a = fi.factory_image("5098736-U1", fi.Target.DIRECT)
    assert a.payload == fi.synthetic_payload("5098736-U1", fi.Target.DIRECT, fi.FACTORY_PAYLOAD_SIZE)
    assert a.checksum != fi.factory_image("5098736-U1", fi.Target.CT).checksum
    assert a.checksum != fi.factory_image("5098736-U2", fi.Target.DIRECT).checksum


# --- hypothesis ------------------------------------------------------------------------------------------------------
VERSIONS = st.from_regex(fi.VERSION_RE, fullmatch=True)


@settings(max_examples=150, deadline=None)
@given(VERSIONS, st.sampled_from(fi.Target), st.binary(max_size=2000), st.booleans())
def test_round_trip_of_any_image(version: str, target: fi.Target, payload: bytes, use_ec: bool) -> None:
    key = EC_KEY if use_ec else ED_KEY
    data = fi.sign(fi.build(version, target, payload), key).to_bytes()
    image = fi.verify(data, key.public_key(), target)
    assert (image.version, image.target, image.payload) == (version, target, payload)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_the_parser_takes_any_bytes_and_raises_only_image_errors(data: bytes) -> None:
    for attempt in (data, b"OPFW\x01\x01\x00\x00" + data):
        try:
            image = fi.parse(attempt)
        except fi.ImageError as exc:
            assert isinstance(exc, CodecError) and exc.code and str(exc)
            continue
        assert image.to_bytes() == attempt


SIGNED = signed(payload=bytes(range(256)) * 3)


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_any_changed_byte_of_a_signed_image_is_refused(data: st.DataObject) -> None:
    changed = bytearray(SIGNED)
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(changed) - 1))
        action = data.draw(st.sampled_from(["flip", "drop", "insert"]))
        if action == "flip":
            changed[at] ^= data.draw(st.integers(1, 255))
        elif action == "drop":
            del changed[at]
        else:
            changed.insert(at, data.draw(st.integers(0, 255)))
    if bytes(changed) == SIGNED:
        return
    with pytest.raises(fi.ImageError):
        fi.verify(bytes(changed), ED_KEY.public_key(), fi.Target.DIRECT)
