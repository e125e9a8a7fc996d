"""The CHF's DLMS COSEM objects and the Access-Request executor that runs them.

The CHF answers its own use cases (CCS, DBCH) in DLMS, as the RTDS shows:

- ZigBee network control (class 104) 0-0:30.3.0.255, the CHF device log:
  enable_disable_joining (2), join_timeout (3), active_devices (4); methods
  register_device (1, CCS01), unregister_device (2, CCS02), backup_PAN (4, CCS07),
  restore_PAN (5, CCS03); and 0-0:30.3.1.255, the GPF device log the hub holds, whose
  backup_PAN CCS07 reads too;
- Data (class 1) 0-0:94.44.10.0 sub GHz configuration (DBCH03 read, DBCH04 write),
  0-0:94.44.10.2 operating sub GHz channel (DBCH01);
- Profile generic (class 7) 0-0:94.44.10.3 sub GHz channel log buffer (DBCH02, with a
  range descriptor on its capture time).

plus its identity and event/security logs (firmware.chf.logs). Requests run through
firmware.core.dlms_server (break-on-error, as on the ESME). `Chf.faults` holds (class, OBIS, id,
is-method) keys the board marks broken (hardware-fault), as for the ESME.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from typing import TYPE_CHECKING

from firmware.core import dlms_server
from gbcs.axdr import (
    ARRAY, BIT_STRING, DOUBLE_LONG_UNSIGNED, ENUM, INTEGER, LONG_UNSIGNED, OCTET_STRING,
    STRUCTURE, UNSIGNED, axdr_value, data_tag,
)
from gbcs.node import Node

if TYPE_CHECKING:
    from firmware.chf.chf import Chf

SUCCESS, HARDWARE_FAULT, TEMPORARY_FAILURE, READ_WRITE_DENIED = 0, 1, 2, 3
OBJECT_UNDEFINED, TYPE_UNMATCHED, OTHER_REASON = 4, 12, 250
ZIGBEE_NETWORK_CONTROL, DATA, PROFILE_GENERIC = 104, 1, 7
DEVICE_LOG = bytes((0, 0, 30, 3, 0, 255))
GPF_DEVICE_LOG = bytes((0, 0, 30, 3, 1, 255))
SUB_GHZ_CONFIGURATION = bytes((0, 0, 94, 44, 10, 0))
OPERATING_CHANNEL = bytes((0, 0, 94, 44, 10, 2))
CHANNEL_LOG = bytes((0, 0, 94, 44, 10, 3))
RANGE_DESCRIPTOR = 1


# Expected A-XDR type trees: a tag, or (STRUCTURE, members) / (ARRAY, element).
Spec = int | tuple
REGISTER_DEVICE: Spec = (STRUCTURE, (OCTET_STRING, ENUM, OCTET_STRING, ENUM))
KEY_ENTRY: Spec = (STRUCTURE, (OCTET_STRING, OCTET_STRING))
RESTORE_PAN: Spec = (STRUCTURE, (OCTET_STRING, (ARRAY, KEY_ENTRY)))
_CHANNEL = BIT_STRING
SUB_GHZ_CONFIGURATION_SPEC: Spec = (STRUCTURE, (
    _CHANNEL, _CHANNEL, _CHANNEL, _CHANNEL, LONG_UNSIGNED, LONG_UNSIGNED, UNSIGNED,
    LONG_UNSIGNED, UNSIGNED, UNSIGNED, LONG_UNSIGNED, UNSIGNED, LONG_UNSIGNED,
    LONG_UNSIGNED, LONG_UNSIGNED))
RANGE_PARAMETERS: Spec = (STRUCTURE, (
    (STRUCTURE, (LONG_UNSIGNED, OCTET_STRING, INTEGER, LONG_UNSIGNED)),
    DOUBLE_LONG_UNSIGNED, DOUBLE_LONG_UNSIGNED, (ARRAY, None)))


class AccessError(Exception):
    """A failed access: its DLMS result code and why."""

    def __init__(self, result_code: int, detail: str) -> None:
        super().__init__(detail)
        self.result_code = result_code


def expect(node: Node, spec: Spec | None, where: str) -> None:
    """Type-unmatched unless `node`'s type tree is `spec` (None: anything)."""
    if spec is None:
        return
    tag = spec[0] if isinstance(spec, tuple) else spec
    if data_tag(node) != tag:
        raise AccessError(TYPE_UNMATCHED, f"{where}: expected type {tag}, got {node.kind}")
    if not isinstance(spec, tuple):
        return
    children = node.children or []
    if tag == STRUCTURE:
        if len(children) != len(spec[1]):
            raise AccessError(TYPE_UNMATCHED, f"{where}: structure of {len(children)}, "
                              f"expected {len(spec[1])}")
        for i, (child, member) in enumerate(zip(children, spec[1])):
            expect(child, member, f"{where}[{i}]")
    else:
        for i, child in enumerate(children):
            expect(child, spec[1], f"{where}[{i}]")


Getter = Callable[["Chf", tuple[int, Node] | None], Node]
Setter = Callable[["Chf", Node], None]
Action = Callable[["Chf", Node], Node | None]
# (access "get" / "set" / "action", class id, OBIS, attribute or method id) -> handler
Table = dict[tuple[str, int, bytes, int], Getter | Setter | Action]


def execute(chf: Chf, request: Node, table: Table) -> Node:
    """The Access-Response to a ``dlms.access-request`` node."""
    return dlms_server.execute(
        request, lambda spec, choice, value: _one(chf, spec, choice, value, table),
        AccessError, chf.log_access_failure)


def _one(chf: Chf, spec: Node, choice: str, value: Node | None, table: Table) -> Node | None:
    class_id, obis, ident = (c.value for c in spec.children[0].children)
    key = (class_id, bytes(obis), ident, choice == "action")
    handler = table.get((choice,) + key[:3])
    if handler is None:
        known = any(k[1:3] == (class_id, bytes(obis)) for k in table)
        raise AccessError(READ_WRITE_DENIED if known else OBJECT_UNDEFINED,
                          f"{choice} {class_id}/{bytes(obis).hex()}/{ident} not on the CHF")
    if key in chf.faults:
        raise AccessError(HARDWARE_FAULT, f"{choice} {class_id}/{bytes(obis).hex()}/"
                          f"{ident}: hardware fault")
    if choice == "get":
        selection = None
        if len(spec.children) > 1:
            selector, params = spec.children[1].children
            selection = (selector.value, params)
        return handler(chf, selection)
    if value is None:
        raise AccessError(TYPE_UNMATCHED, f"{choice} without data")
    return handler(chf, value)


# -- value helpers ------------------------------------------------------------------------


def octets(node: Node) -> bytes:
    return bytes(axdr_value(node))


def unix2000(when: _dt.datetime) -> int:
    """Seconds since 2000-01-01 UTC, the channel log's capture time (RTDS values)."""
    return int((when - _dt.datetime(2000, 1, 1, tzinfo=_dt.UTC)).total_seconds())
