"""The firmware image format of ours, and its verification. Pure: bytes and keys in, images or errors out.

§8 of the facts digest: OMNIPOWER firmware is uploaded remotely (transfer → verify → activate → reboot); Kamstrup
publishes no image format, so this one is ours. An image is a **signed container**, one file that is transferred
whole (DLMS Image Transfer carries one image, so the signature travels inside it; `omnipower-sim firmware sign`
rewrites the file with the signature appended):

    offset  size  field
    0       4     magic "OPFW"
    4       1     format version, 1
    5       1     target: 1 direct meter (SW 5098736…), 2 CT meter (50981040…): the digest's two lines
    6       2     flags, 0 (reserved)
    8       16    version: 1–16 printable ASCII characters ([A-Za-z0-9._+-]), NUL-padded
    24      4     payload length N (big-endian, at most MAX_PAYLOAD)
    28      32    SHA-256 of the payload
    60      N     payload
    60+N          signature block (absent in an unsigned image):
                  4 magic "OPSG" · 1 algorithm (1 Ed25519, 2 ECDSA P-256 with SHA-256, DER) ·
                  8 key id (the first 8 bytes of SHA-256 of the signer's SubjectPublicKeyInfo, DER) ·
                  2 signature length L · L signature over bytes 0 … 60+N (header and payload)

Nothing may follow the signature block. The firmware's **checksum** (what the meter reports beside its version) is the
first 8 bytes of SHA-256 over header and payload, in hex: it names the firmware, whoever signed it.

`parse` checks the structure (and the payload digest: a changed payload is "tampered" before any key is looked at);
`verify` also checks the target and the signature against the manufacturer's public key. Every refusal is an
`ImageError` whose `code` says which kind (the meter logs it): malformed, truncated, tampered, unsigned, wrong_key,
bad_signature, wrong_target.
"""

from __future__ import annotations

import functools
import hashlib
import re
import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar

from cryptography.exceptions import InvalidSignature
from cryptography.exceptions import UnsupportedAlgorithm as UnsupportedKey
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from omnipower.errors import ChecksumError, CodecError, EncodeError, LengthError, TruncatedError

__all__ = [
    "HEADER_SIZE",
    "MAX_PAYLOAD",
    "Algorithm",
    "FirmwareImage",
    "ImageError",
    "ImageHeader",
    "PrivateKey",
    "PublicKey",
    "Signature",
    "Target",
    "build",
    "checksum_of",
    "factory_image",
    "key_id",
    "load_private_key",
    "load_public_key",
    "parse",
    "parse_header",
    "sign",
    "verify",
]

MAGIC = b"OPFW"
SIGNATURE_MAGIC = b"OPSG"
FORMAT_VERSION = 1
_HEADER = struct.Struct(">4sBBH16sI32s")
HEADER_SIZE = _HEADER.size  # 60
_SIGNATURE_HEAD = struct.Struct(">4sB8sH")
MAX_PAYLOAD = 1 << 20  # 1 MiB: far above a meter's program memory, a bound for what a meter buffers
CHECKSUM_BYTES = 8
VERSION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,15}")


class Target(IntEnum):
    """Which meters an image is for: the data sheet names one firmware line for direct and one for CT meters."""

    DIRECT = 1
    CT = 2


class Algorithm(IntEnum):
    ED25519 = 1
    ECDSA_P256_SHA256 = 2


PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey


class ImageError(CodecError):
    """Not an image the meter may run; `code` names the kind of refusal."""

    code: ClassVar[str] = "malformed"


class ImageTruncated(ImageError, TruncatedError):
    code = "truncated"


class ImageTooLong(ImageError, LengthError):
    code = "malformed"


class ImageTampered(ImageError, ChecksumError):
    code = "tampered"


class ImageUnsigned(ImageError):
    code = "unsigned"


class ImageWrongKey(ImageError):
    code = "wrong_key"


class ImageBadSignature(ImageError):
    code = "bad_signature"


class ImageWrongTarget(ImageError):
    code = "wrong_target"


@dataclass(frozen=True, slots=True)
class ImageHeader:
    target: Target
    version: str
    payload_length: int
    payload_digest: bytes

    def to_bytes(self) -> bytes:
        return _HEADER.pack(MAGIC, FORMAT_VERSION, self.target, 0, self.version.encode("ascii"),
                            self.payload_length, self.payload_digest)


@dataclass(frozen=True, slots=True)
class Signature:
    algorithm: Algorithm
    key_id: bytes
    value: bytes

    def to_bytes(self) -> bytes:
        return _SIGNATURE_HEAD.pack(SIGNATURE_MAGIC, self.algorithm, self.key_id, len(self.value)) + self.value


