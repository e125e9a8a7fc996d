"""ZCL frames as GBCS carries them in GBZ components: the header, then a profile-wide
command (`gbcs.zcl_global`) or a Smart Energy cluster-specific command laid out in
`gbcs.zcl_tables` (`gbcs.zcl_layout`), plus builders for both.

An unknown cluster or command leaves its payload as a ``payload`` bytes leaf; a known one
that does not fit its layout raises `GbcsDecodeError`.
"""

from __future__ import annotations

from typing import Any

from gbcs.errors import GbcsDecodeError, GbcsEncodeError
from gbcs.node import Node
from gbcs.reader import Reader
from gbcs.zcl_global import GLOBAL_NAMES, STATUS_NAMES, decode_global
from gbcs.zcl_layout import Command, command, commands, snake
from gbcs.zcl_tables import ATTRIBUTES, CLUSTER_NAMES
from gbcs.zcl_types import build_type_id, build_value

__all__ = ["Command", "command", "commands", "command_name", "cluster_name", "decode_header",
           "decode_payload", "decode_frame", "frame_control_text", "zcl_frame",
           "zcl_read_attributes", "zcl_read_attributes_response", "zcl_write_attributes",
           "zcl_default_response", "zcl_command"]

# Frame control bits.
FRAME_TYPE_MASK = 0x03
CLUSTER_SPECIFIC = 0x01
MANUFACTURER_SPECIFIC = 0x04
SERVER_TO_CLIENT = 0x08
DISABLE_DEFAULT_RESPONSE = 0x10

# -- frames --------------------------------------------------------------------------------


def command_name(cluster_id: int, direction: int, frame_type: int,
                 command_id: int) -> str | None:
    """The ZCL / ZSE name of a command, or None when not in the tables."""
    if frame_type == 0:
        return GLOBAL_NAMES.get(command_id)
    entry = command(cluster_id, direction, command_id)
    return entry.name if entry is not None else None


def frame_control_text(value: int) -> str:
    """What a frame control octet says, as text."""
    return _FRAME_CONTROL_TEXT[value & 0xFF]


def _frame_control_text(value: int) -> str:
    parts = ["cluster-specific" if value & FRAME_TYPE_MASK == CLUSTER_SPECIFIC
             else "profile-wide" if value & FRAME_TYPE_MASK == 0 else "reserved frame type",
             "server to client" if value & SERVER_TO_CLIENT else "client to server"]
    if value & MANUFACTURER_SPECIFIC:
        parts.append("manufacturer-specific")
    if value & DISABLE_DEFAULT_RESPONSE:
        parts.append("disable default response")
    return ", ".join(parts)


_FRAME_CONTROL_TEXT = [_frame_control_text(v) for v in range(256)]


def decode_header(r: Reader, cluster_id: int) -> tuple[list[Node], int, int]:
    """The ZCL header (frame control, manufacturer code if flagged, transaction sequence
    number, command id): its nodes, the frame control and the command id."""
    pos = r.pos
    buf = r.buf
    if pos + 3 > r.end:
        r.need(3, "zcl header")
    frame_control = buf[pos]
    children = [Node("frame_control", "u8", frame_control, None, pos, 1,
                     _FRAME_CONTROL_TEXT[frame_control])]
    pos += 1
    name = None
    if frame_control & MANUFACTURER_SPECIFIC:
        r.pos = pos
        children.append(Node("manufacturer_code", "u16le", r.uint(2, "manufacturer_code",
                                                                  "little"), None, pos, 2))
        pos = r.pos
        if pos + 2 > r.end:
            r.need(2, "zcl header")
    children.append(Node("transaction_sequence", "u8", buf[pos], None, pos, 1))
    command_id = buf[pos + 1]
    if not frame_control & MANUFACTURER_SPECIFIC:
        name = command_name(cluster_id, 1 if frame_control & SERVER_TO_CLIENT else 0,
                            frame_control & FRAME_TYPE_MASK, command_id)
    children.append(Node("command_id", "u8", command_id, None, pos + 1, 1, name))
    r.pos = pos + 2
    return children, frame_control, command_id


def decode_payload(r: Reader, cluster_id: int, frame_control: int, command_id: int) -> Node:
    """The command payload to the end of `r`: named fields for known commands, else a
    ``payload`` bytes leaf."""
    frame_type = frame_control & FRAME_TYPE_MASK
    direction = 1 if frame_control & SERVER_TO_CLIENT else 0
    node = None
    if not frame_control & MANUFACTURER_SPECIFIC:
        if frame_type == 0:
            try:
                node = decode_global(r, cluster_id, direction, command_id)
            except GbcsDecodeError as err:
                raise err.within(snake(GLOBAL_NAMES[command_id]))
        elif frame_type == CLUSTER_SPECIFIC:
            entry = command(cluster_id, direction, command_id)
            if entry is not None:
                start = r.pos
                try:
                    children = entry.layout.decode(r)
                except GbcsDecodeError as err:
                    raise err.within(entry.node_name)
                node = Node(entry.node_name, "seq", None, children, start, r.pos - start)
    if node is None:
        pos = r.pos
        raw = r.rest()
        return Node("payload", "bytes", raw, None, pos, len(raw))
    r.expect_end(node.name)
    return node


def decode_frame(r: Reader, cluster_id: int) -> Node:
    """A whole ZCL frame to the end of `r`, as a ``zcl`` node."""
    start = r.pos
    children, frame_control, command_id = decode_header(r, cluster_id)
    children.append(decode_payload(r, cluster_id, frame_control, command_id))
    return Node("zcl", "seq", None, children, start, r.pos - start)


