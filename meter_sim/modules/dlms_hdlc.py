"""The meter's DLMS/COSEM server over the connection-oriented HDLC link (IEC 62056-46): the framing of the optical
port and of RS-485 lines, served on a serial device, a pty or TCP (as head-ends that speak HDLC over a terminal
server or a modem expect).

`converse_hdlc` only moves bytes: the line's into an `HdlcServerLink` (omnipower/hdlc_link.py), each complete APDU
to the client's `DlmsAssociation` (meter_sim/modules/dlms_server.py), and the answer back down, segmented by the
link. SNRM and DISC end the client's association; the next AARQ starts a new one.

Addresses (no OMNIPOWER document publishes its own, so the common DLMS practice, §10.2):
- upper HDLC address = logical device 1, the one the wrapper serves;
- lower HDLC address (physical) = 16 + the last two digits of the DLMS serial number (16..115), so that meters
  sharing a multi-drop bus differ; the one-byte form (upper alone; dlms-cosem's `HdlcTransport` with its default
  `server_physical_address=None`) reaches the meter whatever its physical address;
- client address = the client's SAP: 16 public, 1 management.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from meter_sim.meter import Meter, serial_number
from meter_sim.modules.dlms_server import LOGICAL_DEVICE, SERVER_MAX_PDU, DlmsAssociation, ServerSecurity
from omnipower.hdlc_link import Connected, Disconnected, HdlcServerLink, Request, Transmit

log = logging.getLogger(__name__)

_READ_SIZE = 4096


def physical_address(meter_id: str) -> int:
    """The meter's lower HDLC address: 16 + the last two digits of its serial number."""
    return 16 + serial_number(meter_id) % 100


async def converse_hdlc(meter: Meter, reader: asyncio.StreamReader, write: Callable[[bytes], None],
                        on_change: Callable[[], None] = lambda: None,
                        security: ServerSecurity | None = None) -> None:
    """One line (a TCP connection, or a serial port or pty for its whole life) of the HDLC transport. Malformed
    frames are dropped by the link; a Variant 2 meter reads the line and answers nothing, as the data sheet says."""
    if not meter.settings.type.supports_dlms_query:
        while await reader.read(_READ_SIZE):
            pass
        return
    link = HdlcServerLink(LOGICAL_DEVICE, physical_address(meter.id), max_request=SERVER_MAX_PDU)
    associations: dict[int, DlmsAssociation] = {}
    while data := await reader.read(_READ_SIZE):
        for event in link.feed(data):
            match event:
                case Transmit(frame):
                    write(frame)
                case Connected(client) | Disconnected(client):
                    associations.pop(client, None)
                case Request(client, apdu):
                    association = associations.get(client)
                    if association is None:
                        association = associations[client] = DlmsAssociation(meter, client, on_change, security)
                    meter.update()
                    for frame in link.respond(client, association.handle(apdu)):
                        write(frame)
        for error in link.take_errors():
            log.debug("dlms hdlc: frame dropped: %s", error)
