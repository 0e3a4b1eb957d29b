"""`omnipower-sim serve --gsm pty:… --gprs tcp:…` judged by independent clients, as a user runs it: python-gsmmodem-new
drives the head-end's modem on the pty (text and PDU mode), sees a wrong PIN refused and reads the meter by SMS;
dlms-cosem reads the same meter over the GSM8i module's GPRS path (the DLMS wrapper)."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import free_port
from dlms_cosem import cosem, enumerations
from dlms_harness import dlms_client, obis, value
from gsmmodem.exceptions import IncorrectPinError
from gsmmodem.modem import GsmModem
from sim_harness import START, serving, sim_config

from meter_sim.clock import SteppedClock
from meter_sim.config import MeterSimSettings
from meter_sim.meter import Meter
from omnipower import sms_reading as reading
from omnipower.registers import REGISTERS_BY_OBIS

HEAD, NUMBER = "+4520000000", "+4520000001"
GSM = {"number": NUMBER, "pin": "4321", "whitelist": [HEAD], "head_end": {"number": HEAD, "pin": "1234"}}
HOUSEHOLD = {"pv_kwp": 0.0}  # no PV: at noon A+ grows (with PV the house would export)


def twin_at(iso_time: str) -> dict[str, Any]:
    """The served meter recomputed in-process at the instant an answer carries (the model is deterministic)."""
    settings = MeterSimSettings(seed=1, start=START, household=HOUSEHOLD)
    meter = Meter("wire", settings, SteppedClock(datetime.fromisoformat(START).timestamp()))
    meter.advance_to(datetime.fromisoformat(iso_time).timestamp())
    return meter.readings()


class Judge:
    """python-gsmmodem-new on the pty, collecting what its new-message callback hands over."""

    def __init__(self, port: Path, text_mode: bool, **options: Any) -> None:
        self.received: list[Any] = []
        self.arrived = threading.Event()
        self.modem = GsmModem(str(port), 115200, smsReceivedCallbackFunc=self._on_sms, **options)
        self.modem.smsTextMode = text_mode

    def _on_sms(self, sms: Any) -> None:
        self.received.append(sms)
        self.arrived.set()

    def close(self) -> None:
        """Once the library's notification threads are done (after the callback it deletes the message)."""
        for thread in threading.enumerate():
            if "HandleModemNotification" in thread.name:
                thread.join(10)
        self.modem.close()


@pytest.mark.parametrize("text_mode", [True, False], ids=["text", "pdu"])
def test_the_library_reads_the_meter_by_sms(tmp_path: Path, text_mode: bool) -> None:
    port = tmp_path / "modem"
    with serving(sim_config(tmp_path, gsm=GSM, household=HOUSEHOLD), "--gsm", f"pty:{port}", speed="600"):
        if text_mode:  # first a wrong PIN, refused as a modem refuses it: +CME ERROR: 16 (incorrect password)
            judge = Judge(port, text_mode)
            with pytest.raises(IncorrectPinError):
                judge.modem.connect(pin="0000")
            judge.close()
        judge = Judge(port, text_mode)
        judge.modem.connect(pin="1234")  # then the right one, with two attempts left
        try:
            assert judge.modem.networkName == "OMNIPOWER SIM" and judge.modem.signalStrength == 20
            judge.modem.sendSms(NUMBER, "4321 READ 1.8.0")
            assert judge.arrived.wait(20), "no answer by SMS"
        finally:
            judge.close()
    (sms,) = judge.received
    assert sms.number == NUMBER
    answer = reading.parse_answer(sms.text)
    a_plus = reading.value_of(REGISTERS_BY_OBIS["1.8.0"], answer.values["1.8.0"])
    assert isinstance(a_plus, float) and a_plus > 0  # the meter ran at 600×: a household used energy
    assert a_plus == pytest.approx(twin_at(answer.time)["a_plus"], abs=0.0006)


def test_a_long_answer_arrives_concatenated(tmp_path: Path) -> None:
    port = tmp_path / "modem"
    with serving(sim_config(tmp_path, gsm=GSM, household=HOUSEHOLD), "--gsm", f"pty:{port}"):
        judge = Judge(port, False, AT_CNMI="2,0,0,0")  # no +CMTI: the parts stay in the modem's memory
        judge.modem.connect(pin="1234")
        try:
            judge.modem.sendSms(NUMBER, "4321 READ")
            deadline = time.monotonic() + 20
            while len(stored := judge.modem.listStoredSms()) < 2 and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            judge.close()
    assert len(stored) == 2 and all(s.number == NUMBER for s in stored)
    parts = sorted(stored, key=lambda s: s.udh[0].number)
    assert [(s.udh[0].parts, s.udh[0].number) for s in parts] == [(2, 1), (2, 2)]
    answer = reading.parse_answer("".join(s.text for s in parts))
    assert {"1.8.0", "2.8.0", "1.7.0", "128.0.11"} <= set(answer.values)
    twin = twin_at(answer.time)
    for code, raw in answer.values.items():
        register = REGISTERS_BY_OBIS[code]
        assert reading.value_of(register, raw) == twin[register.key], code


def test_gprs_carries_the_dlms_wrapper(tmp_path: Path) -> None:
    port, gprs = tmp_path / "modem", free_port()
    config = sim_config(tmp_path, gsm=GSM, household=HOUSEHOLD)
    with serving(config, "--gsm", f"pty:{port}", "--gprs", f"tcp:127.0.0.1:{gprs}"):
        client = dlms_client(gprs)
        client.connect()
        client.associate()
        frequency = value(client.get(cosem.CosemAttribute(enumerations.CosemInterface.REGISTER,
                                                          obis("1.1.14.7.0.255"), 2)))
        client.release_association()
        client.disconnect()
        judge = Judge(port, True)
        judge.modem.connect(pin="1234")
        try:
            judge.modem.sendSms(NUMBER, "4321 READ 14.7.0")
            assert judge.arrived.wait(20), "no answer by SMS"
        finally:
            judge.close()
    answer = reading.parse_answer(judge.received[0].text)
    assert answer.values["14.7.0"] == f"{frequency / 100:.2f} Hz"  # one meter, one frozen instant, two paths
