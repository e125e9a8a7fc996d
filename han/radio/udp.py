"""The same medium across processes: each process is a participant on loopback UDP.

A participant forwards every frame its own radios send to its peers as one datagram:

    magic "SLHN" | version 1 | channel (1) | x, y, z (float32 LE, metres) |
    timestamp (u64 LE, microseconds since the epoch, the sender's virtual time) |
    sender EUI-64 (u64 LE) | the 802.15.4 frame with FCS

and injects the datagrams it receives into its own medium, which then decides range,
loss and latency for its local radios from the sender's position. A datagram that is not
one of these is counted and dropped, never raised: another program may share the port.
"""

from __future__ import annotations

import select
import socket
import struct
from collections.abc import Iterable
from dataclasses import replace
from datetime import timedelta

from han.radio.medium import CHANNELS, MAX_PHY_PACKET, Medium, Receiver, Scheduler, epoch_us

# The MAC ack wait of radios on a medium shared across processes (`LinkModel.ack_slack`):
# a frame and its ack each cross two busy programs.
ACK_SLACK = timedelta(milliseconds=50)
MAGIC = b"SLHN"
VERSION = 1
HEADER = struct.Struct("<4sBBfffQQ")
LOOPBACK = "127.0.0.1"


class DatagramError(ValueError):
    """A datagram that is not a medium frame: what is wrong and at which offset."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(f"{message} at offset {offset}")
        self.offset = offset


def encode_datagram(channel: int, position: tuple[float, float, float], timestamp_us: int,
                    sender: int, frame: bytes) -> bytes:
    return HEADER.pack(MAGIC, VERSION, channel, *position, timestamp_us, sender) + frame


def decode_datagram(data: bytes) -> tuple[int, tuple[float, float, float], int, int, bytes]:
    """(channel, position, timestamp_us, sender EUI-64, frame) or `DatagramError`."""
    if len(data) < HEADER.size:
        raise DatagramError(f"truncated: the header needs {HEADER.size} bytes, got "
                            f"{len(data)}", len(data))
    magic, version, channel, x, y, z, stamp, sender = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise DatagramError(f"magic {magic!r} is not {MAGIC!r}", 0)
    if version != VERSION:
        raise DatagramError(f"version {version} is not {VERSION}", 4)
    if channel not in CHANNELS:
        raise DatagramError(f"channel {channel} is not 11-26", 5)
    frame = data[HEADER.size:]
    if not 0 < len(frame) <= MAX_PHY_PACKET:
        raise DatagramError(f"a {len(frame)}-byte frame does not fit the PHY", HEADER.size)
    return channel, (x, y, z), stamp, sender, frame


class UdpParticipant:
    """Bridges `medium` to peers on loopback UDP. `port` 0 picks a free port (see
    `address`); peers can be added later, as each side learns the other's port, or
    learnt from the datagrams received (`learn_peers`: a stick waiting for its lab)."""

    def __init__(self, medium: Medium, *, port: int = 0, peers: Iterable[int] = (),
                 learn_peers: bool = False) -> None:
        self.medium = medium
        self.learn_peers = learn_peers
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind((LOOPBACK, port))
        self.socket.setblocking(False)
        self.peers: set[int] = set(peers)
        self.sent = 0
        self.received = 0
        self.rejected = 0
        self.last_error: DatagramError | None = None
        self._timer = None
        self._scheduler: Scheduler = medium.scheduler
        medium.bridges.append(self._forward)
        medium.model = replace(medium.model, ack_slack=max(medium.model.ack_slack, ACK_SLACK))

    @property
    def port(self) -> int:
        return self.socket.getsockname()[1]

    def add_peer(self, port: int) -> None:
        self.peers.add(port)

    def _forward(self, sender: Receiver, frame: bytes) -> None:
        datagram = encode_datagram(sender.channel, sender.position,
                                   epoch_us(self.medium.scheduler.now()), sender.eui64, frame)
        for port in sorted(self.peers):
            self.socket.sendto(datagram, (LOOPBACK, port))
            self.sent += 1

    def poll(self, timeout: float = 0.0) -> int:
        """Inject every waiting datagram; wait up to `timeout` seconds for the first one.
        Returns how many frames were injected."""
        injected = 0
        wait = timeout
        while True:
            ready, _, _ = select.select([self.socket], [], [], wait)
            if not ready:
                return injected
            wait = 0.0
            try:
                data, (_, port) = self.socket.recvfrom(HEADER.size + MAX_PHY_PACKET + 1)
            except BlockingIOError:
                return injected
            try:
                channel, position, _, _, frame = decode_datagram(data)
            except DatagramError as error:
                self.rejected += 1
                self.last_error = error
                continue
            self.received += 1
            if self.learn_peers:
                self.peers.add(port)
            self.medium.inject(frame, channel, position)
            injected += 1

    def run(self, scheduler: Scheduler, every: timedelta = timedelta(milliseconds=1)) -> None:
        """Poll from the scheduler every `every` of its time (for a wall-clock runner)."""
        def tick() -> None:
            self.poll()
            self._timer = scheduler.schedule(tick, "udp poll", after=every)
        self._scheduler = scheduler
        self._timer = scheduler.schedule(tick, "udp poll", after=every)

    def close(self) -> None:
        if self._forward in self.medium.bridges:
            self.medium.bridges.remove(self._forward)
        if self._timer is not None:
            self._scheduler.cancel(self._timer)
        self.socket.close()
