"""The meter's side of the PPMID's ZSE prepayment commands (PECS01-03): plain ZigBee SE
commands over the HAN, never framed as GBCS, so their security is the HAN's (the APS
link key the PPMID and the meter agreed by CBKE) plus the meter's own join log: a meter
takes them only from a PPMID joined to it (CS03A1 on the meter, CS03A2 on the PPMID),
and after an unjoin (CS04AC) no longer.

- PECS01, Prepayment ConsumerTopUp (0x04): the UTRN the consumer keyed in on the PPMID;
  answered with ConsumerTopUpResponse (result, value added, source, credit remaining);
  a UTRN the meter refuses (not authentic, duplicate, above the maximum) changes nothing
  and is answered with the rejection.
- PECS02, Prepayment SelectAvailableEmergencyCredit (0x00): Default Response SUCCESS, or
  FAILURE when emergency credit is not available.
- PECS03, Metering LocalChangeSupply (0x0C) to SupplyOn: the enable the consumer asked
  for on the PPMID; only an armed supply is enabled (Default Response FAILURE otherwise).

A frame from a device that is not a joined PPMID is dropped (counted, not answered:
answering would tell a stranger what the meter is); a malformed one gets the ZCL
Default Response its header allows. What the meter does is the `PrepaymentMeter` it is
given (the ESME's engine through its board).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import zigpy.types as t
from zigpy.zcl.foundation import Direction, GeneralCommand, Status, ZCLHeader

from firmware.core.security import JOIN_LOG, PPMID_TYPE
from han.zcl.errors import ZIGPY_ERRORS, ZclDecodeError
from han.zcl.frame import ZclFrame, cluster_command, decode_frame, general_command

METERING, PREPAYMENT = 0x0702, 0x0705
SELECT_EMERGENCY_CREDIT, CONSUMER_TOP_UP = 0x00, 0x04
LOCAL_CHANGE_SUPPLY = 0x0C
SUPPLY_ON = 0x02
# ConsumerTopUpResponse result types (ZSE ResultType).
ACCEPTED, REJECTED_INVALID, REJECTED_DUPLICATE, REJECTED_MAX_CREDIT = 0x00, 0x01, 0x02, 0x04


class TopUpRefused(Exception):
    """A UTRN the meter refuses; `result_type` is the ZSE ResultType to answer."""

    def __init__(self, result_type: int, detail: str) -> None:
        super().__init__(detail)
        self.result_type = result_type


class PrepaymentMeter(Protocol):
    """What a meter does for the PPMID (credit in 1/1000 pence)."""

    def enter_utrn(self, utrn: str) -> int:
        """Add the UTRN's credit; the amount added. TopUpRefused when refused."""

    def select_emergency_credit(self) -> bool:
        """Activate emergency credit; False when it is not available."""

    def local_enable(self) -> bool:
        """Enable an armed supply; False when it is not armed."""

    def credit_remaining(self) -> int:
        """The credit now."""


class JoinLog(Protocol):
    def get(self, key: str, default: object = None) -> object:
        """The value at `key` of the meter's store."""


@dataclass
class PecsServer:
    """Answers PECS01-03 frames for one meter; `store` holds its join log."""

    meter: PrepaymentMeter
    store: JoinLog
    refused: dict[str, int] = field(default_factory=lambda: {"not_joined": 0,
                                                             "malformed": 0})
    on_command: Callable[[str, bytes, str], None] | None = None  # (PECS id, PPMID, outcome)

    def joined(self, eui: bytes) -> bool:
        """Whether `eui` is a PPMID in the meter's join log."""
        log = self.store.get(JOIN_LOG) or []
        return any(e.get("eui") == eui and e.get("type") == PPMID_TYPE for e in log)

    def handle(self, source: bytes | None, cluster_id: int, data: bytes) -> bytes | None:
        """The answer to a frame from `source` (the APS-authenticated EUI-64), or None."""
        if source is None or not self.joined(source):
            self.refused["not_joined"] += 1
            return None
        try:
            frame = decode_frame(cluster_id, data)
        except ZclDecodeError:
            self.refused["malformed"] += 1
            return _default_for(data, Status.MALFORMED_COMMAND)
        header = frame.header
        if header.direction != Direction.Client_to_Server or header.frame_control.is_general:
            return None
        command = (cluster_id, header.command_id)
        if command == (PREPAYMENT, CONSUMER_TOP_UP):
            return self._top_up(source, frame).encode()
        if command == (PREPAYMENT, SELECT_EMERGENCY_CREDIT):
            ok = self.meter.select_emergency_credit()
            self._told("PECS02", source, "activated" if ok else "not available")
            return _default(frame, Status.SUCCESS if ok else Status.FAILURE)
        if command == (METERING, LOCAL_CHANGE_SUPPLY):
            ok = frame.args.proposed_supply_status == SUPPLY_ON and self.meter.local_enable()
            self._told("PECS03", source, "enabled" if ok else "refused")
            return _default(frame, Status.SUCCESS if ok else Status.FAILURE)
        return _default(frame, Status.UNSUP_CLUSTER_COMMAND)

    def _top_up(self, source: bytes, frame: ZclFrame) -> ZclFrame:
        code = bytes(frame.args.top_up_code)
        try:
            added = self.meter.enter_utrn(code.decode("ascii"))
            result = ACCEPTED
        except UnicodeDecodeError:
            added, result = 0, REJECTED_INVALID
        except TopUpRefused as err:
            added, result = 0, err.result_type
        self._told("PECS01", source, "accepted" if result == ACCEPTED else
                   f"refused (result {result})")
        return cluster_command(PREPAYMENT, "consumer_top_up_response",
                               Direction.Server_to_Client, tsn=frame.header.tsn,
                               disable_default_response=True, result_type=result,
                               top_up_value=added,
                               source_of_top_up=frame.args.originating_device,
                               credit_remaining=self.meter.credit_remaining())

    def _told(self, pecs: str, source: bytes, outcome: str) -> None:
        if self.on_command is not None:
            self.on_command(pecs, source, outcome)


def _default(frame: ZclFrame, status: Status) -> bytes:
    return general_command(GeneralCommand.Default_Response, Direction.Server_to_Client,
                           tsn=frame.header.tsn, disable_default_response=True,
                           command_id=t.uint8_t(frame.header.command_id),
                           status=status).encode()


def _default_for(data: bytes, status: Status) -> bytes | None:
    try:
        header, _ = ZCLHeader.deserialize(bytes(data))
    except ZIGPY_ERRORS:
        return None
    if header.frame_control.disable_default_response:
        return None
    return general_command(GeneralCommand.Default_Response, Direction.Server_to_Client,
                           tsn=header.tsn, disable_default_response=True,
                           command_id=t.uint8_t(header.command_id), status=status).encode()
