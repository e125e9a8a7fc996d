"""ZDO on a node's endpoint 0: Device Announce and Match Descriptor.

A device that has joined announces its short and IEEE addresses (Device Announce, broadcast
to every receiver that is on); anyone hearing it updates its address map. Match Descriptor
finds the endpoints that serve or use given clusters of a profile, which is how a GB device
finds the comms hub's Tunneling server. Requests this node does not serve are answered
NOT_SUPPORTED when unicast, as the ZigBee specification asks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from han.frames.aps import DeliveryMode
from han.frames.errors import FrameDecodeError
from han.frames.reader import Reader
from han.radio.aps_layer import BROADCAST_ALL, BROADCAST_RX_ON, ApsIndication, ApsLayer, Endpoint

ZDO_PROFILE = 0x0000
ZDO_ENDPOINT = 0
MATCH_DESC_REQ = 0x0006
MATCH_DESC_RSP = 0x8006
DEVICE_ANNCE = 0x0013
ZDO_NOT_SUPPORTED = 0x84


class ZdoLayer(ApsLayer):
    """The node's endpoints and its ZDO (endpoint 0)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.endpoints: dict[int, Endpoint] = {}
        self._zdo_tsn = 0
        self._zdo_waiting: dict[int, Callable[[int, bytes], None]] = {}

    def add_endpoint(self, endpoint: Endpoint) -> Endpoint:
        if not 1 <= endpoint.endpoint <= 240:
            raise ValueError(f"endpoint {endpoint.endpoint} is not 1-240")
        self.endpoints[endpoint.endpoint] = endpoint
        return endpoint

    def _next_tsn(self) -> int:
        self._zdo_tsn = (self._zdo_tsn + 1) & 0xFF
        return self._zdo_tsn

    def _zdo_send(self, destination: int, cluster: int, payload: bytes) -> None:
        self.send_data(destination, ZDO_ENDPOINT, cluster, payload, source_endpoint=0,
                       profile_id=ZDO_PROFILE, aps_security=False)

    def _announce(self) -> None:
        capability = self.capability
        assert self.short_address is not None
        self._zdo_send(BROADCAST_RX_ON, DEVICE_ANNCE, bytes([self._next_tsn()])
                       + self.short_address.to_bytes(2, "little")
                       + self.eui64.to_bytes(8, "little") + bytes([capability]))

    def match_descriptor(self, profile_id: int, in_clusters: list[int],
                         out_clusters: list[int],
                         on_match: Callable[[int, list[int]], None], *,
                         destination: int = BROADCAST_RX_ON) -> None:
        """Match Descriptor request; `on_match(short, endpoints)` for each answer."""
        tsn = self._next_tsn()
        payload = bytes([tsn]) + destination.to_bytes(2, "little") + profile_id.to_bytes(
            2, "little") + _cluster_list(in_clusters) + _cluster_list(out_clusters)

        def answer(source: int, body: bytes) -> None:
            if len(body) >= 4 and body[0] == 0 and len(body) == 4 + body[3]:
                on_match(int.from_bytes(body[1:3], "little"), list(body[4:]))
            else:
                self.stats["zdo_malformed"] += 1
        self._zdo_waiting[tsn] = answer
        self._zdo_send(destination, MATCH_DESC_REQ, payload)

    def _on_zdo(self, ind: ApsIndication, mode: DeliveryMode) -> None:
        if ind.profile_id != ZDO_PROFILE or not ind.payload:
            self.stats["zdo_malformed"] += 1
            return
        tsn, body = ind.payload[0], ind.payload[1:]
        if ind.cluster_id == DEVICE_ANNCE:
            if len(body) == 11:
                short = int.from_bytes(body[:2], "little")
                self.addresses[short] = int.from_bytes(body[2:10], "little")
            else:
                self.stats["zdo_malformed"] += 1
        elif ind.cluster_id == MATCH_DESC_REQ:
            self._on_match_request(ind, tsn, body, mode)
        elif ind.cluster_id & 0x8000:
            waiting = self._zdo_waiting.get(tsn)
            if waiting is None:
                self.stats["zdo_unexpected"] += 1
            else:
                waiting(ind.source, body)
        elif mode == DeliveryMode.UNICAST:
            self._zdo_send(ind.source, ind.cluster_id | 0x8000,
                           bytes([tsn, ZDO_NOT_SUPPORTED]))

    def _on_match_request(self, ind: ApsIndication, tsn: int, body: bytes,
                          mode: DeliveryMode) -> None:
        try:
            r = Reader(body)
            nwk_address = r.uint(2, "zdo.nwk_address")
            profile = r.uint(2, "zdo.profile_id")
            ins = [r.uint(2, "zdo.in_cluster") for _ in range(r.u8("zdo.in_count"))]
            outs = [r.uint(2, "zdo.out_cluster") for _ in range(r.u8("zdo.out_count"))]
            r.expect_end("zdo.match_descriptor")
        except FrameDecodeError:
            self.stats["zdo_malformed"] += 1
            return
        if nwk_address not in (self.short_address, BROADCAST_RX_ON, BROADCAST_ALL):
            return
        matches = [e.endpoint for e in self.endpoints.values() if e.profile_id == profile and (
            set(ins) & set(e.server_clusters) or set(outs) & set(e.client_clusters))]
        if not matches and mode != DeliveryMode.UNICAST:
            return
        assert self.short_address is not None
        self._zdo_send(ind.source, MATCH_DESC_RSP, bytes([tsn, 0x00])
                       + self.short_address.to_bytes(2, "little")
                       + bytes([len(matches)] + matches))



def _cluster_list(clusters: list[int]) -> bytes:
    return bytes([len(clusters)]) + b"".join(c.to_bytes(2, "little") for c in clusters)
