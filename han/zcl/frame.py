"""Whole ZCL frames (header + foundation or cluster-specific command) over zigpy's types.

The header is zigpy's `ZCLHeader`; the payload is the schema of the command the header
names: a foundation (profile-wide) command from zigpy, or a cluster command from
`han.zcl.clusters`. Decoding is total (a `ZclDecodeError` with offset and field, nothing
else) and exact: every byte must belong to the command, so encode(decode(b)) == b.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import zigpy.types as t
from zigpy.zcl import foundation
from zigpy.zcl.foundation import CommandSchema, Direction, ZCLCommandDef, ZCLHeader

from han.zcl.clusters import CLUSTERS
from han.zcl.errors import ZIGPY_ERRORS, ZclDecodeError

__all__ = [
    "ZclFrame",
    "cluster_command",
    "command_def",
    "decode_frame",
    "encode_frame",
    "general_command",
]

@dataclass(frozen=True)
class ZclFrame:
    """A decoded ZCL frame: header, the command's definition, its arguments."""

    header: ZCLHeader
    command: ZCLCommandDef
    args: CommandSchema

    def encode(self) -> bytes:
        return encode_frame(self.header, self.args)


def command_def(cluster_id: int, frame_control: foundation.FrameControl,
                command_id: int) -> ZCLCommandDef | None:
    """The definition of the command a header names, or None when unknown."""
    if frame_control.is_general:
        return foundation.GENERAL_COMMANDS.get(command_id)
    cls = CLUSTERS.get(cluster_id)
    if cls is None:
        return None
    if frame_control.direction == Direction.Client_to_Server:
        return cls.server_commands.get(command_id)
    return cls.client_commands.get(command_id)


def decode_frame(cluster_id: int, data: bytes) -> ZclFrame:
    """A whole ZCL frame for `cluster_id`; raises `ZclDecodeError` on anything malformed,
    unknown, manufacturer-specific (no schema), followed by trailing bytes, or not in the
    one form zigpy encodes back (so encode(decode(b)) == b always holds)."""
    try:
        header, rest = ZCLHeader.deserialize(bytes(data))
    except ZIGPY_ERRORS as err:
        raise ZclDecodeError(f"bad ZCL header ({err})", 0, "zcl.header") from None
    offset = len(data) - len(rest)
    if header.frame_control.frame_type not in (foundation.FrameType.GLOBAL_COMMAND,
                                               foundation.FrameType.CLUSTER_COMMAND):
        raise ZclDecodeError("reserved frame type", 0, "zcl.header.frame_control")
    if header.frame_control.is_manufacturer_specific:
        raise ZclDecodeError(f"manufacturer-specific command 0x{header.command_id:02X} "
                             f"(0x{header.manufacturer:04X}) has no known schema",
                             offset - 1, "zcl.header.command_id")
    definition = command_def(cluster_id, header.frame_control, header.command_id)
    if definition is None:
        raise ZclDecodeError(f"unknown command 0x{header.command_id:02X} for cluster "
                             f"0x{cluster_id:04X}", offset - 1, "zcl.header.command_id")
    try:
        args, trailing = definition.schema.deserialize(rest)
    except ZIGPY_ERRORS as err:
        raise ZclDecodeError(f"payload does not fit {definition.name} ({err})", offset,
                             f"zcl.{definition.name}") from None
    if trailing:
        raise ZclDecodeError(f"{len(trailing)} trailing bytes after {definition.name}",
                             len(data) - len(trailing), f"zcl.{definition.name}")
    frame = ZclFrame(header, definition, args)
    try:
        canonical = frame.encode() == bytes(data)
    except ZIGPY_ERRORS:
        canonical = False
    if not canonical:  # zigpy would re-encode it differently (e.g. reordered records)
        raise ZclDecodeError(f"{definition.name} does not re-encode to the same bytes",
                             offset, f"zcl.{definition.name}")
    return frame


def encode_frame(header: ZCLHeader, args: CommandSchema) -> bytes:
    """The bytes of a frame: header then the command's arguments."""
    return header.serialize() + args.serialize()


def _header(frame_control: foundation.FrameControl, tsn: int, command_id: int,
            disable_default_response: bool) -> ZCLHeader:
    frame_control = frame_control.replace(disable_default_response=disable_default_response)
    return ZCLHeader(frame_control=frame_control, tsn=t.uint8_t(tsn),
                     command_id=t.uint8_t(command_id))


def cluster_command(cluster_id: int, name: str, direction: Direction, /, *, tsn: int = 0,
                    disable_default_response: bool = False, **fields: Any) -> ZclFrame:
    """A cluster-specific command by its snake_case ZSE name, sent in `direction`.
    Raises KeyError for an unknown cluster or command, and zigpy's ValueError / TypeError
    for fields that do not fit the schema."""
    cls = CLUSTERS.get(cluster_id)
    if cls is None:
        raise KeyError(f"no cluster 0x{cluster_id:04X} on the HAN")
    defs = (cls.server_commands if direction == Direction.Client_to_Server
            else cls.client_commands)
    definition = next((d for d in defs.values() if d.name == name), None)
    if definition is None:
        raise KeyError(f"no command {name!r} in {direction.name} of cluster "
                       f"0x{cluster_id:04X}")
    frame_control = foundation.FrameControl.cluster(direction)
    return ZclFrame(_header(frame_control, tsn, definition.id, disable_default_response),
                    definition, definition.schema(**fields))


def general_command(command: foundation.GeneralCommand, direction: Direction, /, *,
                    tsn: int = 0, disable_default_response: bool = False,
                    **fields: Any) -> ZclFrame:
    """A profile-wide (foundation) command such as Read Attributes."""
    definition = foundation.GENERAL_COMMANDS[command]
    frame_control = foundation.FrameControl.general(direction)
    return ZclFrame(_header(frame_control, tsn, command, disable_default_response),
                    definition, definition.schema(**fields))
