"""GBCS over the HAN: the ZSE Tunneling cluster (0x0704) as GB devices use it.

A device (the client: ESME, GSME, PPMID) finds the comms hub's Tunneling server by Match
Descriptor, requests a tunnel for protocol 6 (GB-HRGP) with manufacturer code 0xFFFF and
no flow control, then moves whole GBCS messages in Transfer Data commands, each led by a
one-byte GB header: PUT (03) pushes a message, GET (01) asks the hub for the next one it
holds for the device (a sleepy GSME pulls this way), GET-RESPONSE (02) answers with the
count of messages still waiting and the message. Long messages ride in APS fragments
(the node fragments any payload that does not fit one frame). Transfer Data on an unknown
tunnel, or from a device that does not own it, is answered with Transfer Data Error.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from zigpy.zcl.foundation import Direction

from gbcs.errors import GbcsDecodeError
from han.radio.aps_layer import ApsIndication, Endpoint
from han.radio.mac_layer import Confirm
from han.radio.node import Node
from han.zcl.errors import ZclDecodeError
from han.zcl.frame import ZclFrame, cluster_command, decode_frame
from han.zcl.server import ClusterServer

TUNNELING = 0x0704
GB_HRGP = 6                      # ProtocolID of GBCS remote party messages
MANUFACTURER_NOT_USED = 0xFFFF
MAX_TRANSFER_SIZE = 1500         # octets this side accepts in one Transfer Data
CLOSE_TUNNEL_TIMEOUT = 0xFFFF    # attribute 0x0000, seconds
MAX_TUNNELS = 16


class TransferCommand(IntEnum):
    GET = 0x01
    GET_RESPONSE = 0x02
    PUT = 0x03


class TunnelStatus(IntEnum):
    SUCCESS = 0x00
    BUSY = 0x01
    NO_MORE_TUNNEL_IDS = 0x02
    PROTOCOL_NOT_SUPPORTED = 0x03
    FLOW_CONTROL_NOT_SUPPORTED = 0x04


class TransferDataStatus(IntEnum):
    NO_SUCH_TUNNEL = 0x00
    WRONG_DEVICE = 0x01
    DATA_OVERFLOW = 0x02


class TunnelDecodeError(GbcsDecodeError):
    """Transfer Data whose GB header is missing or wrong."""


@dataclass(frozen=True)
class Transfer:
    """The data of one Transfer Data: GB header, messages remaining (GET-RESPONSE only)
    and the GBCS message (empty for GET, and for a GET-RESPONSE with nothing waiting)."""

    command: TransferCommand
    message: bytes = b""
    remaining: int = 0


def encode_transfer(transfer: Transfer) -> bytes:
    if transfer.command == TransferCommand.GET_RESPONSE:
        if not 0 <= transfer.remaining <= 0xFF:
            raise ValueError(f"messages remaining {transfer.remaining} is not one octet")
        return bytes([transfer.command, transfer.remaining]) + transfer.message
    if transfer.command == TransferCommand.GET and transfer.message:
        raise ValueError("a GET carries no message")
    return bytes([transfer.command]) + transfer.message


def decode_transfer(data: bytes) -> Transfer:
    if not data:
        raise TunnelDecodeError("no GB transfer header", 0, "tunnel.command")
    try:
        command = TransferCommand(data[0])
    except ValueError:
        raise TunnelDecodeError(f"GB transfer header 0x{data[0]:02X} is not GET, "
                                "GET-RESPONSE or PUT", 0, "tunnel.command") from None
    if command == TransferCommand.GET:
        if len(data) != 1:
            raise TunnelDecodeError(f"{len(data) - 1} bytes after GET", 1, "tunnel.get")
        return Transfer(command)
    if command == TransferCommand.GET_RESPONSE:
        if len(data) < 2:
            raise TunnelDecodeError("truncated: GET-RESPONSE needs messages remaining", 1,
                                    "tunnel.remaining")
        return Transfer(command, bytes(data[2:]), data[1])
    if len(data) == 1:
        raise TunnelDecodeError("a PUT with no message", 1, "tunnel.message")
    return Transfer(command, bytes(data[1:]))


class _TunnelCluster:
    """What client and server share: decoding, sending, the tsn."""

    direction: Direction

    def __init__(self, node: Node, endpoint: Endpoint) -> None:
        self.node = node
        self.endpoint = endpoint
        self._tsn = 0

    def _command(self, name: str, **fields: object) -> bytes:
        self._tsn = (self._tsn + 1) & 0xFF
        return cluster_command(TUNNELING, name, self.direction, tsn=self._tsn,
                               disable_default_response=True, **fields).encode()

    def _send(self, short: int, endpoint: int, frame: bytes,
              on_confirm: Confirm | None = None) -> None:
        self.node.send_data(short, endpoint, TUNNELING, frame,
                            source_endpoint=self.endpoint.endpoint, on_confirm=on_confirm)

    def _decode(self, ind: ApsIndication) -> ZclFrame | None:
        try:
            return decode_frame(TUNNELING, ind.payload)
        except ZclDecodeError:
            self.node.stats["tunnel_malformed"] += 1
            return None

    def _transfer(self, data: bytes) -> Transfer | None:
        try:
            return decode_transfer(data)
        except TunnelDecodeError:
            self.node.stats["tunnel_bad_header"] += 1
            return None


@dataclass
class _Tunnel:
    tunnel_id: int
    short: int
    endpoint: int
    eui: int | None


class TunnelServer(_TunnelCluster):
    """The comms hub side. `on_message(eui, message)` receives each GBCS message a device
    PUTs; `queue` holds messages for a device to GET, `put` pushes one at once."""

    direction = Direction.Server_to_Client

    def __init__(self, node: Node, endpoint: Endpoint,
                 on_message: Callable[[int | None, bytes], None]) -> None:
        super().__init__(node, endpoint)
        self.on_message = on_message
        self.tunnels: dict[int, _Tunnel] = {}
        self.queues: dict[int, deque[bytes]] = {}
        self._attributes = ClusterServer(TUNNELING, {0x0000: CLOSE_TUNNEL_TIMEOUT})
        self._next_id = 0
        endpoint.server_clusters[TUNNELING] = self._on_frame

    def tunnel_for(self, eui: int) -> _Tunnel | None:
        return next((t for t in self.tunnels.values() if t.eui == eui), None)

    def queue(self, eui: int, message: bytes) -> None:
        """Hold `message` until the device GETs it."""
        self.queues.setdefault(eui, deque()).append(bytes(message))

    def put(self, eui: int, message: bytes, on_confirm: Confirm | None = None) -> None:
        """Push `message` down the device's tunnel now."""
        tunnel = self.tunnel_for(eui)
        if tunnel is None:
            raise ValueError(f"no tunnel open with {eui:016X}")
        data = encode_transfer(Transfer(TransferCommand.PUT, message))
        self._send(tunnel.short, tunnel.endpoint,
                   self._command("transfer_data_server_to_client",
                                 tunnel_id=tunnel.tunnel_id, data=data), on_confirm)

    def _on_frame(self, ind: ApsIndication) -> bytes | None:
        frame = self._decode(ind)
        if frame is None or frame.header.frame_control.is_general:
            return self._attributes.handle(ind.payload)
        name = frame.command.name
        if name == "request_tunnel":
            return self._request(ind, frame)
        if name == "close_tunnel":
            tunnel = self.tunnels.get(frame.args.tunnel_id)
            if tunnel is not None and tunnel.short == ind.source:
                del self.tunnels[tunnel.tunnel_id]
            return None
        if name == "transfer_data_client_to_server":
            return self._transfer_in(ind, frame)
        return self._attributes.handle(ind.payload)   # Default Response for the rest

    def _request(self, ind: ApsIndication, frame: ZclFrame) -> bytes:
        args = frame.args
        status = TunnelStatus.SUCCESS
        if args.protocol_id != GB_HRGP or args.manufacturer_code != MANUFACTURER_NOT_USED:
            status = TunnelStatus.PROTOCOL_NOT_SUPPORTED
        elif args.flow_control_support:
            status = TunnelStatus.FLOW_CONTROL_NOT_SUPPORTED
        tunnel_id = 0xFFFF
        if status == TunnelStatus.SUCCESS:
            # A device re-requests after a reboot or a rejoin (maybe at a new short
            # address): its old tunnels go, and so do those of whoever had this address.
            stale = [t.tunnel_id for t in self.tunnels.values()
                     if t.short == ind.source or (ind.source_ieee is not None
                                                  and t.eui == ind.source_ieee)]
            for old in stale:
                del self.tunnels[old]
            if len(self.tunnels) >= MAX_TUNNELS:
                status = TunnelStatus.NO_MORE_TUNNEL_IDS
            else:
                self._next_id = (self._next_id + 1) & 0xFFFF
                tunnel_id = self._next_id
                self.tunnels[tunnel_id] = _Tunnel(tunnel_id, ind.source, ind.source_endpoint,
                                                  ind.source_ieee)
        if status != TunnelStatus.SUCCESS:
            self.node.stats["tunnel_refused"] += 1
        return self._command("request_tunnel_response", tunnel_id=tunnel_id,
                             tunnel_status=status,
                             maximum_incoming_transfer_size=MAX_TRANSFER_SIZE)

    def _transfer_in(self, ind: ApsIndication, frame: ZclFrame) -> bytes | None:
        tunnel = self.tunnels.get(frame.args.tunnel_id)
        if tunnel is None or tunnel.short != ind.source:
            self.node.stats["tunnel_transfer_refused"] += 1
            status = (TransferDataStatus.NO_SUCH_TUNNEL if tunnel is None
                      else TransferDataStatus.WRONG_DEVICE)
            return self._command("transfer_data_error_server_to_client",
                                 tunnel_id=frame.args.tunnel_id, transfer_data_status=status)
        if len(frame.args.data) > MAX_TRANSFER_SIZE:
            return self._command("transfer_data_error_server_to_client",
                                 tunnel_id=tunnel.tunnel_id,
                                 transfer_data_status=TransferDataStatus.DATA_OVERFLOW)
        transfer = self._transfer(frame.args.data)
        if transfer is None:
            return None
        if transfer.command == TransferCommand.PUT:
            self.on_message(tunnel.eui, transfer.message)
            return None
        if transfer.command == TransferCommand.GET:
            waiting = self.queues.get(tunnel.eui) if tunnel.eui is not None else None
            message = waiting.popleft() if waiting else b""
            remaining = len(waiting) if waiting else 0
            data = encode_transfer(Transfer(TransferCommand.GET_RESPONSE, message, remaining))
            return self._command("transfer_data_server_to_client", tunnel_id=tunnel.tunnel_id,
                                 data=data)
        self.node.stats["tunnel_unexpected"] += 1   # a GET-RESPONSE is the hub's to send
        return None


