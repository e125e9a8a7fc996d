"""The APS data service of a node: acknowledged unicasts, retries and fragmentation.

A unicast asks for an APS acknowledgement and is resent up to apsMaxFrameRetries times,
the wait starting once the MAC has sent the frame. A payload longer than one frame carries
goes in blocks (window of one): the first block's extended header holds the block count,
the others their index, each is acknowledged with its block number and an ack bitfield,
and all share one APS counter. Frames are secured with the link key shared with the
destination (data key, nonce source from the NWK auxiliary header) when one exists and
the cluster is not one that runs under NWK security only. The receiver reassembles the
blocks of one APS counter from one source, or drops them when the rest does not come.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from han.frames.aps import (
    ApsFrameType,
    ApsHeader,
    DeliveryMode,
    ExtendedHeader,
    Fragmentation,
    encode_aps,
    secure_aps,
)
from han.frames.nwk import NwkFrameType
from han.frames.security import KeyIdentifier
from han.radio.mac_layer import Confirm, MacLayer

SE_PROFILE = 0x0109
BROADCAST_ALL = 0xFFFF
BROADCAST_RX_ON = 0xFFFD        # every node whose receiver is on when idle
BROADCAST_ROUTERS = 0xFFFC      # from here up, NWK addresses are broadcasts
NWK_ONLY_CLUSTERS = frozenset({0x0800})   # Key Establishment: it makes the link key
APS_MAX_RETRIES = 2
APS_ACK_WAIT = timedelta(milliseconds=1500)   # apsAckWaitDuration, secured, few hops
REASSEMBLY_WAIT = timedelta(seconds=5)
# APS payload per frame: 127-byte PSDU - MAC header/FCS (11) - NWK header, aux and MIC
# (8 + 14 + 4) - APS header with extended header (11) - APS aux without nonce and MIC (9).
FRAGMENT_SIZE = 64
MAX_UNFRAGMENTED = 64
MAX_BLOCKS = 32


@dataclass(frozen=True)
class ApsIndication:
    """A received APS data frame (reassembled), as an endpoint sees it."""

    source: int
    source_ieee: int | None
    source_endpoint: int
    destination_endpoint: int
    cluster_id: int
    profile_id: int
    payload: bytes
    aps_secured: bool
    lqi: int


# An endpoint's cluster: the indication in, the reply payload (same cluster, back to the
# sender) out, or None.
ClusterHandler = Callable[[ApsIndication], bytes | None]


@dataclass
class Endpoint:
    """A simple descriptor with the handlers of its server (input) and client (output)
    clusters."""

    endpoint: int
    profile_id: int = SE_PROFILE
    device_id: int = 0
    server_clusters: dict[int, ClusterHandler] = field(default_factory=dict)
    client_clusters: dict[int, ClusterHandler] = field(default_factory=dict)


@dataclass
class _Outgoing:
    """An APS data transmission waiting for acknowledgements, block by block."""

    destination: int
    header: ApsHeader
    blocks: list[bytes]
    secure: bool
    on_confirm: Confirm | None
    block: int = 0
    attempts: int = 0
    timer: Any = None


@dataclass
class _Reassembly:
    total: int
    blocks: dict[int, bytes]
    timer: Any = None


class ApsLayer(MacLayer):
    """APS data service state: the address map, the link keys, transmissions in flight
    and fragments being reassembled. The node provides NWK transmission."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.addresses: dict[int, int] = {}        # short -> EUI-64 (address map)
        self.link_keys: dict[int, bytes] = {}      # partner EUI-64 -> APS link key
        self._aps_counter = self.random.randrange(256)
        self._outgoing: dict[tuple[int, int], _Outgoing] = {}
        self._reassembly: dict[tuple[int, int], _Reassembly] = {}

    @abstractmethod
    def _nwk_send(self, destination: int, payload: bytes,
                  frame_type: NwkFrameType = NwkFrameType.DATA, *, secure: bool = True,
                  source_ieee: bool = False, on_done: Confirm | None = None) -> None:
        """Send a NWK frame (the node's NWK layer, with its security)."""

    @abstractmethod
    def _next_aps_counter(self) -> int:
        """The next outgoing APS security frame counter (persisted by the node)."""

    # -- address map and link keys -------------------------------------------------------------

    def eui_of(self, short: int) -> int | None:
        return self.addresses.get(short)

    def short_of(self, eui: int) -> int | None:
        return next((s for s, e in self.addresses.items() if e == eui), None)

    def aps_security_available(self, destination: int) -> bool:
        eui = self.addresses.get(destination)
        return eui is not None and eui in self.link_keys

    # -- sending: acknowledged, retried, fragmented --------------------------------------------

    def send_data(self, destination: int, destination_endpoint: int, cluster_id: int,
                  payload: bytes, *, source_endpoint: int = 1, profile_id: int = SE_PROFILE,
                  aps_security: bool | None = None, on_confirm: Confirm | None = None) -> None:
        """Send an APS data frame, fragmented when longer than one frame carries;
        unicasts are acknowledged (per block) and retried. `aps_security` None secures
        with the link key when one is shared with the destination."""
        unicast = destination < BROADCAST_ROUTERS
        if aps_security is None and cluster_id in NWK_ONLY_CLUSTERS:
            aps_security = False
        secure = unicast and (self.aps_security_available(destination)
                              if aps_security is None else aps_security)
        if secure and not self.aps_security_available(destination):
            raise ValueError(f"{self.name}: no link key with node 0x{destination:04X}")
        blocks = [payload] if len(payload) <= MAX_UNFRAGMENTED else [
            payload[i:i + FRAGMENT_SIZE] for i in range(0, len(payload), FRAGMENT_SIZE)]
        if len(blocks) > 1 and not unicast:
            raise ValueError("a broadcast cannot be fragmented")
        if len(blocks) > MAX_BLOCKS:
            raise ValueError(f"{len(payload)} bytes need {len(blocks)} blocks, more than "
                             f"{MAX_BLOCKS}")
        self._aps_counter = (self._aps_counter + 1) & 0xFF
        header = ApsHeader(ApsFrameType.DATA, self._aps_counter,
                           DeliveryMode.UNICAST if unicast else DeliveryMode.BROADCAST,
                           ack_request=unicast, destination_endpoint=destination_endpoint,
                           cluster_id=cluster_id, profile_id=profile_id,
                           source_endpoint=source_endpoint)
        if not unicast:
            self._nwk_send(destination, encode_aps(header, payload), on_done=on_confirm)
            return
        out = _Outgoing(destination, header, blocks, secure, on_confirm)
        self._outgoing[(destination, self._aps_counter)] = out
        self._send_block(out)

    def _send_block(self, out: _Outgoing) -> None:
        """Send the current block; a sleepy sender polls for its ack (and, after the
        last, the answer) from each block on, however many blocks there are."""
        self.fast_poll()
        out.attempts += 1
        header = out.header
        if len(out.blocks) > 1:
            first = out.block == 0
            header = replace(header, extended_header=ExtendedHeader(
                Fragmentation.FIRST if first else Fragmentation.PART,
                len(out.blocks) if first else out.block))
        block, attempt = out.block, out.attempts

        def sent(ok: bool) -> None:   # the ack wait starts once the MAC has sent the block
            if (out.block, out.attempts) == (block, attempt) and self._current(out):
                out.timer = self.after(APS_ACK_WAIT if ok else timedelta(0),
                                       lambda: self._aps_ack_timeout(out), "aps ack wait")
        self._nwk_send(out.destination, self._seal_aps(header, out.blocks[out.block],
                                                       out.destination, out.secure), on_done=sent)

    def _current(self, out: _Outgoing) -> bool:
        return self._outgoing.get((out.destination, out.header.aps_counter)) is out

    def _aps_ack_timeout(self, out: _Outgoing) -> None:
        if not self._current(out):
            return
        if out.attempts <= APS_MAX_RETRIES:
            self.stats["aps_retry"] += 1
            self._send_block(out)
            return
        self.stats["aps_no_ack"] += 1
        self._outgoing.pop((out.destination, out.header.aps_counter), None)
        if out.on_confirm is not None:
            out.on_confirm(False)

    def _on_aps_ack(self, source: int, header: ApsHeader) -> None:
        out = self._outgoing.get((source, header.aps_counter))
        if out is None:
            self.stats["aps_ack_unexpected"] += 1
            return
        block = 0
        if header.extended_header is not None and header.extended_header.block_number:
            block = header.extended_header.block_number
        if block != out.block:
            return  # an ack for an earlier block, retried
        self.cancel(out.timer)
        out.block += 1
        out.attempts = 0
        if out.block < len(out.blocks):
            self._send_block(out)
            return
        del self._outgoing[(source, header.aps_counter)]
        if out.on_confirm is not None:
            out.on_confirm(True)

    def _send_aps_ack(self, destination: int, data: ApsHeader, secured: bool) -> None:
        extended = None
        if data.extended_header is not None and \
                data.extended_header.fragmentation != Fragmentation.NONE:
            block = 0 if data.extended_header.fragmentation == Fragmentation.FIRST \
                else data.extended_header.block_number
            extended = ExtendedHeader(data.extended_header.fragmentation, block, 0x01)
        ack = ApsHeader(ApsFrameType.ACK, data.aps_counter,
                        destination_endpoint=data.source_endpoint, cluster_id=data.cluster_id,
                        profile_id=data.profile_id,
                        source_endpoint=data.destination_endpoint,
                        extended_header=extended)
        self._nwk_send(destination, self._seal_aps(ack, b"", destination, secured))

    def _seal_aps(self, header: ApsHeader, payload: bytes, destination: int,
                  secure: bool) -> bytes:
        if not secure:
            return encode_aps(header, payload)
        key = self.link_keys[self.addresses[destination]]
        return secure_aps(header, payload, key, KeyIdentifier.DATA, self._next_aps_counter(),
                          self.eui64, extended_nonce=False)

    # -- receiving fragments -------------------------------------------------------------------

    def _reassemble(self, source: int, header: ApsHeader, payload: bytes) -> bytes | None:
        key = (source, header.aps_counter)
        extended = header.extended_header
        assert extended is not None and extended.block_number is not None
        if extended.fragmentation == Fragmentation.FIRST:
            if not 1 < extended.block_number <= MAX_BLOCKS:
                self.stats["aps_fragment_malformed"] += 1
                return None
            old = self._reassembly.pop(key, None)
            if old is not None:
                self.cancel(old.timer)
            entry = _Reassembly(extended.block_number, {0: payload})
            entry.timer = self.after(REASSEMBLY_WAIT, lambda: self._reassembly_expired(key),
                                      "reassembly")
            self._reassembly[key] = entry
        else:
            entry = self._reassembly.get(key)
            if entry is None or not 0 < extended.block_number < entry.total:
                self.stats["aps_fragment_unexpected"] += 1
                return None
            entry.blocks[extended.block_number] = payload
        if len(entry.blocks) < entry.total:
            return None
        self.cancel(entry.timer)
        del self._reassembly[key]
        return b"".join(entry.blocks[i] for i in range(entry.total))

    def _reassembly_expired(self, key: tuple[int, int]) -> None:
        if self._reassembly.pop(key, None) is not None:
            self.stats["aps_reassembly_timeout"] += 1
