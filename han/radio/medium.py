"""The virtual IEEE 802.15.4 medium: who hears a frame, how well, when, and who taps it.

Radios sit at positions (metres) on a channel (11-26). A frame sent on a channel reaches
every other radio on that channel within range, after a latency plus its air time at
250 kbit/s, unless the link loses it: a seeded RNG draws each delivery against the base
loss, the channel's interference and a fade that grows over the last fifth of the range,
so a run with the same seed loses the same frames. Link quality (LQI, 0-255) follows a
log-distance path loss. Taps (a sniffer, a pcap writer) see every frame sent on any
channel, as a sniffer on that channel would. Time is the injected scheduler's: the medium
never reads the wall clock.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

MAX_PHY_PACKET = 127            # aMaxPHYPacketSize: the PSDU (MAC frame with FCS)
SYMBOL_US_PER_BYTE = 32         # 250 kbit/s in the 2.4 GHz band
PHY_OVERHEAD = 6                # preamble (4), SFD (1), PHY header (1)
CHANNELS = range(11, 27)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Scheduler(Protocol):
    """What the HAN needs of time: `boards.simulator.Simulator` is one (virtual time)."""

    def now(self) -> datetime: ...

    def schedule(self, callback: Callable[[], None], name: str = "", *,
                 at: datetime | None = None, after: timedelta | None = None) -> Any: ...

    def cancel(self, timer: Any) -> bool: ...


class RadioError(ValueError):
    """A misuse of the medium: a bad channel, an oversized frame, an unknown radio."""


Position = tuple[float, float, float]


class Receiver(Protocol):
    """A transceiver attached to the medium (a node's radio)."""

    eui64: int
    position: Position
    channel: int

    def receive(self, frame: bytes, lqi: int) -> None: ...


# A tap: timestamp (microseconds since the epoch, virtual), channel, frame with FCS.
Tap = Callable[[int, int, bytes], None]


@dataclass
class LinkModel:
    """How the medium treats a link. `loss` and `interference` are probabilities of losing
    a frame; a frame is lost when any of them strikes."""

    range_m: float = 30.0
    loss: float = 0.0
    latency: timedelta = timedelta(milliseconds=1)
    interference: dict[int, float] = field(default_factory=dict)   # channel -> loss
    tx_power_dbm: float = 0.0
    # Extra time a sender waits for its MAC ack: frames that cross processes (the
    # loopback UDP medium) are late by the scheduling of two programs, not by the air.
    ack_slack: timedelta = timedelta(0)

    def rssi(self, distance_m: float) -> float:
        """Received power: free space at 1 m (40 dB at 2.4 GHz), then exponent 3 indoors."""
        return self.tx_power_dbm - 40.0 - 30.0 * math.log10(max(distance_m, 1.0))

    def lqi(self, distance_m: float) -> int:
        """LQI mapped linearly from -100 dBm (0) to -40 dBm (255), as CC2420-like radios do."""
        return max(0, min(255, round((self.rssi(distance_m) + 100.0) * 255 / 60)))

    def delivery_probability(self, channel: int, distance_m: float) -> float:
        if distance_m > self.range_m:
            return 0.0
        fade_start = 0.8 * self.range_m
        fade = 0.0 if distance_m <= fade_start else (distance_m - fade_start) / (
            self.range_m - fade_start)
        keep = (1 - self.loss) * (1 - self.interference.get(channel, 0.0)) * (1 - fade)
        return max(0.0, min(1.0, keep))


def air_time(frame_length: int) -> timedelta:
    return timedelta(microseconds=(frame_length + PHY_OVERHEAD) * SYMBOL_US_PER_BYTE)


def epoch_us(at: datetime) -> int:
    """Microseconds since the Unix epoch (pcap timestamps)."""
    return (at - _EPOCH) // timedelta(microseconds=1)


def distance(a: Position, b: Position) -> float:
    return math.dist(a, b)


class Medium:
    """One shared radio space. `bridges` receive every frame a local radio sends (the UDP
    participant forwards them to other processes); `inject` delivers a frame that a radio
    elsewhere sent, as if it stood at `position`."""

    def __init__(self, scheduler: Scheduler, *, model: LinkModel | None = None,
                 seed: int = 0) -> None:
        self.scheduler = scheduler
        self.model = model or LinkModel()
        self.random = random.Random(seed)
        self.radios: list[Receiver] = []
        self.taps: list[Tap] = []
        self.bridges: list[Callable[[Receiver, bytes], None]] = []
        self.frames_sent = 0
        self.deliveries = 0
        self.losses = 0

    def attach(self, radio: Receiver) -> None:
        check_channel(radio.channel)
        if radio not in self.radios:
            self.radios.append(radio)

    def detach(self, radio: Receiver) -> None:
        if radio in self.radios:
            self.radios.remove(radio)

    def add_tap(self, tap: Tap) -> None:
        self.taps.append(tap)

    def set_interference(self, channel: int, loss: float) -> None:
        check_channel(channel)
        if not 0.0 <= loss <= 1.0:
            raise RadioError(f"interference on channel {channel} is a probability, not {loss}")
        self.model.interference[channel] = loss

    def link_quality(self, a: Receiver, b: Receiver) -> int:
        return self.model.lqi(distance(a.position, b.position))

    def transmit(self, sender: Receiver, frame: bytes) -> None:
        """Send `frame` (MAC frame with FCS) from `sender` on its channel."""
        if sender not in self.radios:
            raise RadioError(f"radio {sender.eui64:016X} is not attached to the medium")
        self._send(bytes(frame), sender.channel, sender.position, sender)
        for bridge in self.bridges:
            bridge(sender, bytes(frame))

    def inject(self, frame: bytes, channel: int, position: Position) -> None:
        """Deliver a frame sent by a radio outside this process."""
        self._send(bytes(frame), channel, position, None)

    def _send(self, frame: bytes, channel: int, position: Position,
              sender: Receiver | None) -> None:
        check_channel(channel)
        if not 0 < len(frame) <= MAX_PHY_PACKET:
            raise RadioError(f"a {len(frame)}-byte frame does not fit the 802.15.4 PHY "
                             f"(1..{MAX_PHY_PACKET} bytes)")
        self.frames_sent += 1
        stamp = epoch_us(self.scheduler.now())
        for tap in self.taps:
            tap(stamp, channel, frame)
        delay = self.model.latency + air_time(len(frame))
        for radio in list(self.radios):
            if radio is sender or radio.channel != channel:
                continue
            d = distance(position, radio.position)
            p = self.model.delivery_probability(channel, d)
            if p <= 0.0:
                continue
            if p < 1.0 and self.random.random() >= p:
                self.losses += 1
                continue
            self.scheduler.schedule(_delivery(self, radio, frame, channel, self.model.lqi(d)),
                                    f"radio rx {radio.eui64:016X}", after=delay)

    def _deliver(self, radio: Receiver, frame: bytes, channel: int, lqi: int) -> None:
        if radio in self.radios and radio.channel == channel:  # still listening there
            self.deliveries += 1
            radio.receive(frame, lqi)


def _delivery(medium: Medium, radio: Receiver, frame: bytes, channel: int,
              lqi: int) -> Callable[[], None]:
    def deliver() -> None:
        medium._deliver(radio, frame, channel, lqi)
    return deliver


def check_channel(channel: int) -> None:
    if channel not in CHANNELS:
        raise RadioError(f"channel {channel} is not a 2.4 GHz 802.15.4 channel (11-26)")
