"""GSME commands (GBZ): the gas meter's reads, and the ZSE cluster commands the DCC
issues with its time as the issuer event id and no start or implementation time (at
once). Each is checked byte for byte against the RTDS command of its SRV.
"""

from __future__ import annotations

from typing import Callable

from gbcs.gbz import component, gbz_payload
from gbcs.node import Node
from gbcs.zcl import zcl_command, zcl_read_attributes
from tools.headend.context import Context

# GSME reads (GBZ): use case -> (cluster, attribute ids) per component, in order.
_GBZ_READS: dict[str, tuple[tuple[int, tuple[int, ...]], ...]] = {
    "GCS13a": ((0x0702, (0x0302, 0x0301, 0x0300, 0x0000)),),
    "GCS13b": ((0x0702, (0x0700, 0x0701, 0x0702, 0x0703, 0x0302, 0x0301, 0x0300)),),
    "GCS14": ((0x0700, (0x0617, 0x0616)), (0x0705, (0x0005, 0x0002, 0x0001, 0x0231, 0x0211,
                                                    0x0221))),
    "GCS21a": ((0x0700, (0x0306, 0x0305, 0x0304, 0x0303, 0x0302)),
               (0x0702, (0x0B13, 0x0B12, 0x0B11, 0x0B10, 0x0B14, 0x0B15))),
    "GCS21e": ((0x0000, (0x0004, 0x0005, 0x0003)), (0x0702, (0x0608, 0x0607))),
    "GCS21j": ((0x0705, (0x0000,)),),
    "GCS33": ((0x0702, (0x0205, 0x0014)),),
    "GCS38": ((0x0702, (0x0206,)),),
    "GCS46": ((0x0702, (0x0307,)),),
    "GCS60": ((0x0702, (0x0A00,)), (0x0705, (0x0001,))),
}


def _gbz_reads(uc: str) -> Callable[[Context], Node]:
    """A GSME read: one ZCL Read Attributes component per cluster (GBZ content), their
    transaction sequence numbers counting from 0."""
    def build(ctx: Context) -> Node:
        return gbz_payload([component(cluster, zcl_read_attributes(
            cluster, list(attributes), transaction_sequence=n))
            for n, (cluster, attributes) in enumerate(_GBZ_READS[uc])])
    return build


# GSME commands (GBZ): ZSE cluster commands the DCC issues with its time as the issuer
# event id and no start or implementation time (at once).
_MESSAGING, _DEVICE_MANAGEMENT, _METERING = 0x0703, 0x0708, 0x0702
_SERVER_TO_CLIENT, _CLIENT_TO_SERVER = 1, 0
_UNTIL_CHANGED = 0xFFFF           # DisplayMessage duration: until replaced
_CONSUMER_MENU_PASSWORD = 2       # RequestNewPasswordResponse password type

# PublishChangeOfSupplier provider change control (as the RTDS GCS44 command carries).
_CHANGE_OF_SUPPLIER_CONTROL = 0x1800
_SUPPLY_OFF = 0                   # ChangeSupply proposed supply status: valve closed
_ACKNOWLEDGE_CHANGE = 0x01        # ChangeSupply supply control bits


def _gbz_command(cluster: int, command_id: int, direction: int,
                 fields: Callable[[Context], dict]) -> Callable[[Context], Node]:
    def build(ctx: Context) -> Node:
        return gbz_payload([component(cluster, zcl_command(cluster, command_id, direction,
                                                           **fields(ctx)))])
    return build


def _message(ctx: Context) -> dict:
    """GCS07: the supplier's message on the gas meter's display until replaced."""
    text = ctx.field("SupplierMessage")
    return {"message_id": ctx.issuer_event_id(), "message_control": 0, "start_time": 0,
            "duration_in_minutes": _UNTIL_CHANGED, "message": text.encode("utf-8")}


def _no_pin(ctx: Context) -> dict:
    """GCS11: clear the consumer menu password (an empty one, at once)."""
    return {"issuer_event_id": ctx.issuer_event_id(), "implementation_date_time": 0,
            "duration_in_minutes": 0, "password_type": _CONSUMER_MENU_PASSWORD,
            "password": b""}


def _supplier_name(ctx: Context) -> dict:
    """GCS44: the supplier's name and telephone number."""
    return {"current_provider_id": 0, "issuer_event_id": ctx.issuer_event_id(),
            "tariff_type": 0, "proposed_provider_id": 0,
            "provider_change_implementation_time": 0,
            "provider_change_control": _CHANGE_OF_SUPPLIER_CONTROL,
            "proposed_provider_name": ctx.field("SupplierName").encode("utf-8"),
            "proposed_provider_contact_details": ctx.field(
                "SupplierTelephoneNumber").encode("utf-8")}


def _valve(status: int) -> Callable[[Context], dict]:
    """GCS32 (close the valve): ChangeSupply at once."""
    def fields(ctx: Context) -> dict:
        return {"provider_id": 0, "issuer_event_id": ctx.issuer_event_id(),
                "request_date_time": 0, "implementation_date_time": 0,
                "proposed_supply_status": status, "supply_control_bits": _ACKNOWLEDGE_CHANGE}
    return fields


BUILDERS: dict[str, Callable[[Context], Node]] = {uc: _gbz_reads(uc) for uc in _GBZ_READS}
BUILDERS.update({
    "GCS07": _gbz_command(_MESSAGING, 0x00, _SERVER_TO_CLIENT, _message),
    "GCS11": _gbz_command(_DEVICE_MANAGEMENT, 0x02, _SERVER_TO_CLIENT, _no_pin),
    "GCS44": _gbz_command(_DEVICE_MANAGEMENT, 0x01, _SERVER_TO_CLIENT, _supplier_name),
    "GCS32": _gbz_command(_METERING, 0x0B, _CLIENT_TO_SERVER, _valve(_SUPPLY_OFF)),
})
# The User's own reads of the gas meter's data, which the GPF answers too.
READS = frozenset(_GBZ_READS)
