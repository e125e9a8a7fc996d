"""Handing an APS data indication to the ZCL cluster handler of its endpoint: what a
virtual node and a coordinator stick's host both do with the frames they receive."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any, Protocol

import zigpy.types as t
from zigpy.zcl.foundation import Direction, GeneralCommand, Status, ZCLHeader

from gbcs.errors import GbcsDecodeError
from han.radio.aps_layer import BROADCAST_ROUTERS, ApsIndication, Endpoint
from han.zcl.errors import ZIGPY_ERRORS
from han.zcl.frame import general_command


class ZclHost(Protocol):
    """What serves ZCL on endpoints: a virtual node, or the host of a stick."""

    endpoints: Mapping[int, Endpoint]
    stats: Counter[str]
    last_error: Exception | None

    def send_data(self, destination: int, destination_endpoint: int, cluster_id: int,
                  payload: bytes, **options: Any) -> Any: ...


def deliver(host: ZclHost, ind: ApsIndication) -> None:
    """`ind` to its endpoint's cluster handler, and the reply back to a unicast sender."""
    reply, error = zcl_reply(host.endpoints, ind, host.stats)
    if error is not None:
        host.last_error = error
    if reply is not None and ind.source < BROADCAST_ROUTERS:
        host.send_data(ind.source, ind.source_endpoint, ind.cluster_id, reply,
                       source_endpoint=ind.destination_endpoint, profile_id=ind.profile_id)


def zcl_reply(endpoints: Mapping[int, Endpoint], ind: ApsIndication,
              stats: Counter[str]) -> tuple[bytes | None, Exception | None]:
    """The reply to `ind` (the handler's, or the Default Response a device gives for a
    cluster it does not have or a command its handler cannot take) and the handler's
    error, if it raised one. Frames for no endpoint or that do not decode get no reply,
    only a count in `stats`."""
    endpoint = endpoints.get(ind.destination_endpoint)
    if endpoint is None or endpoint.profile_id != ind.profile_id:
        stats["unknown_endpoint"] += 1
        return None, None
    try:
        header, _ = ZCLHeader.deserialize(ind.payload)
    except ZIGPY_ERRORS:
        stats["zcl_malformed"] += 1
        return None, None
    to_server = header.direction == Direction.Client_to_Server
    handler = (endpoint.server_clusters if to_server
               else endpoint.client_clusters).get(ind.cluster_id)
    if handler is None:
        stats["zcl_unsupported_cluster"] += 1
        return default_response(header, Status.UNSUPPORTED_CLUSTER), None
    try:
        return handler(ind), None
    except (GbcsDecodeError, ValueError) as error:
        stats["zcl_handler_error"] += 1
        return default_response(header, Status.MALFORMED_COMMAND), error


def default_response(header: ZCLHeader, status: Status) -> bytes | None:
    """A Default Response to `header`'s command, unless its sender asked for none or
    it is itself one."""
    if header.frame_control.disable_default_response or (
            header.frame_control.is_general
            and header.command_id == GeneralCommand.Default_Response):
        return None
    direction = Direction.Server_to_Client if \
        header.direction == Direction.Client_to_Server else Direction.Client_to_Server
    return general_command(GeneralCommand.Default_Response, direction, tsn=header.tsn,
                           disable_default_response=True,
                           command_id=t.uint8_t(header.command_id), status=status).encode()
