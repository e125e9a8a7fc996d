"""GCS28 Set Clock on GSME: the gas meter takes the HAN's time when the command allows.

A GSME has no WAN of its own; its time comes from the comms hub's ZCL Time server
(`TimeSource`: the CHF's Time and whether the WAN synchronised it). On a GCS28 command
the meter asks that source; when the hub's time is synchronised and falls inside the
command's validity interval the meter sets its clock to it and reports it `reliable`.
A hub time outside the interval leaves the clock alone (`invalid`: the command is
stale or early); no synchronised time to be had (or the board's fault injection,
`hardware_faults` holding 0x007F) leaves it alone too (`unreliable`). The meter's
clock is the board clock plus an offset kept in the store, so it survives a restart.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from typing import TYPE_CHECKING

from firmware.core.credentials_ops import CredentialsCommandError, payload
from firmware.core.security import Accepted
from gbcs import asn1
from gbcs.node import Node

if TYPE_CHECKING:
    from firmware.gsme.gsme import Gsme

SET_CLOCK = 0x007F
CLOCK_OFFSET = "gsme/clock_offset"          # seconds added to the board clock
RELIABLE, INVALID, UNRELIABLE = 0, 1, 2     # DeviceTimeStatus

TimeSource = Callable[[], tuple[_dt.datetime, bool]]   # (hub time, synchronised)


def offset(store_value: object) -> _dt.timedelta:
    return _dt.timedelta(seconds=int(store_value or 0))


def _time(node: Node) -> _dt.datetime:
    text = node.value if isinstance(node.value, str) else bytes(node.value).decode("latin-1")
    try:
        return _dt.datetime.strptime(text, "%Y%m%d%H%M%SZ").replace(tzinfo=_dt.UTC)
    except ValueError:
        raise CredentialsCommandError(f"{node.name}: {text!r} is not a UTC GeneralizedTime",
                                      node.name, node.offset) from None


def set_clock(gsme: Gsme, accepted: Accepted) -> Node:
    """GCS28: set the clock from the HAN time source when inside the validity interval."""
    command = payload(accepted, "set_time")
    start = _time(command["validity_interval_start"])
    end = _time(command["validity_interval_end"])
    if start > end:
        raise CredentialsCommandError("the validity interval ends before it starts",
                                      "validity_interval_end",
                                      command["validity_interval_end"].offset)
    heard = None
    if SET_CLOCK not in gsme.hardware_faults and gsme.time_source is not None:
        heard = gsme.time_source()
    if heard is None or not heard[1]:
        return asn1.set_time_response(gsme.now(), UNRELIABLE)
    hub_time = heard[0]
    if not start <= hub_time <= end:
        return asn1.set_time_response(gsme.now(), INVALID)
    delta = hub_time - gsme.clock.now()
    gsme.store.put(CLOCK_OFFSET, int(delta.total_seconds()))
    return asn1.set_time_response(gsme.now(), RELIABLE)
