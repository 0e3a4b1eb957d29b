"""A simulated IMST iM871A USB stick: what its host reads from its serial line, as the stick's state makes it
(omnipower/im871a.py has the interface and where its facts come from).

The stick answers the device management requests a host sends at start-up: PING, GET_DEVICEINFO, GET_CONFIG,
SET_CONFIG (RAM only, or saved too with the NVM flag), RESET (back to the saved configuration) and
FACTORY_RESET (saved and running configuration back to `FACTORY`). A SET_CONFIG it cannot take (unparsable,
a device or link mode it does not know, a flag other than 0/1) is answered with status 0x01 and changes
nothing. Other requests (operation modes, system status, RTC, AES, low power, sending, tests) are not
emulated: they go unanswered and are kept in `unanswered`, as are damaged messages (a bad CRC16).

It hears the meter only as a collector ("other" device mode) in a link mode that receives C1 (C1 or C2, frame
format A or B): then each telegram comes out as RADIOLINK_MSG_WMBUSMSG_IND with the RSSI and the 32-bit time
stamp if the configuration attaches them. The time stamp is the stick's clock in whole seconds: here the
simulated clock's Unix time (mod 2³²) that the caller passes in, sans-IO; `rtc_control` is kept and reported
but does not change it (the spec's wording on the stick's clock was not at hand). Answers and indications
carry the CRC16 (captures of real sticks show it on indications: "a5 82 03 …", "a5 c2 03 …").

`FACTORY` is this simulation's configuration of a new stick, not IMST's (whose defaults we could not read): a
collector already in C1-TF-B, so that a host that only listens hears the meter; RSSI and time stamp off (a
capture of a real stick set to a C mode by link mode alone came without RSSI); firmware 0x13 speaking HCI
1.6 (wmbusmeters: firmware 0x13 goes with spec 1.6, 0x14 added the combined C/T mode, not emulated).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from omnipower.errors import CodecError
from omnipower.im871a import (
    DEVMGMT,
    FACTORY_RESET_REQ,
    GET_CONFIG_REQ,
    GET_DEVICEINFO_REQ,
    IM871A,
    LINK_MODES,
    OTHER,
    PING_REQ,
    RADIOLINK,
    RADIOLINK_WMBUSMSG_IND,
    RESET_REQ,
    SET_CONFIG_REQ,
    STATUS_ERROR,
    STATUS_OK,
    DeviceInfo,
    HciMessage,
    Im871aConfig,
    Im871aReader,
    SetConfig,
    config_problem,
    encode_config,
    encode_hci,
)

FIRMWARE_VERSION = 0x13
HCI_VERSION = 0x16
IMS = (ord("I") - 64) << 10 | (ord("M") - 64) << 5 | (ord("S") - 64)  # IMST's manufacturer code, 0x25B3
FACTORY = Im871aConfig(
    device_mode=OTHER, link_mode=0x07, c_field=0x44, manufacturer_id=IMS, device_id=0, version=0x01,
    device_type=0x36,  # EN 13757-3: radio converter (system side)
    radio_channel=1, radio_power_level=7, radio_data_rate=0, radio_rx_window=50, auto_power_saving=0,
    auto_rssi=0, auto_rx_timestamp=0, led_control=1, rtc_control=0,
)


class Im871aStick:
    def __init__(self, unique_id: int, nvm: Im871aConfig | None = None) -> None:
        """`unique_id`: the stick's device id (device information, and its link-layer id); `nvm`: what its
        non-volatile memory holds at power-up (default `FACTORY`)."""
        self.unique_id = unique_id & 0xFFFFFFFF
        self.factory = FACTORY.updated(Im871aConfig(device_id=self.unique_id))
        self.nvm = self.factory.updated(nvm) if nvm is not None else self.factory
        self.config = self.nvm  # what it runs with
        self.unanswered: deque[str] = deque(maxlen=64)
        self._reader = Im871aReader()

    @property
    def hears_c1(self) -> bool:
        mode = LINK_MODES.get(self.config.link_mode or 0)
        return self.config.device_mode == OTHER and mode is not None and mode.hears_c1

    def host(self, data: bytes, now: float) -> bytes:
        """What the stick writes back for the bytes its host wrote (any chunking)."""
        del now  # no device management answer depends on the time
        out = bytearray()
        for message in self._reader.feed(data):
            answer = _ANSWERS.get((message.endpoint, message.message_id))
            if answer is None:
                self.unanswered.append(f"{message.name} (not emulated)")
                continue
            out += encode_hci(HciMessage(DEVMGMT, message.message_id + 1, answer(self, message.payload)))
        self.unanswered.extend(f"damaged: {error}" for error in self._reader.take_errors())
        return bytes(out)

    def hear(self, frame: bytes, now: float, rssi: int) -> bytes:
        """What the stick writes when a telegram (receiver form: L first, no CRCs) is on the air."""
        if not self.hears_c1:
            return b""
        config = self.config
        return encode_hci(HciMessage(RADIOLINK, RADIOLINK_WMBUSMSG_IND, frame[1:],
                                     timestamp=int(now) & 0xFFFFFFFF if config.auto_rx_timestamp else None,
                                     rssi=rssi if config.auto_rssi else None))

    # --- the answers, one per request (payload in, response payload out) ---

    def _pong(self, payload: bytes) -> bytes:
        del payload
        return b""

    def _device_info(self, payload: bytes) -> bytes:
        del payload
        return DeviceInfo(IM871A, self.config.device_mode or 0, FIRMWARE_VERSION, HCI_VERSION,
                          self.unique_id).encode()

    def _get_config(self, payload: bytes) -> bytes:
        del payload
        return encode_config(self.config)

    def _set_config(self, payload: bytes) -> bytes:
        try:
            change = SetConfig.decode(payload)
        except CodecError as exc:
            self.unanswered.append(f"SET_CONFIG_REQ refused: {exc}")
            return bytes([STATUS_ERROR])
        if problem := config_problem(change.config):
            self.unanswered.append(f"SET_CONFIG_REQ refused: {problem}")
            return bytes([STATUS_ERROR])
        self.config = self.config.updated(change.config)
        if change.save:
            self.nvm = self.nvm.updated(change.config)
        return bytes([STATUS_OK])

    def _reset(self, payload: bytes) -> bytes:
        del payload
        self.config = self.nvm  # the answer goes out first; the stick then restarts from what it saved
        return bytes([STATUS_OK])

    def _factory_reset(self, payload: bytes) -> bytes:
        del payload  # pyWirelessMbus sends a reboot flag here; the stick's answer does not depend on it
        self.nvm = self.config = self.factory
        return bytes([STATUS_OK])


_ANSWERS: dict[tuple[int, int], Callable[[Im871aStick, bytes], bytes]] = {
    (DEVMGMT, PING_REQ): Im871aStick._pong,
    (DEVMGMT, GET_DEVICEINFO_REQ): Im871aStick._device_info,
    (DEVMGMT, GET_CONFIG_REQ): Im871aStick._get_config,
    (DEVMGMT, SET_CONFIG_REQ): Im871aStick._set_config,
    (DEVMGMT, RESET_REQ): Im871aStick._reset,
    (DEVMGMT, FACTORY_RESET_REQ): Im871aStick._factory_reset,
}
