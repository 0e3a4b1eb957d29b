"""The simulated GSM network between the modems of one simulation: a service centre that stores and forwards SMS.

Each subscriber (the head-end's modem, a meter's GSM8i module) has an international number. A submitted SMS-SUBMIT
becomes an SMS-DELIVER to its destination (TS 23.040 §9.2.2): the originator is the sender's number, the time stamp
the centre's clock (injected: the simulation's time), the protocol identifier, coding and user data (a concatenation
header included) pass unchanged. Like a real centre, it stores what it cannot deliver yet (the destination's memory
is full) and tries again on the next `deliver_pending`; a message to a number no subscriber has is dropped, as
a real network would report it undeliverable. Delivery happens only when `deliver_pending` is called, so the model
stays deterministic and its driver chooses the delay (meter_sim/gsm_line.py). No status reports are sent.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from omnipower.sms_pdu import Address, SmsDeliver, SmsSubmit

log = logging.getLogger(__name__)
MAX_STORED = 1000  # messages the centre keeps for subscribers whose memory is full; older ones expire first


class Subscriber(Protocol):
    number: str

    def receive(self, message: SmsDeliver) -> bool:
        """Take a message; False when there is no room for it now (the centre keeps it)."""


@dataclass(frozen=True, slots=True)
class _InTransit:
    sender: str
    submit: SmsSubmit


class GsmNetwork:
    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock  # aware local time of the centre's time stamps
        self._subscribers: dict[str, Subscriber] = {}
        self._queue: deque[_InTransit] = deque()
        self._stored: deque[tuple[Subscriber, SmsDeliver]] = deque(maxlen=MAX_STORED)
        self.dropped = 0

    def attach(self, subscriber: Subscriber) -> None:
        if subscriber.number in self._subscribers:
            raise ValueError(f"number {subscriber.number} is already in use on this network")
        self._subscribers[subscriber.number] = subscriber

    def registered(self, number: str) -> bool:
        return number in self._subscribers

    def submit(self, sender: str, submit: SmsSubmit) -> None:
        """Accept a message from `sender` for delivery at the next `deliver_pending`."""
        self._queue.append(_InTransit(sender, submit))

    @property
    def pending(self) -> int:
        """Messages not delivered yet: in transit, or stored for a full memory."""
        return len(self._queue) + len(self._stored)

    @property
    def in_transit(self) -> int:
        """Messages submitted since the last `deliver_pending`."""
        return len(self._queue)

    def deliver_pending(self) -> int:
        """Deliver what was submitted (and retry what was stored); messages submitted meanwhile (an answer) wait for
        the next call. Returns the number delivered."""
        delivered = 0
        stored, self._stored = self._stored, deque(maxlen=MAX_STORED)
        for subscriber, message in stored:
            delivered += self._hand_over(subscriber, message)
        batch, self._queue = self._queue, deque()
        for item in batch:
            destination = self._lookup(item.submit.destination)
            if destination is None:
                self.dropped += 1
                log.info("gsm network: SMS from %s to %s dropped: no subscriber has that number", item.sender,
                         item.submit.destination.number)
                continue
            delivered += self._hand_over(destination, self._deliver(item))
        return delivered

    def _lookup(self, address: Address) -> Subscriber | None:
        """A subscriber by number; digits without a type of number are tried as international too."""
        found = self._subscribers.get(address.number)
        if found is None and address.number.isdigit():
            found = self._subscribers.get("+" + address.number)
        return found

    def _hand_over(self, subscriber: Subscriber, message: SmsDeliver) -> int:
        if subscriber.receive(message):
            return 1
        self._stored.append((subscriber, message))
        return 0

    def _deliver(self, item: _InTransit) -> SmsDeliver:
        submit = item.submit
        return SmsDeliver(Address.of(item.sender), self.clock().replace(microsecond=0), submit.user_data,
                          pid=submit.pid, message_class=submit.message_class, reply_path=submit.reply_path)
