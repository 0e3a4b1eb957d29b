"""The few MQTT 3.1.1 packets a publish-only connection needs, as bytes out and events in (sans-IO: no socket,
no clock). The state stream (gateway/state_stream.py) is its one user: CONNECT, PUBLISH, PINGREQ and DISCONNECT
out; CONNACK, PUBACK and PINGRESP in. Anything else a broker sends to such a client is a protocol error.
"""

from __future__ import annotations

from dataclasses import dataclass

CONNECT, CONNACK, PUBLISH, PUBACK, PINGREQ, PINGRESP, DISCONNECT = 1, 2, 3, 4, 12, 13, 14
PINGREQ_PACKET = bytes([PINGREQ << 4, 0])
DISCONNECT_PACKET = bytes([DISCONNECT << 4, 0])
MAX_REMAINING = 268_435_455  # the largest remaining length four bytes can say (MQTT 3.1.1 §2.2.3)
CONNACK_REASONS = {
    1: "unacceptable protocol version", 2: "identifier rejected", 3: "server unavailable",
    4: "bad user name or password", 5: "not authorized",
}


class ProtocolError(Exception):
    """The broker sent what MQTT 3.1.1 does not allow here."""


@dataclass(frozen=True, slots=True)
class ConnAck:
    return_code: int  # 0: accepted


@dataclass(frozen=True, slots=True)
class PubAck:
    packet_id: int


@dataclass(frozen=True, slots=True)
class PingResp:
    pass


Event = ConnAck | PubAck | PingResp


def remaining_length(n: int) -> bytes:
    if not 0 <= n <= MAX_REMAINING:
        raise ValueError(f"packet too large for MQTT: {n} bytes")
    out = bytearray()
    while True:
        n, byte = divmod(n, 128)
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(data: bytes) -> bytes:
    if len(data) > 0xFFFF:
        raise ValueError(f"string too long for MQTT: {len(data)} bytes")
    return len(data).to_bytes(2, "big") + data


def connect(client_id: str, keepalive: int, username: str | None = None, password: str | None = None) -> bytes:
    """CONNECT with a clean session (nothing of a publish-only client is worth keeping on the broker)."""
    flags = 0x02
    payload = _string(client_id.encode())
    if username is not None:
        flags |= 0x80
        payload += _string(username.encode())
        if password is not None:
            flags |= 0x40
            payload += _string(password.encode())
    body = _string(b"MQTT") + bytes([4, flags]) + keepalive.to_bytes(2, "big") + payload
    return bytes([CONNECT << 4]) + remaining_length(len(body)) + body


def publish(topic: bytes, payload: bytes, qos: int, retain: bool, packet_id: int = 0) -> bytes:
    """PUBLISH at QoS 0 or 1 (a packet id 1–65535 with QoS 1)."""
    if qos == 1 and not 1 <= packet_id <= 0xFFFF:
        raise ValueError(f"packet id {packet_id} out of 1–65535")
    if qos not in (0, 1):
        raise ValueError(f"QoS {qos} not supported here")
    head = (PUBLISH << 4) | (qos << 1) | int(retain)
    var = _string(topic) + (packet_id.to_bytes(2, "big") if qos else b"")
    return bytes([head]) + remaining_length(len(var) + len(payload)) + var + payload


class Reader:
    """Bytes from the broker in, whole packets out as events; keeps a partial packet for the next feed."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Event]:
        buf = self._buf
        buf += data
        events: list[Event] = []
        pos = 0
        while (header := _header(buf, pos)) is not None:
            length, body = header
            if body + length > len(buf):
                break
            events.append(_event(buf[pos], bytes(buf[body:body + length])))
            pos = body + length
        del buf[:pos]
        return events


def _header(buf: bytearray, pos: int) -> tuple[int, int] | None:
    """(remaining length, where the body starts) of the packet at `pos`; None while the header is incomplete."""
    length, shift = 0, 0
    for i in range(pos + 1, min(pos + 5, len(buf))):
        byte = buf[i]
        length |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return length, i + 1
        shift += 7
    if len(buf) >= pos + 5:
        raise ProtocolError("remaining length longer than four bytes")
    return None


def _event(first: int, body: bytes) -> Event:
    kind, flags = first >> 4, first & 0x0F
    if kind == CONNACK and flags == 0 and len(body) == 2:
        if body[0] & 0xFE:
            raise ProtocolError(f"CONNACK with reserved flags set: {body[0]:#04x}")
        return ConnAck(body[1])
    if kind == PUBACK and flags == 0 and len(body) == 2:
        return PubAck(int.from_bytes(body, "big"))
    if kind == PINGRESP and flags == 0 and not body:
        return PingResp()
    raise ProtocolError(f"unexpected packet for a publish-only client: type {kind}, flags {flags:#x}, "
                        f"{len(body)} bytes")
