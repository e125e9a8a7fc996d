"""ASH, the Asynchronous Serial Host protocol of Silicon Labs' UART NCPs (UG101), NCP side.

On the wire a frame is its bytes with the reserved ones stuffed (0x7D then the byte XOR
0x20), ended by the flag 0x7E. Before stuffing, a frame is a control byte, its data and a
CRC-CCITT (init 0xFFFF, big-endian) over both. DATA frames carry frmNum, reTx and ackNum
and their data field is XORed with the LFSR sequence (seed 0x42, taps 0xB8) so a run of
equal EZSP bytes does not look like line noise. ACK and NAK carry ackNum (the next frame
the sender expects) and nRdy; RST asks for a reset, RSTACK and ERROR answer with the ASH
version (2) and a reset code.

Receiving: CANCEL (0x1A) discards what came since the last flag, SUBSTITUTE (0x18) marks
it bad up to the next flag, XON/XOFF are dropped; a frame that does not decode is counted,
and a bad DATA frame is NAKed once (reject condition) until a good one arrives. Sending:
DATA frames go out within a window of unacknowledged frames, are resent (reTx set, go-back-N)
on a NAK or when the adaptive acknowledgement timer expires, and after too many timeouts in a
row the link fails with an ERROR frame until the host sends RST. Nothing a host sends raises.
"""

from __future__ import annotations

import binascii
import logging
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Protocol

LOG = logging.getLogger(__name__)

FLAG, ESCAPE, XON, XOFF, SUBSTITUTE, CANCEL = 0x7E, 0x7D, 0x11, 0x13, 0x18, 0x1A
RESERVED = frozenset({FLAG, ESCAPE, XON, XOFF, SUBSTITUTE, CANCEL})
ASH_VERSION = 2
MAX_DATA = 128          # the longest EZSP frame ASH carries
MAX_FRAME = 1 + MAX_DATA + 2
WINDOW = 3              # DATA frames in flight (UG101 allows up to 7)
T_RX_ACK_INIT, T_RX_ACK_MIN, T_RX_ACK_MAX = 1.6, 0.4, 3.2   # seconds
ACK_TIMEOUTS = 4        # consecutive timeouts before the link fails


class ResetCode(IntEnum):
    """NCP reset codes carried by RSTACK and ERROR."""

    UNKNOWN = 0x00
    EXTERNAL = 0x01
    POWER_ON = 0x02
    WATCHDOG = 0x03
    ASSERT = 0x06
    BOOTLOADER = 0x09
    SOFTWARE = 0x0B
    ACK_TIMEOUTS = 0x51


class AshError(ValueError):
    """A frame that is not ASH: what is wrong, in which field, at which byte offset of the
    unstuffed frame."""

    def __init__(self, message: str, offset: int, field: str) -> None:
        super().__init__(f"{field}: {message} at offset {offset}")
        self.offset = offset
        self.field = field


def _lfsr(length: int) -> bytes:
    out, value = bytearray(), 0x42
    for _ in range(length):
        out.append(value)
        value = (value >> 1) ^ 0xB8 if value & 1 else value >> 1
    return bytes(out)


_SEQUENCE = _lfsr(MAX_DATA)


def randomise(data: bytes) -> bytes:
    """XOR with the pseudo-random sequence; its own inverse."""
    if len(data) > MAX_DATA:
        raise AshError(f"{len(data)} data bytes, more than {MAX_DATA}", 1, "data")
    return bytes(a ^ b for a, b in zip(data, _SEQUENCE))


def crc_ccitt(data: bytes) -> int:
    return binascii.crc_hqx(data, 0xFFFF)


def stuff(frame: bytes) -> bytes:
    out = bytearray()
    for byte in frame:
        if byte in RESERVED:
            out += bytes([ESCAPE, byte ^ 0x20])
        else:
            out.append(byte)
    return bytes(out)