def cluster_name(cluster_id: int) -> str | None:
    return CLUSTER_NAMES.get(cluster_id)


# -- builders ------------------------------------------------------------------------------


def zcl_frame(frame_control: int, command_id: int, payload: Node, *,
              transaction_sequence: int = 0, manufacturer_code: int | None = None,
              cluster_id: int | None = None) -> Node:
    """A ``zcl`` node from its header fields and a payload node."""
    if manufacturer_code is not None:
        frame_control |= MANUFACTURER_SPECIFIC
    children = [Node("frame_control", "u8", frame_control, None, -1, 1,
                     _FRAME_CONTROL_TEXT[frame_control & 0xFF])]
    if frame_control & MANUFACTURER_SPECIFIC:
        children.append(Node("manufacturer_code", "u16le", manufacturer_code or 0))
    children.append(Node("transaction_sequence", "u8", transaction_sequence))
    name = None
    if cluster_id is not None and not frame_control & MANUFACTURER_SPECIFIC:
        name = command_name(cluster_id, 1 if frame_control & SERVER_TO_CLIENT else 0,
                            frame_control & FRAME_TYPE_MASK, command_id)
    children.append(Node("command_id", "u8", command_id, None, -1, 1, name))
    children.append(payload)
    return Node("zcl", "seq", None, children)


def _frame_control(frame_type: int, direction: int, disable_default_response: bool) -> int:
    return (frame_type | (SERVER_TO_CLIENT if direction else 0)
            | (DISABLE_DEFAULT_RESPONSE if disable_default_response else 0))


def _attribute_node(cluster_id: int, attribute_id: int) -> Node:
    entry = ATTRIBUTES.get(cluster_id, {}).get(attribute_id)
    return Node("attribute_id", "u16le", attribute_id, None, -1, 2, entry[0] if entry else None)


def zcl_read_attributes(cluster_id: int, attribute_ids: list[int], *,
                        transaction_sequence: int = 0,
                        disable_default_response: bool = False) -> Node:
    """A Read Attributes frame, client to server."""
    payload = Node("read_attributes", "seq", None,
                   [_attribute_node(cluster_id, a) for a in attribute_ids])
    return zcl_frame(_frame_control(0, 0, disable_default_response), 0x00, payload,
                     transaction_sequence=transaction_sequence, cluster_id=cluster_id)


def zcl_read_attributes_response(cluster_id: int, records: list[tuple], *,
                                 transaction_sequence: int = 0,
                                 disable_default_response: bool = True) -> Node:
    """A Read Attributes Response, server to client; records are
    ``(attribute_id, status)`` for a failure or ``(attribute_id, 0, data_type, value)``."""
    out = []
    for record in records:
        children = [_attribute_node(cluster_id, record[0]),
                    Node("status", "u8", record[1], None, -1, 1, STATUS_NAMES.get(record[1]))]
        if record[1] == 0:
            children += [build_type_id(record[2]), build_value(record[2], record[3])]
        out.append(Node("record", "seq", None, children))
    payload = Node("read_attributes_response", "seq", None, out)
    return zcl_frame(_frame_control(0, 1, disable_default_response), 0x01, payload,
                     transaction_sequence=transaction_sequence, cluster_id=cluster_id)


def zcl_write_attributes(cluster_id: int, records: list[tuple[int, int, Any]], *,
                         transaction_sequence: int = 0,
                         disable_default_response: bool = False) -> Node:
    """A Write Attributes frame, client to server; records are
    ``(attribute_id, data_type, value)``."""
    payload = Node("write_attributes", "seq", None, [
        Node("record", "seq", None, [_attribute_node(cluster_id, a), build_type_id(t),
                                     build_value(t, v)]) for a, t, v in records])
    return zcl_frame(_frame_control(0, 0, disable_default_response), 0x02, payload,
                     transaction_sequence=transaction_sequence, cluster_id=cluster_id)


def zcl_default_response(cluster_id: int, command_id: int, status: int, direction: int, *,
                         transaction_sequence: int = 0,
                         disable_default_response: bool = False) -> Node:
    """A Default Response to `command_id`, sent in `direction` (1 = server to client)."""
    payload = Node("default_response", "seq", None, [
        Node("command_id", "u8", command_id, None, -1, 1,
             command_name(cluster_id, 1 - direction, CLUSTER_SPECIFIC, command_id)),
        Node("status", "u8", status, None, -1, 1, STATUS_NAMES.get(status))])
    return zcl_frame(_frame_control(0, direction, disable_default_response), 0x0B, payload,
                     transaction_sequence=transaction_sequence, cluster_id=cluster_id)


def zcl_command(cluster_id: int, command_id: int, direction: int, /, *,
                transaction_sequence: int = 0, disable_default_response: bool = False,
                **fields: Any) -> Node:
    """A cluster-specific command built from named field values per `gbcs.zcl_tables`:
    scalars as ints, strings as bytes / str, repeated items as lists (of dicts for
    structs), switch sub-payloads as dicts. GbcsEncodeError names a missing or unknown
    field."""
    entry = command(cluster_id, direction, command_id)
    if entry is None:
        raise GbcsEncodeError(f"no command 0x{command_id:02X} in direction {direction} of "
                              f"cluster 0x{cluster_id:04X}")
    try:
        children = entry.layout.build(fields)
    except GbcsEncodeError as err:
        err.field = f"{entry.node_name}.{err.field}" if err.field else entry.node_name
        raise
    payload = Node(entry.node_name, "seq", None, children)
    return zcl_frame(_frame_control(CLUSTER_SPECIFIC, direction, disable_default_response),
                     command_id, payload, transaction_sequence=transaction_sequence,
                     cluster_id=cluster_id)
