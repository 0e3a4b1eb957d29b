"""A `dlms` source's firmware update (§8): a signed image sent to the meter through DLMS Image Transfer (class 18,
0.0.44.0.0.255) with the management client, as a head-end does it.

First the meter's readings (the version it runs, and what the gateway publishes while the line carries the image),
then in one association: image_transfer_enabled (the meter has a manufacturer key) and image_block_size;
image_transfer_initiate with the image's version as its identifier and its size, the blocks in order (a meter that
kept the blocks of the same image and size from an earlier attempt resumes: its first missing block is asked for
first), the missing-block query (image_first_not_transferred_block_number, and the transferred blocks' bit-string for
any gaps, sent again twice at the most), image_verify and image_activate. A refusal is answered with the meter's own
reason: the newest entry of its meter_status event log, read from that logger's event and detail objects. Then, in a
new association, the version the meter reports, which must be the image's.

Progress goes to the source's events (`FirmwareProgress`, on every whole percent of the blocks sent) for the
`firmware` topic. The transfer is bounded by the DLMS reply timeout for each request (the session's timeout grows
with the number of blocks), not by the gateway's usual command timeout.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from gateway.command_values import CommandError
from gateway.firmware_folder import FirmwareFolder, read_image
from gateway.sources.base import FirmwareProgress, Readings, SourceEvents
from omnipower import dlms_apdu as ap
from omnipower import firmware_image as fi
from omnipower.cosem import IMAGE_TRANSFER, LOGGER_FIELDS, CosemClass, logical_name_of_field
from omnipower.dlms import Data, DataType
from omnipower.loggers import logger_named

log = logging.getLogger(__name__)
T = TypeVar("T")
COMMAND = "firmware_update"
RESEND_ROUNDS = 2  # after the first pass, how often missing blocks are sent again before giving up
ACTION_OVERHEAD = 40  # an ACTION request's bytes around a block (tags, descriptor, lengths; ciphered +30)
_STATUS = ("not initiated", "initiated", "verification initiated", "verification successful", "verification failed",
           "activation initiated", "activation successful", "activation failed")
_METER_STATUS = logger_named("meter_status")
_EVENT_TYPE, _EVENT_DETAIL = (logical_name_of_field(f, _METER_STATUS) for f in LOGGER_FIELDS["event"])


class Association(Protocol):
    """What of the dlms source's association the transfer uses (gateway/sources/dlms.py `_Association`)."""

    max_pdu: int

    async def exchange(self, request: ap.Apdu) -> ap.Apdu: ...

    async def get(self, attribute: ap.AttributeDescriptor, access: ap.AccessSelection | None = None) -> Data: ...


Session = Callable[[Callable[[Any], Awaitable[Any]], float], Awaitable[Any]]


class _Refused(Exception):
    """The meter refused a step of the transfer; the message says which and why."""