def unstuff(data: bytes) -> bytes:
    out = bytearray()
    escaped = False
    for offset, byte in enumerate(data):
        if escaped:
            if byte ^ 0x20 not in RESERVED:
                raise AshError(f"escaped byte 0x{byte:02X} is not a reserved byte", offset,
                               "escape")
            out.append(byte ^ 0x20)
            escaped = False
        elif byte == ESCAPE:
            escaped = True
        else:
            out.append(byte)
    if escaped:
        raise AshError("frame ends inside an escape", len(data), "escape")
    return bytes(out)


# -- frames ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Data:
    frm_num: int
    ack_num: int
    ezsp: bytes
    re_tx: bool = False


@dataclass(frozen=True)
class Ack:
    ack_num: int
    not_ready: bool = False


@dataclass(frozen=True)
class Nak:
    ack_num: int
    not_ready: bool = False


@dataclass(frozen=True)
class Rst:
    pass


@dataclass(frozen=True)
class RstAck:
    reset_code: int
    version: int = ASH_VERSION


@dataclass(frozen=True)
class Error:
    reset_code: int
    version: int = ASH_VERSION


Frame = Data | Ack | Nak | Rst | RstAck | Error


def encode(frame: Frame) -> bytes:
    """The frame as it goes on the wire: stuffed, CRC'd, flag-terminated."""
    if isinstance(frame, Data):
        body = bytes([frame.frm_num << 4 | frame.re_tx << 3 | frame.ack_num]) + \
            randomise(frame.ezsp)
    elif isinstance(frame, Ack):
        body = bytes([0x80 | frame.not_ready << 3 | frame.ack_num])
    elif isinstance(frame, Nak):
        body = bytes([0xA0 | frame.not_ready << 3 | frame.ack_num])
    elif isinstance(frame, Rst):
        body = b"\xC0"
    elif isinstance(frame, RstAck):
        body = bytes([0xC1, frame.version, frame.reset_code])
    else:
        body = bytes([0xC2, frame.version, frame.reset_code])
    return stuff(body + crc_ccitt(body).to_bytes(2, "big")) + bytes([FLAG])


def decode(frame: bytes) -> Frame:
    """An unstuffed frame (flag removed) -> its frame, or `AshError`."""
    if len(frame) < 3:
        raise AshError(f"{len(frame)} bytes, a frame has at least 3", len(frame), "frame")
    if len(frame) > MAX_FRAME:
        raise AshError(f"{len(frame)} bytes, more than {MAX_FRAME}", MAX_FRAME, "frame")
    body, crc = frame[:-2], int.from_bytes(frame[-2:], "big")
    if crc_ccitt(body) != crc:
        raise AshError(f"CRC 0x{crc:04X} is not 0x{crc_ccitt(body):04X}", len(body), "crc")
    control, data = body[0], body[1:]
    if not control & 0x80:
        if not data:
            raise AshError("DATA frame without data", 1, "data")
        return Data(control >> 4 & 7, control & 7, randomise(data), bool(control & 0x08))
    if control & 0xE0 in (0x80, 0xA0):
        if data:
            raise AshError(f"{len(data)} bytes after an ACK/NAK control", 1, "data")
        kind = Ack if control & 0xE0 == 0x80 else Nak
        return kind(control & 7, bool(control & 0x08))
    if control == 0xC0:
        if data:
            raise AshError(f"{len(data)} bytes after RST", 1, "data")
        return Rst()
    if control in (0xC1, 0xC2):
        if len(data) != 2:
            raise AshError(f"{len(data)} bytes, RSTACK/ERROR carry 2", 1, "data")
        return (RstAck if control == 0xC1 else Error)(data[1], data[0])
    raise AshError(f"control byte 0x{control:02X} is no ASH frame type", 0, "control")