class TunnelClient(_TunnelCluster):
    """The device side. `on_message(message)` receives each GBCS message the hub PUTs or
    returns to a GET; a GET-RESPONSE with messages remaining is followed by another GET."""

    direction = Direction.Client_to_Server

    def __init__(self, node: Node, endpoint: Endpoint,
                 on_message: Callable[[bytes], None]) -> None:
        super().__init__(node, endpoint)
        self.on_message = on_message
        self.tunnel_id: int | None = None
        self.server: tuple[int, int] | None = None
        self.status: TunnelStatus | None = None
        self.errors: list[TransferDataStatus] = []
        self._on_open: Callable[[TunnelStatus], None] | None = None
        endpoint.client_clusters[TUNNELING] = self._on_frame

    def open(self, server: int, server_endpoint: int,
             on_open: Callable[[TunnelStatus], None] | None = None) -> None:
        """Request Tunnel to the hub's Tunneling server."""
        self.server = (server, server_endpoint)
        self._on_open = on_open
        self._send(server, server_endpoint, self._command(
            "request_tunnel", protocol_id=GB_HRGP, manufacturer_code=MANUFACTURER_NOT_USED,
            flow_control_support=False, maximum_incoming_transfer_size=MAX_TRANSFER_SIZE))

    def put(self, message: bytes, on_confirm: Confirm | None = None) -> None:
        self._data(Transfer(TransferCommand.PUT, message), on_confirm)

    def get(self) -> None:
        self._data(Transfer(TransferCommand.GET), None)

    def _data(self, transfer: Transfer, on_confirm: Confirm | None) -> None:
        if self.tunnel_id is None or self.server is None:
            raise ValueError("no tunnel is open: call open() and wait for it")
        self._send(*self.server, self._command("transfer_data_client_to_server",
                                               tunnel_id=self.tunnel_id,
                                               data=encode_transfer(transfer)), on_confirm)

    def _on_frame(self, ind: ApsIndication) -> bytes | None:
        frame = self._decode(ind)
        if frame is None or frame.header.frame_control.is_general:
            return None
        if self.server is None or ind.source != self.server[0]:
            self.node.stats["tunnel_wrong_server"] += 1
            return None
        name = frame.command.name
        if name == "request_tunnel_response":
            self.status = TunnelStatus(frame.args.tunnel_status) \
                if frame.args.tunnel_status in set(TunnelStatus) else None
            self.tunnel_id = frame.args.tunnel_id if \
                self.status == TunnelStatus.SUCCESS else None
            if self._on_open is not None and self.status is not None:
                self._on_open(self.status)
        elif name == "transfer_data_server_to_client":
            if frame.args.tunnel_id != self.tunnel_id:
                return self._command("transfer_data_error_client_to_server",
                                     tunnel_id=frame.args.tunnel_id,
                                     transfer_data_status=TransferDataStatus.NO_SUCH_TUNNEL)
            transfer = self._transfer(frame.args.data)
            if transfer is None or transfer.command == TransferCommand.GET:
                return None
            if transfer.message:
                self.on_message(transfer.message)
            if transfer.command == TransferCommand.GET_RESPONSE and transfer.remaining:
                self.get()
        elif name == "transfer_data_error_server_to_client":
            self.errors.append(TransferDataStatus(frame.args.transfer_data_status)
                               if frame.args.transfer_data_status in set(TransferDataStatus)
                               else TransferDataStatus.NO_SUCH_TUNNEL)
        elif name == "tunnel_closure_notification":
            self.tunnel_id = None
        return None