@dataclass(frozen=True, slots=True)
class FirmwareImage:
    header: ImageHeader
    payload: bytes
    signature: Signature | None = None

    @property
    def version(self) -> str:
        return self.header.version

    @property
    def target(self) -> Target:
        return self.header.target

    @property
    def signed_part(self) -> bytes:
        return self.header.to_bytes() + self.payload

    @property
    def checksum(self) -> str:
        return checksum_of(self.signed_part)

    def to_bytes(self) -> bytes:
        return self.signed_part + (self.signature.to_bytes() if self.signature is not None else b"")


def checksum_of(signed_part: bytes) -> str:
    """The firmware's checksum: the first 8 bytes of SHA-256 over header and payload, in hex."""
    return hashlib.sha256(signed_part).digest()[:CHECKSUM_BYTES].hex()


def check_version(version: str) -> str:
    if not isinstance(version, str) or not VERSION_RE.fullmatch(version):
        raise EncodeError(f"firmware version {version!r}: 1–16 characters of A–Z a–z 0–9 . _ + -, "
                          "starting with a letter or digit")
    return version


def build(version: str, target: Target, payload: bytes) -> FirmwareImage:
    """An unsigned image of `payload` (EncodeError for a version or payload the format cannot carry)."""
    check_version(version)
    if len(payload) > MAX_PAYLOAD:
        raise EncodeError(f"payload of {len(payload)} bytes: at most {MAX_PAYLOAD}")
    header = ImageHeader(Target(target), version, len(payload), hashlib.sha256(payload).digest())
    return FirmwareImage(header, bytes(payload))