class FrameReader:
    """Splits a byte stream into unstuffed frames, honouring CANCEL, SUBSTITUTE and
    XON/XOFF; what cannot be unstuffed comes out as an `AshError`."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._bad = False
        self.offset = 0     # stream offset of the buffer's first byte

    def feed(self, data: bytes) -> list[bytes | AshError]:
        out: list[bytes | AshError] = []
        for byte in data:
            self.offset += 1
            if byte == FLAG:
                start = self.offset - len(self._buffer) - 1
                if self._bad:
                    out.append(AshError("frame substituted (line error)", start, "frame"))
                elif self._buffer:
                    try:
                        out.append(unstuff(bytes(self._buffer)))
                    except AshError as error:
                        out.append(error)
                self._buffer.clear()
                self._bad = False
            elif byte == CANCEL:
                self._buffer.clear()
                self._bad = False
            elif byte == SUBSTITUTE:
                self._bad = True
            elif byte in (XON, XOFF):
                continue
            elif len(self._buffer) <= 2 * MAX_FRAME:
                self._buffer.append(byte)
            else:
                self._bad = True     # no flag for too long: garbage
        return out


class Timers(Protocol):
    """What the link needs of time (an asyncio loop is one)."""

    def call_later(self, delay: float, callback: Callable[[], None]) -> Any: ...

    def time(self) -> float: ...


@dataclass
class _Sent:
    frm_num: int
    ezsp: bytes
    sent_at: float = 0.0
    attempts: int = 0


class AshLink:
    """The NCP end of one ASH connection. `write` takes wire bytes; `deliver` gets each
    EZSP frame received in order; `on_reset` runs when the host resets the NCP (RST)."""

    def __init__(self, write: Callable[[bytes], None], deliver: Callable[[bytes], None],
                 timers: Timers, *, on_reset: Callable[[], None] = lambda: None,
                 window: int = WINDOW) -> None:
        if not 1 <= window <= 7:
            raise ValueError(f"an ASH window is 1-7 frames, not {window}")
        self._write = write
        self._deliver = deliver
        self._timers = timers
        self._on_reset = on_reset
        self.window = window
        self.stats: Counter[str] = Counter()
        self.last_error: AshError | None = None
        self._reader = FrameReader()
        self._queue: deque[bytes] = deque()
        self._in_flight: deque[_Sent] = deque()
        self._tx_seq = 0
        self._rx_seq = 0
        self._rejecting = False
        self._failed = False
        self._t_rx_ack = T_RX_ACK_INIT
        self._timeouts = 0
        self._timer: Any = None

    # -- sending ---------------------------------------------------------------------------

    def start(self, reset_code: int = ResetCode.POWER_ON) -> None:
        """Announce the NCP (RSTACK), as it does after power-up."""
        self._reset_state()
        self._send_frame(RstAck(reset_code))

    def send(self, ezsp: bytes) -> None:
        """Queue an EZSP frame (response or callback) for the host."""
        if not 0 < len(ezsp) <= MAX_DATA:
            raise ValueError(f"an EZSP frame is 1-{MAX_DATA} bytes, not {len(ezsp)}")
        if self._failed:
            self.stats["dropped_failed"] += 1
            return
        self._queue.append(ezsp)
        self._pump()

    def _pump(self) -> None:
        while self._queue and len(self._in_flight) < self.window:
            sent = _Sent(self._tx_seq, self._queue.popleft())
            self._tx_seq = (self._tx_seq + 1) & 7
            self._in_flight.append(sent)
            self._transmit(sent)

    def _transmit(self, sent: _Sent) -> None:
        sent.sent_at = self._timers.time()
        self._send_frame(Data(sent.frm_num, self._rx_seq, sent.ezsp, sent.attempts > 0))
        sent.attempts += 1
        if self._timer is None:
            self._timer = self._timers.call_later(self._t_rx_ack, self._ack_timeout)

    def _send_frame(self, frame: Frame) -> None:
        self.stats[f"tx_{type(frame).__name__.lower()}"] += 1
        self._write(encode(frame))

    def _restart_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._timers.call_later(self._t_rx_ack, self._ack_timeout) \
            if self._in_flight else None

    def _ack_timeout(self) -> None:
        self._timer = None
        if not self._in_flight or self._failed:
            return
        self._timeouts += 1
        self.stats["ack_timeout"] += 1
        if self._timeouts >= ACK_TIMEOUTS:
            LOG.warning("ASH: %d acknowledgement timeouts in a row, link failed",
                        self._timeouts)
            self._failed = True
            self._send_frame(Error(ResetCode.ACK_TIMEOUTS))
            return
        self._t_rx_ack = min(T_RX_ACK_MAX, 2 * self._t_rx_ack)
        self._resend_all()

    def _resend_all(self) -> None:
        for sent in self._in_flight:
            self.stats["retransmitted"] += 1
            self._transmit(sent)
        self._restart_timer()

    def _acknowledged(self, ack_num: int) -> None:
        """Frames before `ack_num` (the host's next expected) are acknowledged."""
        pending = [s.frm_num for s in self._in_flight]
        if ack_num not in pending and ack_num != self._tx_seq:
            self.stats["bad_ack_num"] += 1
            return
        acked = False
        while self._in_flight and self._in_flight[0].frm_num != ack_num:
            sent = self._in_flight.popleft()
            if sent.attempts == 1:    # Karn: a resent frame's ack times nothing
                measured = self._timers.time() - sent.sent_at
                self._t_rx_ack = max(T_RX_ACK_MIN, min(
                    T_RX_ACK_MAX, 7 / 8 * self._t_rx_ack + measured / 2))
            acked = True
        if acked:
            self._timeouts = 0
            self._restart_timer()
            self._pump()

    # -- receiving -------------------------------------------------------------------------

    def receive(self, data: bytes) -> None:
        """Bytes from the host, in any chunks."""
        for item in self._reader.feed(data):
            if isinstance(item, AshError):
                self._bad_frame(item, data_frame=True)
                continue
            try:
                frame = decode(item)
            except AshError as error:
                self._bad_frame(error, data_frame=bool(item) and not item[0] & 0x80)
                continue
            self._frame(frame)

    def _bad_frame(self, error: AshError, *, data_frame: bool) -> None:
        self.stats["rx_bad_frame"] += 1
        self.last_error = error
        LOG.debug("ASH: dropped a frame: %s", error)
        if data_frame and not self._failed:
            self._reject()

    def _reject(self) -> None:
        if not self._rejecting:
            self._rejecting = True
            self._send_frame(Nak(self._rx_seq))

    def _frame(self, frame: Frame) -> None:
        self.stats[f"rx_{type(frame).__name__.lower()}"] += 1
        if isinstance(frame, Rst):
            self._reset_state()
            self._on_reset()
            self._send_frame(RstAck(ResetCode.SOFTWARE))
            return
        if self._failed or isinstance(frame, (RstAck, Error)):
            return   # a failed link waits for RST; RSTACK/ERROR are the NCP's to send
        if isinstance(frame, Data):
            self._acknowledged(frame.ack_num)
            if frame.frm_num == self._rx_seq:
                self._rx_seq = (self._rx_seq + 1) & 7
                self._rejecting = False
                self._send_frame(Ack(self._rx_seq))
                self._deliver(frame.ezsp)
            elif frame.re_tx:
                self.stats["rx_duplicate"] += 1
                self._send_frame(Ack(self._rx_seq))
            else:
                self.stats["rx_out_of_sequence"] += 1
                self._reject()
        elif isinstance(frame, Ack):
            self._acknowledged(frame.ack_num)
        elif isinstance(frame, Nak):
            self._acknowledged(frame.ack_num)
            if self._in_flight:
                self._resend_all()

    def _reset_state(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._queue.clear()
        self._in_flight.clear()
        self._tx_seq = self._rx_seq = 0
        self._rejecting = self._failed = False
        self._t_rx_ack = T_RX_ACK_INIT
        self._timeouts = 0

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
