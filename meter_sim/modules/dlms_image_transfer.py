"""The meter's Image Transfer object (class 18, 0.0.44.0.0.255): the DLMS face of its firmware (§8,
meter_sim/firmware.py). The DLMS server (meter_sim/modules/dlms_server.py) hands it the object's attributes to read and
its methods to carry out; only the management client reaches the methods (the server checks that first).

Attributes (Blue Book, version 0): 2 image_block_size (double-long-unsigned, `BLOCK_SIZE`), 3
image_transferred_blocks_status (bit-string, block 0 first), 4 image_first_not_transferred_block_number, 5
image_transfer_enabled (TRUE with a manufacturer key configured; read-only: the key is configuration, not a switch a
head-end turns), 6 image_transfer_status (enum 0–7), 7 image_to_activate_info (an array of {size, identification,
signature} of the verified image; empty before one is). Methods: 1 image_transfer_initiate ({identifier octet-string,
size double-long-unsigned}), 2 image_block_transfer ({number double-long-unsigned, block octet-string}), 3
image_verify and 4 image_activate (integer 0). The transfer's steps are synchronous here: verify answers with its
outcome, and a successful activate is answered once the meter restarted on the new firmware.

What a refused call gets: parameters of another shape `type-unmatched`; a step the process is not at (a block before
initiate, verify or activate with nothing to act on) `temporary-failure`; an identifier, size, block number or block
length the transfer cannot take, a transfer while image transfer is disabled, and an image that fails verification
`other-reason` — the status then says verification (4) or activation (7) failed, and the meter's event log why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from meter_sim.firmware import Firmware, FirmwareRefused, TransferStatus
from meter_sim.meter import Meter
from omnipower import dlms_apdu as ap
from omnipower.dlms import INTEGER_TYPES, Data, DataType

log = logging.getLogger(__name__)


class Association(Protocol):
    """What of the server's association this object needs: the meter, the client (for the log) and the hook that
    saves the meter after a change."""

    meter: Meter
    client: int

    def on_change(self) -> None: ...


class _TypeUnmatched(Exception):
    pass


_HOLDS_IMAGE = frozenset({TransferStatus.VERIFICATION_SUCCESSFUL, TransferStatus.ACTIVATION_INITIATED,
                          TransferStatus.ACTIVATION_SUCCESSFUL})


def _to_activate(firmware: Firmware) -> Data:
    image = firmware.transfer.image
    if image is None or firmware.transfer.status not in _HOLDS_IMAGE:
        return Data.array()
    signature = image.signature.value if image.signature is not None else b""
    return Data.array(Data.structure(Data(DataType.DOUBLE_LONG_UNSIGNED, len(image.to_bytes())),
                                     Data(DataType.OCTET_STRING, image.version.encode()),
                                     Data(DataType.OCTET_STRING, signature)))


_ATTRIBUTES: dict[int, Callable[[Firmware], Data]] = {
    2: lambda fw: Data(DataType.DOUBLE_LONG_UNSIGNED, fw.transfer.block_size),
    3: lambda fw: Data(DataType.BIT_STRING, fw.transfer.transferred),
    4: lambda fw: Data(DataType.DOUBLE_LONG_UNSIGNED, fw.transfer.first_missing),
    5: lambda fw: Data(DataType.BOOLEAN, fw.enabled),
    6: lambda fw: Data(DataType.ENUM, int(fw.transfer.status)),
    7: _to_activate,
}


def read(association: Association, attribute: int) -> Data:
    """Attribute 2–7 of the Image Transfer object, as the meter's firmware has it now."""
    return _ATTRIBUTES[attribute](association.meter.firmware)


def _fields(parameters: Data | None, types: tuple[DataType, ...]) -> tuple[object, ...]:
    """The values of a structure of exactly these types (_TypeUnmatched otherwise)."""
    items = parameters.value if parameters is not None and parameters.type is DataType.STRUCTURE else None
    if not isinstance(items, tuple) or len(items) != len(types):
        raise _TypeUnmatched(f"expected a structure of {len(types)}")
    for item, kind in zip(items, types, strict=True):
        if not isinstance(item, Data) or item.type is not kind:
            raise _TypeUnmatched(f"expected {', '.join(t.name.lower() for t in types)}")
    return tuple(item.value for item in items if isinstance(item, Data))


def _no_parameter(parameters: Data | None) -> None:
    """image_verify and image_activate take integer (0); an absent parameter is taken as that."""
    if parameters is not None and parameters.type is not DataType.NULL_DATA and parameters.type not in INTEGER_TYPES:
        raise _TypeUnmatched("expected integer (0)")


def _initiate(meter: Meter, parameters: Data | None) -> None:
    identifier, size = _fields(parameters, (DataType.OCTET_STRING, DataType.DOUBLE_LONG_UNSIGNED))
    assert isinstance(identifier, bytes) and isinstance(size, int)
    meter.firmware.initiate(identifier, size)


def _block(meter: Meter, parameters: Data | None) -> None:
    number, value = _fields(parameters, (DataType.DOUBLE_LONG_UNSIGNED, DataType.OCTET_STRING))
    assert isinstance(number, int) and isinstance(value, bytes)
    meter.firmware.transfer.block(number, value)


def _verify(meter: Meter, parameters: Data | None) -> None:
    _no_parameter(parameters)
    meter.firmware.verify()


def _activate(meter: Meter, parameters: Data | None) -> None:
    _no_parameter(parameters)
    meter.activate_firmware()


_METHODS: dict[int, Callable[[Meter, Data | None], None]] = {1: _initiate, 2: _block, 3: _verify, 4: _activate}
_REFUSED = {"state": ap.ActionResult.TEMPORARY_FAILURE, "parameter": ap.ActionResult.OTHER_REASON,
            "disabled": ap.ActionResult.OTHER_REASON, "image": ap.ActionResult.OTHER_REASON}
_CHANGES = frozenset({3, 4})  # verify and activate write the event log (and activate the firmware): save the meter


def act(association: Association, method_id: int, parameters: Data | None) -> ap.ActionResult:
    """Method 1–4 of the Image Transfer object, for the management client."""
    meter = association.meter
    try:
        _METHODS[method_id](meter, parameters)
    except _TypeUnmatched as exc:
        log.info("client %d: image transfer method %d refused (type-unmatched): %s", association.client, method_id,
                 exc)
        return ap.ActionResult.TYPE_UNMATCHED
    except FirmwareRefused as exc:
        result = _REFUSED[exc.kind]
        log.info("client %d: image transfer method %d refused (%s): %s", association.client, method_id,
                 result.name.lower(), exc)
        if method_id in _CHANGES:
            association.on_change()
        return result
    if method_id in _CHANGES:
        association.on_change()
    if method_id == 4:
        log.info("client %d: firmware %s activated; the meter restarted", association.client,
                 meter.firmware.active.version)
    return ap.ActionResult.SUCCESS
