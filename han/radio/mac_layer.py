"""The 802.15.4 MAC of a node: what it hears, how it sends, and sleepy end devices.

Receiving: frames are decoded (FCS checked), filtered by PAN and address, acknowledged when
asked, and MAC retransmissions (same sequence number) are dropped as duplicates. Sending:
one frame at a time from a queue; an acknowledged frame waits for its ACK and is retried up
to macMaxFrameRetries times. A sleepy (rx-off-when-idle) end device listens only for a
short window after it transmits; its parent holds frames for it (indirect transmission)
until it polls with a Data Request, for at most macTransactionPersistenceTime. The node's
upper layers (`han.radio.node.Node`) receive beacons, MAC commands and data frames.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from han.frames.errors import FrameDecodeError
from han.frames.mac import (
    AddressMode,
    MacCommand,
    MacCommandId,
    MacFrame,
    MacFrameType,
    decode_mac,
    encode_mac,
)
from han.radio.medium import Medium, Position, Scheduler, air_time

COORDINATOR = 0x0000
MAC_BROADCAST = 0xFFFF
MAC_MAX_FRAME_RETRIES = 3
RX_WINDOW = timedelta(milliseconds=50)            # a sleepy radio listens after sending
INDIRECT_PERSISTENCE = timedelta(milliseconds=7680)   # macTransactionPersistenceTime
LONG_POLL = timedelta(milliseconds=7500)
FAST_POLL = timedelta(milliseconds=250)
FAST_POLL_TIME = timedelta(seconds=3)
# capability information (association request, rejoin, device announce)
CAPABILITY_MAINS = 0x04
CAPABILITY_RX_ON = 0x08
CAPABILITY_ALLOCATE = 0x80

Confirm = Callable[[bool], None]


@dataclass
class _Tx:
    frame: MacFrame
    on_done: Confirm | None
    attempts: int = 0


@dataclass
class _Held:
    """A frame the coordinator holds for a sleepy device until it polls."""

    frame: MacFrame
    on_done: Confirm | None
    timer: Any = None


class MacLayer(ABC):
    """The MAC half of a node and its radio (a medium `Receiver`)."""

    def __init__(self, eui64: int, medium: Medium, scheduler: Scheduler, *,
                 position: Position, channel: int, rx_on_when_idle: bool,
                 poll_interval: timedelta | None, name: str, seed: int) -> None:
        self.eui64 = eui64
        self.name = name or f"{eui64:016X}"
        self.medium = medium
        self.scheduler = scheduler
        self.position = position
        self.channel = channel
        self.rx_on_when_idle = rx_on_when_idle
        self.poll_interval = poll_interval or (None if rx_on_when_idle else LONG_POLL)
        self.random = random.Random(seed)
        self.stats: Counter[str] = Counter()
        self.pan_id: int | None = None
        self.short_address: int | None = None
        self.is_coordinator = False
        self.sleepy_children: set[int] = set()     # coordinator: rx-off children (short)
        self.powered = True
        self._mac_seq = self.random.randrange(256)
        self._tx_queue: deque[_Tx] = deque()
        self._tx_busy: _Tx | None = None
        self._ack_timer: Any = None
        self._last_mac_seq: dict[int, int] = {}
        self._indirect: dict[int, list[_Held]] = {}
        self._awake_until: Any = None
        self._fast_until: Any = None
        self._poll_timer: Any = None
        self._poll_due: Any = None
        self._timers: set[Any] = set()

    @property
    def capability(self) -> int:
        """The capability information byte: mains powered, wants an address, and whether
        the receiver stays on when idle."""
        return CAPABILITY_ALLOCATE | CAPABILITY_MAINS | (
            CAPABILITY_RX_ON if self.rx_on_when_idle else 0)

    # -- what the node above does with what the MAC accepts ----------------------------------

    @abstractmethod
    def _on_beacon(self, mac: MacFrame, lqi: int) -> None:
        """A beacon heard (while scanning to join)."""

    @abstractmethod
    def _on_mac_command(self, mac: MacFrame) -> None:
        """A MAC command addressed to this node (association, data request...)."""

    @abstractmethod
    def _on_nwk(self, mac: MacFrame, lqi: int) -> None:
        """A data frame addressed to this node: its body is a NWK frame."""

    # -- receiving -----------------------------------------------------------------------------

    def receive(self, frame: bytes, lqi: int) -> None:
        """A frame from the medium: decoded and handled, or counted and dropped."""
        if not self.powered:
            return
        if not self.rx_on_when_idle and not (
                self._awake_until is not None and self.scheduler.now() <= self._awake_until):
            self.stats["rx_off"] += 1
            return
        try:
            mac = decode_mac(frame)
        except FrameDecodeError as error:
            self.stats["mac_fcs_error" if error.field == "mac.fcs" else "mac_malformed"] += 1
            return
        if not self._for_me(mac):
            return
        if mac.frame_type == MacFrameType.ACK:
            self._on_ack(mac)
            return
        if mac.ack_request and mac.dst_address != MAC_BROADCAST:
            self._send_ack(mac)
        if mac.frame_type != MacFrameType.BEACON and mac.src_address is not None:
            if mac.ack_request and self._last_mac_seq.get(mac.src_address) == \
                    mac.sequence_number:
                self.stats["mac_duplicate"] += 1
                return
            self._last_mac_seq[mac.src_address] = mac.sequence_number
        if mac.frame_type == MacFrameType.BEACON:
            self._on_beacon(mac, lqi)
        elif mac.frame_type == MacFrameType.COMMAND:
            self._on_mac_command(mac)
        elif mac.body:
            self._on_nwk(mac, lqi)

    def _for_me(self, mac: MacFrame) -> bool:
        if mac.frame_type in (MacFrameType.ACK, MacFrameType.BEACON):
            return True
        if mac.dst_pan not in (self.pan_id, 0xFFFF):
            return False
        if mac.dst_mode == AddressMode.EXTENDED:
            return mac.dst_address == self.eui64
        if mac.dst_mode == AddressMode.SHORT:
            return mac.dst_address in (self.short_address, MAC_BROADCAST)
        return self.is_coordinator

    # -- transmitting: queue, acknowledgements, retries ----------------------------------------

    def _next_mac_seq(self) -> int:
        self._mac_seq = (self._mac_seq + 1) & 0xFF
        return self._mac_seq

    def _mac_send(self, frame: MacFrame, on_done: Confirm | None = None) -> None:
        if frame.frame_type == MacFrameType.DATA and frame.dst_mode == AddressMode.SHORT \
                and frame.dst_address in self.sleepy_children:
            self._hold(frame.dst_address, frame, on_done)
            return
        self._tx_queue.append(_Tx(frame, on_done))
        self._pump()

    def _pump(self) -> None:
        if self._tx_busy is not None or not self._tx_queue or not self.powered:
            return
        self._tx_busy = self._tx_queue.popleft()
        self._transmit(self._tx_busy)

    def _transmit(self, tx: _Tx) -> None:
        tx.attempts += 1
        raw = encode_mac(tx.frame)
        self.medium.transmit(self, raw)
        self._stay_awake()
        if tx.frame.ack_request:
            model = self.medium.model
            wait = 2 * model.latency + air_time(len(raw)) + air_time(5) \
                + timedelta(milliseconds=1) + model.ack_slack
            self._ack_timer = self.after(wait, self._ack_timeout, "mac ack wait")
        else:
            self._finish_tx(True)

    def _ack_timeout(self) -> None:
        tx = self._tx_busy
        self._ack_timer = None
        if tx is None:
            return
        if tx.attempts <= MAC_MAX_FRAME_RETRIES:
            self.stats["mac_retry"] += 1
            self._transmit(tx)
        else:
            self.stats["mac_no_ack"] += 1
            self._finish_tx(False)

    def _on_ack(self, mac: MacFrame) -> None:
        tx = self._tx_busy
        if tx is None or not tx.frame.ack_request or \
                mac.sequence_number != tx.frame.sequence_number:
            return
        self.cancel(self._ack_timer)
        self._ack_timer = None
        self._finish_tx(True)

    def _finish_tx(self, ok: bool) -> None:
        tx, self._tx_busy = self._tx_busy, None
        if tx is not None and tx.on_done is not None:
            tx.on_done(ok)
        self._pump()

    def _send_ack(self, mac: MacFrame) -> None:
        pending = bool(self._indirect.get(mac.src_address))
        ack = MacFrame(MacFrameType.ACK, mac.sequence_number, frame_pending=pending)
        self.medium.transmit(self, encode_mac(ack))
        self._stay_awake()

    def _mac_data(self, destination: int, body: bytes) -> MacFrame:
        unicast = destination != MAC_BROADCAST
        return MacFrame(MacFrameType.DATA, self._next_mac_seq(), AddressMode.SHORT,
                        self.pan_id, destination, AddressMode.SHORT, self.pan_id,
                        self.short_address, ack_request=unicast, pan_id_compression=True,
                        body=body)

    # -- indirect transmission and polling (sleepy end devices) --------------------------------

    def _hold(self, address: int, frame: MacFrame, on_done: Confirm | None) -> None:
        """Keep `frame` until the device at `address` (short or EUI-64) polls."""
        held = _Held(frame, on_done)
        self._indirect.setdefault(address, []).append(held)

        def expire() -> None:
            queue = self._indirect.get(address, [])
            if held in queue:
                queue.remove(held)
                if not queue:
                    del self._indirect[address]
                self.stats["indirect_expired"] += 1
                if on_done is not None:
                    on_done(False)
        held.timer = self.after(INDIRECT_PERSISTENCE, expire, "indirect persistence")

    def _release(self, address: int) -> None:
        """A Data Request: send what is held for the poller."""
        for held in self._indirect.pop(address, []):
            self.cancel(held.timer)
            self._tx_queue.append(_Tx(held.frame, held.on_done))
        self._pump()

    def _stay_awake(self) -> None:
        if not self.rx_on_when_idle:
            self._awake_until = self.scheduler.now() + RX_WINDOW

    def poll(self) -> None:
        """Ask the parent for the frames it holds for this device (MAC Data Request)."""
        if self.short_address is None or self.pan_id is None or self.is_coordinator:
            return
        self._mac_send(MacFrame(MacFrameType.COMMAND, self._next_mac_seq(), AddressMode.SHORT,
                                self.pan_id, COORDINATOR, AddressMode.SHORT, self.pan_id,
                                self.short_address, ack_request=True,
                                pan_id_compression=True,
                                body=MacCommand(MacCommandId.DATA_REQUEST)))

    def fast_poll(self, duration: timedelta = FAST_POLL_TIME) -> None:
        """Poll every FAST_POLL for `duration` (a sleepy device expecting an answer)."""
        if self.rx_on_when_idle:
            return
        until = self.scheduler.now() + duration
        self._fast_until = until if self._fast_until is None else max(until,
                                                                      self._fast_until)
        self._schedule_poll()

    def _schedule_poll(self) -> None:
        if self.rx_on_when_idle or not self.powered or self.short_address is None:
            return
        now = self.scheduler.now()
        fast = self._fast_until is not None and now < self._fast_until
        interval = FAST_POLL if fast else self.poll_interval
        if interval is None:
            return
        due = now + interval
        if self._poll_timer is not None and self._poll_due <= due:
            return
        self.cancel(self._poll_timer)
        self._poll_due = due
        self._poll_timer = self.after(interval, self._poll_tick, "poll")

    def _poll_tick(self) -> None:
        self._poll_timer = None
        self.poll()
        self._schedule_poll()

    # -- timers and power ----------------------------------------------------------------------

    def after(self, delay: timedelta, callback: Callable[[], None], name: str) -> Any:
        """Call `callback` after `delay` of scheduler time, unless the node loses power."""
        holder: list[Any] = []

        def fire() -> None:
            self._timers.discard(holder[0])
            if self.powered:
                callback()
        timer = self.scheduler.schedule(fire, f"{self.name} {name}", after=delay)
        holder.append(timer)
        self._timers.add(timer)
        return timer

    def cancel(self, timer: Any) -> None:
        """Cancel a timer from `after` (None is ignored)."""
        if timer is not None:
            self._timers.discard(timer)
            self.scheduler.cancel(timer)

    def power_off(self) -> None:
        """A power cut: the radio goes quiet and everything not in `nvm` is lost."""
        self.powered = False
        for timer in list(self._timers):
            self.cancel(timer)
        self.medium.detach(self)
