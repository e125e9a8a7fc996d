"""The CHF's own identity and its event and security logs as DLMS objects (ECS26i,
ECS26n, ECS35c, ECS35d).

The logs are Profile generic buffers over what the command pipeline and the hub record
(firmware.core.device EVENT_LOG / SECURITY_LOG): capture time in seconds since
2000-01-01 and the GBCS event code (and, for the event log, the event's octets). Entries
recorded without a GBCS event code (internal notes such as a failed command's detail)
stay in the store but are not log rows. A range descriptor selects by capture time.
"""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING

from firmware.chf import cosem
from firmware.chf.cosem import RANGE_DESCRIPTOR, RANGE_PARAMETERS, AccessError, expect
from firmware.core.device import EVENT_LOG, SECURITY_LOG
from gbcs.axdr import (COMPACT_ARRAY, DOUBLE_LONG_UNSIGNED, LONG_UNSIGNED, OCTET_STRING,
                       axdr_value, data_node)
from gbcs.node import Node

if TYPE_CHECKING:
    from firmware.chf.chf import Chf

EVENT_LOG_OBIS = bytes((0, 0, 99, 98, 0, 255))
SECURITY_LOG_OBIS = bytes((0, 0, 99, 98, 1, 255))
DEVICE_ID_OBIS = bytes((0, 0, 96, 1, 1, 255))
MODEL_TYPE_OBIS = bytes((0, 0, 96, 1, 4, 255))
MANUFACTURER_OBIS = bytes((0, 0, 96, 1, 6, 255))
# What this emulation reports as its model and manufacturer (octet-strings, as GBCS
# carries them).
MODEL_TYPE = b"SMETSLAB CHF"
MANUFACTURER = b"SML"

EVENT_COLUMNS = ("structure", (DOUBLE_LONG_UNSIGNED, LONG_UNSIGNED, OCTET_STRING))
SECURITY_COLUMNS = ("structure", (DOUBLE_LONG_UNSIGNED, LONG_UNSIGNED))


def event_log(chf: Chf, selection: tuple[int, Node] | None) -> Node:
    rows = [[t, code, data] for t, code, data in _rows(chf, EVENT_LOG, selection)]
    return data_node("", (EVENT_COLUMNS, rows), COMPACT_ARRAY)


def security_log(chf: Chf, selection: tuple[int, Node] | None) -> Node:
    rows = [[t, code] for t, code, _ in _rows(chf, SECURITY_LOG, selection)]
    return data_node("", (SECURITY_COLUMNS, rows), COMPACT_ARRAY)


def _rows(chf: Chf, log: str, selection: tuple[int, Node] | None
          ) -> list[tuple[int, int, bytes]]:
    start, end = _range(selection)
    out = []
    for entry in chf.store.entries(log):
        value = entry.value
        code = value.get("event_code") if isinstance(value, dict) else None
        if not isinstance(code, int):
            continue
        t = cosem.unix2000(_dt.datetime.fromisoformat(value["at"]))
        if (start is None or t >= start) and (end is None or t <= end):
            out.append((t, code, bytes.fromhex(value.get("data", ""))))
    return out


def _range(selection: tuple[int, Node] | None) -> tuple[int | None, int | None]:
    if selection is None:
        return None, None
    selector, params = selection
    if selector != RANGE_DESCRIPTOR:
        raise AccessError(cosem.OTHER_REASON, f"access selector {selector} unsupported")
    expect(params, RANGE_PARAMETERS, "range descriptor")
    return tuple(axdr_value(params.children[i]) for i in (1, 2))  # type: ignore[return-value]


def identity(value: bytes | None = None):
    """A getter of one identity octet-string (None: the CHF's own Device ID)."""
    def get(chf: Chf, selection: object) -> Node:
        return data_node("", chf.credentials.eui if value is None else value, OCTET_STRING)
    return get


TABLE = {
    ("get", cosem.PROFILE_GENERIC, EVENT_LOG_OBIS, 2): event_log,
    ("get", cosem.PROFILE_GENERIC, SECURITY_LOG_OBIS, 2): security_log,
    ("get", cosem.DATA, DEVICE_ID_OBIS, 2): identity(),
    ("get", cosem.DATA, MODEL_TYPE_OBIS, 2): identity(MODEL_TYPE),
    ("get", cosem.DATA, MANUFACTURER_OBIS, 2): identity(MANUFACTURER),
}