def synthetic_payload(version: str, target: Target, size: int) -> bytes:
    """A stand-in program of `size` bytes, the same for the same version and target (the simulator runs no code):
    SHA-256 in counter mode over the version and target."""
    seed = f"OMNIPOWER firmware {version} target {int(target)}".encode()
    blocks = (hashlib.sha256(seed + n.to_bytes(4, "big")).digest() for n in range((size + 31) // 32))
    return b"".join(blocks)[:size]


FACTORY_PAYLOAD_SIZE = 16 * 1024


@functools.cache
def factory_image(version: str, target: Target, size: int = FACTORY_PAYLOAD_SIZE) -> FirmwareImage:
    """The image `omnipower-sim firmware build --version V` makes: what a meter delivered with firmware V runs, so
    that its checksum is the one that build reports."""
    return build(version, target, synthetic_payload(version, target, size))


def parse_header(data: bytes) -> ImageHeader:
    """The fixed header of an image (ImageError when `data` does not start with one)."""
    if len(data) < HEADER_SIZE:
        if not MAGIC.startswith(bytes(data[:4])):
            raise ImageError(f"not a firmware image: starts with {bytes(data[:4])!r}, not {MAGIC!r}")
        raise ImageTruncated(f"image of {len(data)} bytes ends inside its {HEADER_SIZE}-byte header")
    magic, fmt, target, flags, raw_version, length, digest = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise ImageError(f"not a firmware image: starts with {magic!r}, not {MAGIC!r}")
    if fmt != FORMAT_VERSION:
        raise ImageError(f"image format {fmt} is not {FORMAT_VERSION}")
    try:
        kind = Target(target)
    except ValueError:
        raise ImageError(f"image target {target} is unknown (1 direct meter, 2 CT meter)") from None
    if flags:
        raise ImageError(f"image flags {flags:#06x}: reserved, must be 0")
    version = raw_version.rstrip(b"\0")
    try:
        check_version(version.decode("ascii"))
    except (UnicodeDecodeError, EncodeError):
        raise ImageError(f"image version field {raw_version!r} is not 1–16 printable characters") from None
    if b"\0" in version:
        raise ImageError(f"image version field {raw_version!r} has a NUL inside the version")
    if length > MAX_PAYLOAD:
        raise ImageError(f"image payload length {length} exceeds {MAX_PAYLOAD}")
    return ImageHeader(kind, version.decode("ascii"), length, digest)


def parse(data: bytes) -> FirmwareImage:
    """An image as the bytes hold it, signed or not: header, payload (its digest checked) and signature block."""
    header = parse_header(data)
    end = HEADER_SIZE + header.payload_length
    if len(data) < end:
        raise ImageTruncated(f"image of {len(data)} bytes: its header announces {end} bytes before any signature")
    payload = bytes(data[HEADER_SIZE:end])
    if hashlib.sha256(payload).digest() != header.payload_digest:
        raise ImageTampered("the payload does not match the digest in its header (tampered or corrupted)")
    rest = bytes(data[end:])
    if not rest:
        return FirmwareImage(header, payload)
    if len(rest) < _SIGNATURE_HEAD.size:
        if not SIGNATURE_MAGIC.startswith(rest[:4]):
            raise ImageError(f"{len(rest)} bytes after the payload are no signature block")
        raise ImageTruncated(f"the signature block ends after {len(rest)} of its {_SIGNATURE_HEAD.size}-byte head")
    magic, algorithm, kid, length = _SIGNATURE_HEAD.unpack_from(rest)
    if magic != SIGNATURE_MAGIC:
        raise ImageError(f"{len(rest)} bytes after the payload are no signature block (magic {magic!r})")
    try:
        alg = Algorithm(algorithm)
    except ValueError:
        raise ImageError(f"signature algorithm {algorithm} is unknown (1 Ed25519, 2 ECDSA P-256)") from None
    have = len(rest) - _SIGNATURE_HEAD.size
    if have < length:
        raise ImageTruncated(f"the signature ends after {have} of its {length} bytes")
    if have > length:
        raise ImageTooLong(f"{have - length} bytes follow the signature: an image ends with its signature")
    return FirmwareImage(header, payload, Signature(alg, kid, rest[_SIGNATURE_HEAD.size:]))


def key_id(public_key: PublicKey) -> bytes:
    """The first 8 bytes of SHA-256 of the key's SubjectPublicKeyInfo (DER)."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).digest()[:8]


def _algorithm_of(key: PrivateKey | PublicKey) -> Algorithm:
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return Algorithm.ED25519
    if not isinstance(key.curve, ec.SECP256R1):
        raise EncodeError(f"an ECDSA key on {key.curve.name}: only P-256 (secp256r1) signs firmware")
    return Algorithm.ECDSA_P256_SHA256


def sign(image: FirmwareImage, private_key: PrivateKey) -> FirmwareImage:
    """The image with a signature by `private_key` (Ed25519, or ECDSA P-256 with SHA-256), replacing any it had."""
    algorithm = _algorithm_of(private_key)
    data = image.signed_part
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        value = private_key.sign(data)
    else:
        value = private_key.sign(data, ec.ECDSA(hashes.SHA256()))
    return FirmwareImage(image.header, image.payload, Signature(algorithm, key_id(private_key.public_key()), value))


def verify(data: bytes, public_key: PublicKey, target: Target) -> FirmwareImage:
    """The image in `data` if the meter may run it: well formed, for `target`, and signed by `public_key`."""
    image = parse(data)
    if image.signature is None:
        raise ImageUnsigned(f"image {image.version} is not signed")
    algorithm = _algorithm_of(public_key)
    expected = key_id(public_key)
    if image.signature.key_id != expected:
        raise ImageWrongKey(f"image {image.version} is signed by key {image.signature.key_id.hex()}, the meter "
                            f"trusts key {expected.hex()}")
    if image.signature.algorithm is not algorithm:
        raise ImageBadSignature(f"image {image.version}: a {image.signature.algorithm.name} signature, the meter's "
                                f"key is {algorithm.name}")
    try:
        if isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(image.signature.value, image.signed_part)
        else:
            public_key.verify(image.signature.value, image.signed_part, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise ImageBadSignature(f"image {image.version}: the signature does not verify with the meter's key "
                                "(tampered, or signed by another key)") from None
    if image.target is not target:
        raise ImageWrongTarget(f"image {image.version} is for a {image.target.name.lower()} meter, this is a "
                               f"{target.name.lower()} meter")
    return image


def load_private_key(pem: bytes) -> PrivateKey:
    """A PKCS#8 (or traditional) PEM private key, Ed25519 or ECDSA P-256 (ValueError naming what is wrong)."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedKey) as exc:
        raise ValueError(f"not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError(f"a {type(key).__name__}: firmware is signed with Ed25519 or ECDSA P-256")
    _algorithm_of(key)
    return key


def load_public_key(pem: bytes) -> PublicKey:
    """A SubjectPublicKeyInfo PEM public key, Ed25519 or ECDSA P-256 (ValueError naming what is wrong)."""
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError, UnsupportedKey) as exc:
        raise ValueError(f"not a PEM public key (SubjectPublicKeyInfo): {exc}") from None
    if not isinstance(key, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey):
        raise ValueError(f"a {type(key).__name__}: firmware is verified with Ed25519 or ECDSA P-256")
    try:
        _algorithm_of(key)
    except EncodeError as exc:
        raise ValueError(str(exc)) from None
    return key


def target_of_meter(ct: bool) -> Target:
    return Target.CT if ct else Target.DIRECT

