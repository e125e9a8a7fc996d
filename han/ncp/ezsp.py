"""EZSP frames, NCP side: the legacy frame of the first `version` exchange and the extended
frame of the protocol version the NCP answers with (UG100).

Legacy: sequence, frame control, frame id (one byte each). Extended (EZSP 8 and later):
sequence, frame control low and high (high byte 0x01, the frame format version), frame id
(two bytes, little-endian). A response carries the command's sequence number and frame
control 0x80 (response); a callback the last sequence seen and 0x90 (response,
asynchronous callback). Until `version` has been answered, and for a frame id it does not
know, the NCP answers `invalidCommand` (0x0058) with the EZSP status saying why.

The parameters of each frame are those of the command table the host library declares
for this protocol version (bellows' EZSPv13 table), so both ends serialise the same types;
what the NCP does with them is `han.ncp.stack`'s.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import bellows.types as t
from bellows.ezsp.v13.commands import COMMANDS

LOG = logging.getLogger(__name__)

PROTOCOL_VERSION = 13
VERSION_ID = 0x0000
INVALID_COMMAND_ID = 0x0058
RESPONSE = 0x80
ASYNC_CALLBACK = 0x10
FRAME_FORMAT_VERSION = 0x01
TRUNCATED = 0x02
MAX_FRAME = 128          # the longest EZSP frame a UART NCP sends

BY_ID: dict[int, tuple[str, Any, Any]] = {
    frame_id: (name, request, response) for name, (frame_id, request, response) in
    COMMANDS.items()}


class EzspFrameError(ValueError):
    """An EZSP frame the NCP cannot read: what, where (offset in the frame), and the EZSP
    status the NCP answers with."""

    def __init__(self, message: str, offset: int, status: t.EzspStatus) -> None:
        super().__init__(f"{message} at offset {offset}")
        self.offset = offset
        self.status = status


@dataclass(frozen=True)
class Command:
    sequence: int
    frame_id: int
    name: str
    params: dict[str, Any]
    legacy: bool


def decode_header(frame: bytes, *, extended: bool) -> tuple[int, int, bool, bytes]:
    """(sequence, frame id, legacy?, parameters). `extended`: the version exchange is done,
    so only the `version` command may still come in the legacy format."""
    if len(frame) < 3:
        raise EzspFrameError(f"{len(frame)} bytes, less than a header", len(frame),
                             t.EzspStatus.ERROR_TRUNCATED)
    sequence, control = frame[0], frame[1]
    if control & RESPONSE:
        raise EzspFrameError(f"frame control 0x{control:02X} marks a response", 1,
                             t.EzspStatus.ERROR_WRONG_DIRECTION)
    if frame[2] == VERSION_ID and len(frame) == 4:
        return sequence, VERSION_ID, True, frame[3:]
    if not extended:
        raise EzspFrameError("a command before the version exchange", 2,
                             t.EzspStatus.ERROR_VERSION_NOT_SET)
    if len(frame) < 5:
        raise EzspFrameError(f"{len(frame)} bytes, an extended header has 5", len(frame),
                             t.EzspStatus.ERROR_TRUNCATED)
    if frame[2] & 0x03 != FRAME_FORMAT_VERSION:
        raise EzspFrameError(f"frame format version {frame[2] & 0x03} is not 1", 2,
                             t.EzspStatus.ERROR_UNSUPPORTED_CONTROL)
    return sequence, int.from_bytes(frame[3:5], "little"), False, frame[5:]


def decode_command(frame: bytes, *, extended: bool) -> Command:
    sequence, frame_id, legacy, data = decode_header(frame, extended=extended)
    known = BY_ID.get(frame_id)
    if known is None:
        raise EzspFrameError(f"unknown frame id 0x{frame_id:04X}", 3,
                             t.EzspStatus.ERROR_INVALID_FRAME_ID)
    name, request, _ = known
    if not isinstance(request, dict):
        raise EzspFrameError(f"{name} is a callback, not a command", 3,
                             t.EzspStatus.ERROR_WRONG_DIRECTION)
    try:
        params = _parse(name, request, data)
    except (ValueError, KeyError, IndexError) as error:
        raise EzspFrameError(f"{name} parameters do not parse ({error})",
                             3 if legacy else 5, t.EzspStatus.ERROR_INVALID_VALUE) from None
    return Command(sequence, frame_id, name, params, legacy)


def _parse(name: str, schema: dict[str, Any], data: bytes) -> dict[str, Any]:
    if name == "addEndpoint":     # two counted cluster lists, which the table leaves open
        head = {k: v for k, v in schema.items() if not k.endswith("List")}
        params, rest = t.deserialize_dict(data, head)
        counts = params["inputClusterCount"], params["outputClusterCount"]
        if len(rest) != 2 * sum(counts):
            raise ValueError(f"{len(rest)} bytes for {sum(counts)} clusters")
        clusters = [int.from_bytes(rest[i:i + 2], "little") for i in range(0, len(rest), 2)]
        params["inputClusterList"] = clusters[:counts[0]]
        params["outputClusterList"] = clusters[counts[0]:]
        return params
    params, rest = t.deserialize_dict(data, schema)
    if rest:
        raise ValueError(f"{len(rest)} bytes left over")
    return params


def encode_frame(sequence: int, frame_id: int, payload: bytes, *, legacy: bool,
                 callback: bool = False) -> bytes:
    """A response or callback; one longer than `MAX_FRAME` is cut there and flagged
    truncated, as the NCP does."""
    control = RESPONSE | (ASYNC_CALLBACK if callback else 0)
    header = bytes([sequence, control, frame_id]) if legacy else \
        bytes([sequence, control, FRAME_FORMAT_VERSION]) + frame_id.to_bytes(2, "little")
    if len(header) + len(payload) > MAX_FRAME:
        header = bytes([sequence, control | TRUNCATED]) + header[2:]
        payload = payload[:MAX_FRAME - len(header)]
    return header + payload


def encode_parameters(name: str, values: dict[str, Any]) -> bytes:
    """The response (or callback) parameters of `name`, per the command table."""
    schema = COMMANDS[name][2]
    if isinstance(schema, dict):
        missing = set(schema) - set(values)
        if missing:
            raise ValueError(f"{name}: no value for {sorted(missing)}")
        return b"".join(kind(values[key]).serialize() for key, kind in schema.items())
    return schema(**values).serialize()


class EzspEndpoint:
    """One host session's EZSP state: the negotiated version and the last sequence number
    (callbacks carry it). `handler(name, params)` runs a command and returns the response
    values; `send` takes each EZSP frame for the host."""

    def __init__(self, handler: Callable[[str, dict[str, Any]], dict[str, Any]],
                 send: Callable[[bytes], None]) -> None:
        self._handler = handler
        self._send = send
        self.version: int | None = None
        self.last_sequence = 0
        self.last_error: EzspFrameError | None = None
        self._held: list[bytes] | None = None   # callbacks raised while a command runs

    def reset(self) -> None:
        self.version = None

    def receive(self, frame: bytes) -> None:
        """One EZSP frame from the host: its response, then the callbacks it caused (the
        host matches a callback's sequence number against its pending command first)."""
        self._held = []
        try:
            self._command(frame)
        finally:
            held, self._held = self._held, None
            for callback in held:
                self._send(callback)

    def _command(self, frame: bytes) -> None:
        try:
            command = decode_command(frame, extended=self.version is not None)
        except EzspFrameError as error:
            self.last_error = error
            LOG.warning("EZSP: %s", error)
            sequence = frame[0] if frame else 0
            self._send(encode_frame(sequence, INVALID_COMMAND_ID, bytes([error.status]),
                                    legacy=self.version is None))
            return
        self.last_sequence = command.sequence
        try:
            values = self._handler(command.name, command.params)
            payload = None if values is None else encode_parameters(command.name, values)
        except Exception:      # a fault in the stack: the host gets an answer, the log the rest
            LOG.exception("EZSP: %s failed", command.name)
            self._invalid(command, t.EzspStatus.ERROR_INVALID_CALL)
            return
        if values is None or payload is None:
            LOG.warning("EZSP: %s is not supported by this NCP", command.name)
            self._invalid(command, t.EzspStatus.ERROR_INVALID_FRAME_ID)
            return
        if command.name == "version":
            self.version = values["protocolVersion"]
        self._send(encode_frame(command.sequence, command.frame_id, payload,
                                legacy=command.legacy))

    def _invalid(self, command: Command, status: t.EzspStatus) -> None:
        self._send(encode_frame(command.sequence, INVALID_COMMAND_ID, bytes([status]),
                                legacy=command.legacy))

    def callback(self, name: str, values: dict[str, Any]) -> None:
        """An asynchronous callback, once the host speaks the extended format."""
        if self.version is None:
            return
        frame = encode_frame(self.last_sequence, COMMANDS[name][0],
                             encode_parameters(name, values), legacy=False, callback=True)
        if self._held is not None:
            self._held.append(frame)
        else:
            self._send(frame)
