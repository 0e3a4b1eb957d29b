"""The meter's firmware (§8 of the facts digest): the identity it runs, and the image transfer that replaces it.

(inferred, §8) Transfer → verify → activate → reboot, as DLMS Image Transfer (class 18, Blue Book) models it:
`ImageTransfer` is that process as data and transitions — initiate (an identifier and a size), blocks of
`BLOCK_SIZE` bytes numbered from 0, the missing-block query (the transferred blocks as bits, the first one missing),
verify, activate — with the standard's `image_transfer_status`. Pure: no clock, no I/O; the meter
(meter_sim/meter.py) logs what happens and restarts on the new firmware, the DLMS server's Image Transfer object
(meter_sim/modules/dlms_image_transfer.py) is its wire face.

The meter verifies an image (omnipower/firmware_image.py) against the manufacturer's public key of its settings
(`firmware.public_key`; without one, image transfer is disabled): a malformed, truncated, tampered, unsigned,
wrongly signed or wrong-target image fails verification, and the meter goes on running what it ran. Events (the
successor's event IDs, the facts digest's Appendix A): 17 firmware ready for activation (verified), 18 firmware
activated.

The version a meter is delivered with follows its firmware line (the digest's "Firmware" line: direct SW 5098736,
CT 50981040, their Variant 2 lines 50981173 and 50981165, revisions up to U1 and, with the HAN module, AE6); its
checksum is that of the image `omnipower-sim firmware build` makes of the version (`factory_image`), so that the
two agree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, NoReturn

from meter_sim.refusals import MeterRefused
from omnipower.firmware_image import (
    HEADER_SIZE,
    MAX_PAYLOAD,
    FirmwareImage,
    ImageError,
    PublicKey,
    Target,
    factory_image,
    parse_header,
    verify,
)

# The image a meter takes in one transfer: header, the largest payload, a generous signature block.
MAX_IMAGE = HEADER_SIZE + MAX_PAYLOAD + 256
# One block per ACTION request: 512 bytes and the request's ~30 bytes (ciphered ~60) fit the DLMS server's 1024-byte
# receive PDU (meter_sim/modules/dlms_server.py SERVER_MAX_PDU; a test holds them together).
BLOCK_SIZE = 512
MAX_IDENTIFIER = 32
EVENT_READY = 17  # the successor's event IDs (facts digest Appendix A): firmware ready for activation
EVENT_ACTIVATED = 18  # firmware activated
# (variant 2, CT) → the firmware a meter of that line is delivered with (the facts digest's "Firmware" line)
FACTORY_VERSIONS: dict[tuple[bool, bool], str] = {
    (False, False): "5098736-U1", (False, True): "50981040-U1",
    (True, False): "50981173-AE6", (True, True): "50981165-AE6",
}


class TransferStatus(IntEnum):
    """image_transfer_status (Blue Book, class 18 attribute 6)."""

    NOT_INITIATED = 0
    INITIATED = 1
    VERIFICATION_INITIATED = 2
    VERIFICATION_SUCCESSFUL = 3
    VERIFICATION_FAILED = 4
    ACTIVATION_INITIATED = 5
    ACTIVATION_SUCCESSFUL = 6
    ACTIVATION_FAILED = 7


class FirmwareRefused(MeterRefused):
    """A step of the image transfer the meter does not take now; `kind`: "state" (not in this step of the process),
    "parameter" (an identifier, size, block number or block the process cannot take), "disabled" (no key) or
    "image" (the image failed verification)."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind


