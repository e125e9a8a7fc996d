"""The GPF's device log: the HAN devices (PPMID, Type 2) bound to the gas proxy, and its
restore (GCS59) and backup (GCS62) after a comms hub replacement.

GCS59 restores the entries the DCC kept from the predecessor hub, each answered with a
JoinResponseCode: success, incompatibleWithExistingEntry for a device already logged
with another type (or twice in the command), deviceLogFull past the log's capacity,
writeFailure when the board's fault injection (`hardware_faults` holding 0x008C) makes
the store fail. When the log changed the GPF backs it up to the DCC: GCS62 (0x8071
GPF Device Log Changed) to the ACB, carrying the whole log.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from firmware.core.credentials import Role
from firmware.core.credentials_ops import CredentialsCommandError, payload
from firmware.core.device import EVENT_LOG
from firmware.core.security import Accepted
from gbcs import asn1
from gbcs.node import Node

if TYPE_CHECKING:
    from firmware.gpf.gpf import Gpf

RESTORE, BACKUP_ALERT = 0x008C, 0x00B2
DEVICE_LOG_CHANGED = 0x8071
LOG_KEY = "gpf/device_log"
CAPACITY = 8
SUCCESS, INCOMPATIBLE, LOG_FULL, WRITE_FAILURE = 0, 3, 4, 5


def entries(gpf: Gpf) -> list[tuple[bytes, int]]:
    return [(bytes(e[0]), int(e[1])) for e in gpf.store.get(LOG_KEY) or []]


def restore(gpf: Gpf, accepted: Accepted) -> Node:
    """GCS59: add each entry the command lists; one outcome per entry."""
    command = payload(accepted, "device_log_entries")
    log = entries(gpf)
    outcomes = []
    for entry in command.children:
        eui, kind = entry["device_id"].value, entry["device_type"].value
        if len(eui) != 8:
            raise CredentialsCommandError("a device id is an EUI-64", "device_id",
                                          entry["device_id"].offset)
        known = next((k for e, k in log if e == eui), None)
        if RESTORE in gpf.hardware_faults:
            code = WRITE_FAILURE
        elif known is not None and (known != kind or any(
                o["device_log_entry"]["device_id"] == eui for o in outcomes)):
            code = INCOMPATIBLE
        elif known is None and len(log) >= CAPACITY:
            code = LOG_FULL
        else:
            code = SUCCESS
            if known is None:
                log.append((eui, kind))
        outcomes.append({"device_log_entry": {"device_id": eui, "device_type": kind},
                         "join_response_code": code})
    if log != entries(gpf):
        gpf.store.put(LOG_KEY, [[eui, kind] for eui, kind in log])
        backup(gpf)
    return asn1.build(RESTORE, asn1.CRA_RESPONSE, {"restore_outcomes": outcomes})


def backup(gpf: Gpf) -> None:
    """GCS62: the whole log to the DCC (the ACB's anchor)."""
    dcc = gpf.anchors.get(Role.ACCESS_CONTROL_BROKER)
    if dcc is None:
        gpf.store.append(EVENT_LOG, {"at": gpf.now().isoformat(),
                                     "event": "alert_undeliverable",
                                     "detail": "GCS62: no ACB anchor"})
        return
    gpf.raise_alert(BACKUP_ALERT, asn1.gpf_device_log_backup_alert(
        DEVICE_LOG_CHANGED, gpf.now(), entries(gpf)), dcc)
