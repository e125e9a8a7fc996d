"""The server side of one cluster: answers the foundation commands from an attribute store.

A HAN device (a meter's Metering server, a CHF's Time server) keeps its attribute values in
a plain mapping; `ClusterServer` turns incoming frames into the answers the ZCL requires:
Read Attributes Response, Write Attributes Response (READ_ONLY, UNSUPPORTED_ATTRIBUTE,
INVALID_DATA_TYPE per record), and Default Response for whatever else arrives, with the
status the ZCL gives for it (MALFORMED_COMMAND, UNSUP_GENERAL_COMMAND, ...). Cluster
commands go to handlers the device registers.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any

import zigpy.types as t
from zigpy.zcl import foundation
from zigpy.zcl.foundation import (
    Direction,
    GeneralCommand,
    Status,
    ZCLAttributeAccess,
    ZCLHeader,
)

from han.zcl.clusters import CLUSTERS
from han.zcl.errors import ZIGPY_ERRORS, ZclDecodeError
from han.zcl.frame import ZclFrame, command_def, decode_frame, general_command

__all__ = ["ClusterServer", "CommandHandler"]

# A cluster command handler: the decoded frame in, the ZCL status to report out.
CommandHandler = Callable[[ZclFrame], Status]

_WRITES = (GeneralCommand.Write_Attributes, GeneralCommand.Write_Attributes_Undivided,
           GeneralCommand.Write_Attributes_No_Response)


class ClusterServer:
    """Answers frames addressed to the server side of `cluster_id` from `store`
    (attribute id -> value). `writable` overrides which attribute ids accept writes;
    by default an attribute is writable when its definition's access says so."""

    def __init__(self, cluster_id: int, store: MutableMapping[int, Any], *,
                 writable: frozenset[int] | None = None,
                 handlers: dict[int, CommandHandler] | None = None) -> None:
        if cluster_id not in CLUSTERS:
            raise KeyError(f"no cluster 0x{cluster_id:04X} on the HAN")
        self.cluster_id = cluster_id
        self.cluster = CLUSTERS[cluster_id]
        self.store = store
        self.handlers = dict(handlers or {})
        self.writable = writable if writable is not None else frozenset(
            attr_id for attr_id, d in self.cluster.attributes.items()
            if d.access & (ZCLAttributeAccess.Write | ZCLAttributeAccess.Write_Optional))

    def handle(self, data: bytes) -> bytes | None:
        """The answer to one incoming frame, or None when the ZCL says to stay silent."""
        try:
            header, _ = ZCLHeader.deserialize(bytes(data))
        except ZIGPY_ERRORS:
            return None  # not even a header: nothing to answer to
        if header.direction != Direction.Client_to_Server or not (
                header.frame_control.is_general or header.frame_control.is_cluster):
            return None  # a server ignores frames sent to clients and reserved frame types
        try:
            frame = decode_frame(self.cluster_id, data)
        except ZclDecodeError:
            return self._default(header, self._decode_failure_status(header))
        if header.frame_control.is_general:
            return self._general(frame)
        handler = self.handlers.get(header.command_id)
        if handler is None:
            return self._default(header, Status.UNSUP_CLUSTER_COMMAND)
        return self._default(header, handler(frame))

    def _decode_failure_status(self, header: ZCLHeader) -> Status:
        fc = header.frame_control
        if fc.is_manufacturer_specific:
            return (Status.UNSUP_MANUF_GENERAL_COMMAND if fc.is_general
                    else Status.UNSUP_MANUF_CLUSTER_COMMAND)
        if command_def(self.cluster_id, fc, header.command_id) is None:
            return (Status.UNSUP_GENERAL_COMMAND if fc.is_general
                    else Status.UNSUP_CLUSTER_COMMAND)
        return Status.MALFORMED_COMMAND

    def _general(self, frame: ZclFrame) -> bytes | None:
        command = frame.header.command_id
        if command == GeneralCommand.Read_Attributes:
            return self._reply(frame, GeneralCommand.Read_Attributes_rsp,
                               status_records=[self._read(a) for a in frame.args.attribute_ids])
        if command in _WRITES:
            return self._write(frame)
        if command == GeneralCommand.Default_Response:
            return None  # never answer a Default Response
        return self._default(frame.header, Status.UNSUP_GENERAL_COMMAND)

    def _read(self, attr_id: int) -> foundation.ReadAttributeRecord:
        record = foundation.ReadAttributeRecord(attrid=attr_id)
        definition = self.cluster.attributes.get(attr_id)
        if definition is None or attr_id not in self.store:
            record.status = Status.UNSUPPORTED_ATTRIBUTE
            return record
        record.status = Status.SUCCESS
        record.value = foundation.TypeValue(definition.zcl_type,
                                            definition.type(self.store[attr_id]))
        return record

    def _check(self, record: foundation.Attribute) -> Status:
        definition = self.cluster.attributes.get(record.attrid)
        if definition is None or record.attrid not in self.store:
            return Status.UNSUPPORTED_ATTRIBUTE
        if record.attrid not in self.writable:
            return Status.READ_ONLY
        if record.value.type != definition.zcl_type:
            return Status.INVALID_DATA_TYPE
        return Status.SUCCESS

    def _write(self, frame: ZclFrame) -> bytes | None:
        command = frame.header.command_id
        records = list(frame.args.attributes)
        statuses = [self._check(r) for r in records]
        failed = [(r.attrid, s) for r, s in zip(records, statuses) if s != Status.SUCCESS]
        if not (command == GeneralCommand.Write_Attributes_Undivided and failed):
            for record, status in zip(records, statuses):
                if status == Status.SUCCESS:
                    self.store[record.attrid] = record.value.value
        if command == GeneralCommand.Write_Attributes_No_Response:
            return None
        # All written: one SUCCESS record with no attribute id (ZCL 2.5.5.1).
        out = foundation.WriteAttributesResponse(
            [foundation.WriteAttributesStatusRecord(status=s, attrid=a) for a, s in failed]
            or [foundation.WriteAttributesStatusRecord(status=Status.SUCCESS)])
        return self._reply(frame, GeneralCommand.Write_Attributes_rsp, status_records=out)

    def _reply(self, frame: ZclFrame, command: GeneralCommand, **fields: Any) -> bytes:
        return general_command(command, Direction.Server_to_Client, tsn=frame.header.tsn,
                               disable_default_response=True, **fields).encode()

    def _default(self, header: ZCLHeader, status: Status) -> bytes | None:
        if status == Status.SUCCESS and header.frame_control.disable_default_response:
            return None
        answer = general_command(GeneralCommand.Default_Response, Direction.Server_to_Client,
                                 tsn=header.tsn, disable_default_response=True,
                                 command_id=t.uint8_t(header.command_id), status=status)
        return answer.encode()