class ImageRefused(FirmwareRefused):
    """The image failed verification: `code` says why (omnipower.firmware_image.ImageError's codes, "incomplete",
    "identifier")."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__("image", reason)
        self.code = code


@dataclass(frozen=True, slots=True)
class FirmwareIdentity:
    version: str
    checksum: str  # 16 hex digits: omnipower.firmware_image.checksum_of

    @classmethod
    def of(cls, image: FirmwareImage) -> FirmwareIdentity:
        return cls(image.version, image.checksum)


def factory_version(variant2: bool, ct: bool) -> str:
    return FACTORY_VERSIONS[(variant2, ct)]


class ImageTransfer:
    """One image transfer at a time (a new initiate starts another, or resumes the same image and size)."""

    def __init__(self, block_size: int = BLOCK_SIZE) -> None:
        self.block_size = block_size
        self.status = TransferStatus.NOT_INITIATED
        self.identifier = b""
        self.size = 0
        self._blocks: list[bytes | None] = []
        self.image: FirmwareImage | None = None  # verified, ready to activate

    @property
    def block_count(self) -> int:
        return len(self._blocks)

    @property
    def transferred(self) -> tuple[bool, ...]:
        """image_transferred_blocks_status: one bit per block, block 0 first."""
        return tuple(b is not None for b in self._blocks)

    @property
    def first_missing(self) -> int:
        """image_first_not_transferred_block_number (the block count once every block is in)."""
        return next((n for n, b in enumerate(self._blocks) if b is None), len(self._blocks))

    def initiate(self, identifier: bytes, size: int) -> None:
        """image_transfer_initiate: the same identifier and size as the transfer under way resume it (its blocks
        kept); anything else starts afresh."""
        if not 1 <= len(identifier) <= MAX_IDENTIFIER:
            raise FirmwareRefused("parameter", f"image identifier of {len(identifier)} bytes: 1–{MAX_IDENTIFIER}")
        if not 1 <= size <= MAX_IMAGE:
            raise FirmwareRefused("parameter", f"image size {size}: 1–{MAX_IMAGE} bytes")
        if (self.status is TransferStatus.INITIATED and identifier == self.identifier and size == self.size):
            return
        self.identifier, self.size, self.image = identifier, size, None
        self._blocks = [None] * ((size + self.block_size - 1) // self.block_size)
        self.status = TransferStatus.INITIATED

    def block(self, number: int, value: bytes) -> None:
        """image_block_transfer: block `number` (from 0) of exactly `block_size` bytes (the last one: the rest)."""
        if self.status is not TransferStatus.INITIATED:
            raise FirmwareRefused("state", f"no transfer initiated (status {self.status.name.lower()})")
        if not 0 <= number < len(self._blocks):
            raise FirmwareRefused("parameter", f"block {number}: the image has blocks 0–{len(self._blocks) - 1}")
        expected = min(self.block_size, self.size - number * self.block_size)
        if len(value) != expected:
            raise FirmwareRefused("parameter", f"block {number} of {len(value)} bytes: expected {expected}")
        self._blocks[number] = bytes(value)

    def verify(self, public_key: PublicKey, target: Target) -> FirmwareImage:
        """image_verify: the image whole, its identifier its version, and `omnipower.firmware_image.verify`.
        FirmwareRefused("state") when there is nothing to verify; ("image") with status verification failed."""
        if self.status in (TransferStatus.VERIFICATION_SUCCESSFUL, TransferStatus.ACTIVATION_SUCCESSFUL):
            assert self.image is not None
            return self.image
        if self.status is TransferStatus.VERIFICATION_FAILED:
            raise FirmwareRefused("image", "the image failed verification; initiate the transfer again")
        if self.status is not TransferStatus.INITIATED:
            raise FirmwareRefused("state", f"no image to verify (status {self.status.name.lower()})")
        missing = [n for n, b in enumerate(self._blocks) if b is None]
        if missing:
            return self._failed("incomplete", f"{len(missing)} of {len(self._blocks)} blocks not transferred "
                                f"(first: {missing[0]})")
        data = b"".join(b for b in self._blocks if b is not None)
        try:
            image = verify(data, public_key, target)
        except ImageError as exc:
            return self._failed(exc.code, str(exc))
        if self.identifier != image.version.encode():
            return self._failed("identifier", f"the transfer's identifier {self.identifier!r} does not name the "
                                f"image's version {image.version!r}")
        self.image, self.status = image, TransferStatus.VERIFICATION_SUCCESSFUL
        return image

    def _failed(self, code: str, reason: str) -> NoReturn:
        self.status = TransferStatus.VERIFICATION_FAILED
        raise ImageRefused(code, reason)


class Firmware:
    """The firmware part of the meter: what it runs (saved with its permanent memory) and the transfer under way
    (RAM: a restart of the simulator abandons it, and the head-end initiates again).

    `log(type, **detail)` writes to the meter's event log; the meter restarts on an activated image itself."""

    def __init__(self, factory: str, target: Target, public_key: PublicKey | None,
                 log: Callable[..., None] = lambda type, **detail: None) -> None:
        self.target = target
        self.public_key = public_key
        self.active = FirmwareIdentity.of(factory_image(factory, target))
        self.transfer = ImageTransfer()
        self._log = log

    @property
    def enabled(self) -> bool:
        """image_transfer_enabled: only with a manufacturer key to verify images against."""
        return self.public_key is not None

    def initiate(self, identifier: bytes, size: int) -> None:
        if self.public_key is None:
            raise FirmwareRefused("disabled", "image transfer is disabled: the meter has no manufacturer key "
                                  "(firmware.public_key)")
        self.transfer.initiate(identifier, size)

    def verify(self) -> FirmwareImage:
        """image_verify; a failure is logged (the attempt, why, and that the old firmware runs on)."""
        if self.public_key is None:
            raise FirmwareRefused("disabled", "image transfer is disabled: no manufacturer key")
        fresh = self.transfer.status is TransferStatus.INITIATED
        try:
            image = self.transfer.verify(self.public_key, self.target)
        except ImageRefused as exc:
            self._log("firmware_verification_failed", reason=exc.code, detail=str(exc),
                      identifier=self.transfer.identifier.decode("latin-1"), running=self.active.version)
            raise
        if fresh:
            self._log("firmware_ready", event_id=EVENT_READY, version=image.version, checksum=image.checksum)
        return image

    def activate(self) -> FirmwareIdentity:
        """image_activate: verifies first when that was not done; the identity now active (the meter restarts)."""
        status = self.transfer.status
        if status in (TransferStatus.NOT_INITIATED, TransferStatus.ACTIVATION_SUCCESSFUL):
            raise FirmwareRefused("state", f"no image to activate (status {status.name.lower()})")
        if status in (TransferStatus.VERIFICATION_FAILED, TransferStatus.ACTIVATION_FAILED):
            self.transfer.status = TransferStatus.ACTIVATION_FAILED
            self._log("firmware_activation_failed", reason="not verified", running=self.active.version)
            raise FirmwareRefused("image", "the image failed verification: nothing to activate")
        image = self.verify()
        self.transfer.status = TransferStatus.ACTIVATION_INITIATED
        previous, self.active = self.active, FirmwareIdentity.of(image)
        self.transfer.status = TransferStatus.ACTIVATION_SUCCESSFUL
        self._log("firmware_activated", event_id=EVENT_ACTIVATED, version=self.active.version,
                  checksum=self.active.checksum, previous=previous.version)
        return self.active

    def load(self, data: bytes) -> None:
        """A whole image at once (the in-process path: initiate and every block), named by its own version (one
        whose header names none is still taken, for verification to say what is wrong with it)."""
        try:
            identifier = parse_header(data).version.encode()
        except ImageError:
            identifier = b"unnamed"
        self.initiate(identifier, len(data))
        size = self.transfer.block_size
        for n in range(self.transfer.block_count):
            self.transfer.block(n, data[n * size:(n + 1) * size])

    # --- permanent memory -------------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        return {"version": self.active.version, "checksum": self.active.checksum}

    def restore(self, state: dict[str, Any]) -> None:
        self.active = FirmwareIdentity(str(state["version"]), str(state["checksum"]))