class DlmsFirmware:
    def __init__(self, folder: FirmwareFolder, session: Session, read: Callable[[], Awaitable[Readings]],
                 events: SourceEvents, reply_timeout: float) -> None:
        """`session(work, timeout)` runs `work(association)` in one association; `read()` reads the meter's readings
        in an association of its own."""
        self.folder = folder
        self._session, self._read, self._events = session, read, events
        self.reply_timeout = reply_timeout
        self.busy = False
        self.meanwhile: Readings = {}  # published while the line carries the image: the meter is busy, not gone
        self._percent = -1

    async def update(self, image: str) -> dict[str, Any]:
        """The `firmware_update` command: the image named (a path, or "latest") sent, verified and activated."""
        if self.busy:
            raise CommandError(COMMAND, f"an update is already under way ({max(self._percent, 0)} % sent)")
        readings = await self._read()  # the version it runs, and what is published while the image goes
        old = readings.get("firmware_version")
        path = self.folder.resolve(image, old if isinstance(old, str) else None)
        data = await asyncio.to_thread(read_image, path)
        try:
            header = fi.parse_header(data)
        except fi.ImageError as exc:
            raise CommandError(f"{COMMAND}.image", f"{path} is not a firmware image: {exc}") from None
        blocks_at_most = len(data) // 64 + 1
        self.meanwhile, self.busy, self._percent, error = readings, True, -1, ""
        try:
            refused = await self._session(lambda association: self._transfer(association, data, header),
                                          self.reply_timeout * (10 + blocks_at_most))
            if refused:
                raise CommandError(COMMAND, refused + (f"; the meter still runs {old}" if old else ""))
            self.busy = False
            readings = await self._read()
            now = readings.get("firmware_version")
            if now != header.version:
                raise CommandError(COMMAND, f"the meter activated image {header.version} but reports {now!r}")
            return {"firmware_version": now, "firmware_checksum": readings.get("firmware_checksum"), "previous": old}
        except CommandError as exc:
            error = exc.reason
            raise
        except Exception as exc:
            error = str(exc) or type(exc).__name__
            raise
        finally:
            self.busy = False
            self._events.put_nowait(FirmwareProgress(False, None, error))

    # --- in the association ---------------------------------------------------------------------------------
    async def _transfer(self, association: Association, data: bytes, header: fi.ImageHeader) -> str:
        """The transfer; a refusal as its message ("" when there was none), so that the session ends normally
        (release, close)."""
        try:
            await self._send(association, data, header)
        except _Refused as exc:
            return str(exc)
        return ""

    async def _send(self, association: Association, data: bytes, header: fi.ImageHeader) -> None:
        enabled = await _attribute(association, 5)
        if enabled.value is not True:
            raise _Refused("the meter's image transfer is disabled (it has no manufacturer key, firmware.public_key)")
        size = await _attribute(association, 2)
        if not isinstance(size.value, int) or size.value < 1:
            raise _Refused(f"the meter gives no usable image_block_size ({size.value!r})")
        block_size = size.value
        if block_size + ACTION_OVERHEAD > association.max_pdu:
            raise _Refused(f"the meter's image blocks of {block_size} bytes do not fit the negotiated PDU "
                           f"({association.max_pdu} bytes)")
        count = -(-len(data) // block_size)
        await self._act(association, 1, Data.structure(Data(DataType.OCTET_STRING, header.version.encode()),
                                                        Data(DataType.DOUBLE_LONG_UNSIGNED, len(data))))
        self._progress(0, count)
        first = await _attribute(association, 4)  # a resumed transfer starts at its first missing block
        start = first.value if isinstance(first.value, int) and 0 <= first.value <= count else 0
        for n in range(start, count):
            await self._block(association, data, n, block_size)
            self._progress(n + 1, count)
        for _ in range(RESEND_ROUNDS):
            first = await _attribute(association, 4)
            if first.value == count:
                break
            sent = await _attribute(association, 3)
            bits = sent.value if isinstance(sent.value, tuple) else ()
            for n in range(count):
                if n >= len(bits) or not bits[n]:
                    await self._block(association, data, n, block_size)
        else:
            first = await _attribute(association, 4)
            if first.value != count:
                raise _Refused(f"the meter still misses block {first.value!r} of {count}")
        self._events.put_nowait(FirmwareProgress(True, 100))
        await self._act(association, 3, Data(DataType.INTEGER, 0))
        await self._act(association, 4, Data(DataType.INTEGER, 0))

    async def _block(self, association: Association, data: bytes, n: int, block_size: int) -> None:
        block = data[n * block_size:(n + 1) * block_size]
        await self._act(association, 2, Data.structure(Data(DataType.DOUBLE_LONG_UNSIGNED, n),
                                                       Data(DataType.OCTET_STRING, block)))

    async def _act(self, association: Association, method: int, parameters: Data) -> None:
        answer = await association.exchange(ap.ActionRequestNormal(
            method=ap.MethodDescriptor(CosemClass.IMAGE_TRANSFER, IMAGE_TRANSFER, method), parameters=parameters))
        if not isinstance(answer, ap.ActionResponseNormal):
            raise _Refused(f"the meter answered {_METHODS[method]} with {type(answer).__name__}")
        if answer.result is ap.ActionResult.SUCCESS:
            return
        status = await _attribute(association, 6)
        shown = (_STATUS[status.value] if isinstance(status.value, int) and 0 <= status.value < len(_STATUS)
                 else repr(status.value))
        why = await _meter_reason(association)
        raise _Refused(f"the meter refused {_METHODS[method]} ({answer.result.name.lower()}; image transfer status: "
                       f"{shown}){why}")

    def _progress(self, sent: int, count: int) -> None:
        percent = sent * 100 // count
        if percent != self._percent:
            self._percent = percent
            self._events.put_nowait(FirmwareProgress(True, percent))


_METHODS = {1: "image_transfer_initiate", 2: "image_block_transfer", 3: "image_verify", 4: "image_activate"}


async def _attribute(association: Association, attribute: int) -> Data:
    return await association.get(ap.AttributeDescriptor(CosemClass.IMAGE_TRANSFER, IMAGE_TRANSFER, attribute))


async def _meter_reason(association: Association) -> str:
    """The newest meter_status event, when it is about the firmware: ": <its detail>" (else nothing)."""
    try:
        kind = await association.get(ap.AttributeDescriptor(CosemClass.DATA, _EVENT_TYPE, 2))
        detail = await association.get(ap.AttributeDescriptor(CosemClass.DATA, _EVENT_DETAIL, 2))
    except Exception:  # the reason is a courtesy: the refusal stands without it
        log.debug("the meter's last event could not be read", exc_info=True)
        return ""
    if not isinstance(kind.value, str) or not kind.value.startswith("firmware_") or not isinstance(detail.value, str):
        return ""
    try:
        fields = json.loads(detail.value)
    except ValueError:
        return ""
    text = fields.get("detail") or fields.get("reason") if isinstance(fields, dict) else None
    return f": {text}" if text else ""
