"""The NCP's radio: a `han.radio.Node` whose application lives on the host.

Every APS data frame the node accepts (after NWK/APS security, acknowledgement, duplicate
rejection and reassembly) goes to the host as it arrived: delivery mode, group, counter,
endpoints, cluster, profile, whether APS security protected it, link quality. ZDO frames go
to the host as well; the node itself keeps handling what a stack handles without its
application (Device Announce updates the address map, Match Descriptor is answered from the
endpoints the host registered, and so are the descriptor and address requests in
`zdo_server`). Group messages go out as ZigBee PRO sends them without NWK
multicast: a NWK broadcast to the receivers that are on, with APS group addressing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from han.frames.aps import (
    ApsFrame,
    ApsFrameType,
    ApsHeader,
    DeliveryMode,
    encode_aps,
)
from han.ncp.zdo_server import answer as zdo_server_answer
from han.radio.aps_layer import BROADCAST_RX_ON
from han.radio.mac_layer import Confirm
from han.radio.node import Node
from han.radio.zdo import DEVICE_ANNCE, MATCH_DESC_REQ, ZDO_ENDPOINT, ZDO_PROFILE


@dataclass(frozen=True)
class Incoming:
    """An APS data frame for the host."""

    source: int
    source_ieee: int | None
    delivery_mode: DeliveryMode
    group: int | None
    aps_counter: int
    source_endpoint: int
    destination_endpoint: int
    cluster_id: int
    profile_id: int
    payload: bytes
    aps_secured: bool
    lqi: int


class NcpNode(Node):
    """A node that hands its application traffic to `on_incoming`."""

    def __init__(self, *args: Any, on_incoming: Callable[[Incoming], None],
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_incoming = on_incoming
        self.manufacturer_code = 0x1002

    @property
    def aps_counter(self) -> int:
        """The APS counter of the last data frame sent."""
        return self._aps_counter

    @aps_counter.setter
    def aps_counter(self, value: int) -> None:
        self._aps_counter = value & 0xFF

    @property
    def nwk_frame_counter(self) -> int:
        """The next outgoing NWK security frame counter."""
        return self._nwk_tx

    @property
    def aps_frame_counter(self) -> int:
        """The next outgoing APS security frame counter."""
        return self._aps_tx

    def _on_aps_message(self, source: int, source_ieee: int | None, frame: ApsFrame,
                        payload: bytes, lqi: int) -> None:
        header = frame.header
        incoming = Incoming(
            source, self.addresses.get(source, source_ieee), header.delivery_mode,
            header.group_address, header.aps_counter, header.source_endpoint or 0,
            header.destination_endpoint or 0, header.cluster_id or 0, header.profile_id or 0,
            payload, frame.aux is not None, lqi)
        if header.destination_endpoint == ZDO_ENDPOINT and (
                header.cluster_id in (DEVICE_ANNCE, MATCH_DESC_REQ)
                or (header.cluster_id or 0) & 0x8000 and payload
                and payload[0] in self._zdo_waiting):
            super()._on_aps_message(source, source_ieee, frame, payload, lqi)
        elif header.destination_endpoint == ZDO_ENDPOINT:
            self.answer_zdo(source, incoming.cluster_id, incoming.profile_id, payload)
        self.on_incoming(incoming)

    def zdo_answer(self, cluster_id: int, payload: bytes) -> bytes | None:
        """What the stack answers to a ZDO request for this node (None: not its to answer)."""
        assert self.short_address is not None
        return zdo_server_answer(cluster_id, payload, short=self.short_address,
                                 eui64=self.eui64, manufacturer=self.manufacturer_code,
                                 endpoints=self.endpoints)

    def answer_zdo(self, source: int, cluster_id: int, profile_id: int,
                   payload: bytes) -> None:
        if profile_id != ZDO_PROFILE:
            return
        reply = self.zdo_answer(cluster_id, payload)
        if reply is not None:
            self._zdo_send(source, cluster_id | 0x8000, reply)

    def send_group(self, group: int, cluster_id: int, profile_id: int, source_endpoint: int,
                   payload: bytes, on_done: Confirm | None = None) -> None:
        """An APS group frame, broadcast to every receiver that is on."""
        self._aps_counter = (self._aps_counter + 1) & 0xFF
        header = ApsHeader(ApsFrameType.DATA, self._aps_counter, DeliveryMode.GROUP,
                           group_address=group, cluster_id=cluster_id, profile_id=profile_id,
                           source_endpoint=source_endpoint)
        self._nwk_send(BROADCAST_RX_ON, encode_aps(header, payload), on_done=on_done)
