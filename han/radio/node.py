"""A ZigBee node on the virtual medium: joining, NWK and APS security, endpoints.

On top of its MAC (`mac_layer`), APS data service (`aps_layer`) and ZDO (`zdo`), a node
does what a real single-chip stack does, in the order it does it, so a capture reads like
a sniffer's: beacon scan and association (the coordinator answering through indirect
transmission after a Data Request), network key delivery by APS Transport Key, NWK frames
secured with the network key (frame counters per source and key), APS frames and commands
secured with link keys, leave, rejoin and key switch, and delivery to endpoints with the
ZCL status a device gives for a cluster it does not have. Routing is one hop: every node
talks to the nodes in its radio range (a GB HAN is a star around the comms hub).

Anti-replay state (incoming frame counters per source, per network key) and the outgoing
counters live in `nvm`, a mapping the board persists; outgoing counters are reserved in
blocks, as real stacks do, so a power cut never reuses one. Bad frames are counted in
`stats` (by reason) and dropped; nothing a peer sends raises out of `receive`.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from datetime import timedelta
from enum import Enum
from typing import Any

from gbcs.errors import GbcsDecodeError
from han.frames.aps import (
    ApsFrame,
    ApsFrameType,
    ApsHeader,
    DeliveryMode,
    Fragmentation,
    decode_aps,
    decode_aps_header,
    encode_aps,
    secure_aps,
    unsecure_aps,
)
from han.frames.aps_commands import (
    ApsCommand,
    SwitchKey,
    TransportNetworkKey,
    decode_aps_command,
    encode_aps_command,
)
from han.frames.errors import FrameDecodeError, FrameSecurityError, ReplayError
from han.frames.mac import (
    AddressMode,
    Beacon,
    MacCommand,
    MacCommandId,
    MacFrame,
    MacFrameType,
)
from han.frames.nwk import (
    NwkFrameType,
    NwkHeader,
    decode_nwk_header,
    encode_nwk,
    secure_nwk,
    unsecure_nwk,
)
from han.frames.reader import Reader
from han.frames.security import FrameCounters, KeyIdentifier, decode_aux
from han.radio.aps_layer import BROADCAST_ALL, BROADCAST_ROUTERS, BROADCAST_RX_ON, ApsIndication
from han.radio.mac_layer import CAPABILITY_RX_ON, COORDINATOR, MAC_BROADCAST, Confirm
from han.radio.medium import Medium, Position, Scheduler
from han.radio.zcl_dispatch import deliver
from han.radio.zdo import ZDO_ENDPOINT, ZdoLayer

RESPONSE_WAIT = timedelta(milliseconds=30)     # association: wait before the Data Request
SCAN_TIME = timedelta(milliseconds=100)
KEY_WAIT = timedelta(seconds=2)
COUNTER_RESERVE = 256
NWK_RADIUS = 30

# NWK commands (ZigBee PRO)
NWK_LEAVE = 0x04
NWK_REJOIN_REQUEST = 0x06
NWK_REJOIN_RESPONSE = 0x07
LEAVE_REQUEST = 0x40

# 802.15.4 association
ASSOCIATION_SUCCESS = 0x00
PAN_ACCESS_DENIED = 0x02


class JoinStatus(Enum):
    SUCCESS = "success"
    NO_NETWORK = "no network found"
    REFUSED = "refused by the coordinator"
    NO_RESPONSE = "no association response"
    NO_KEY = "no network key delivered"


# An APS command handler: the command, its sender's EUI-64, and the APS key identifier it
# was secured with (None: NWK security only).
ApsCommandHandler = Callable[[Any, int, KeyIdentifier | None], None]


def _eui(value: int) -> str:
    return f"{value:016X}"


class Node(ZdoLayer):
    """One ZigBee node and its radio. A node forms a network (`form_network`, it is then the
    coordinator) or joins one (`join`)."""

    def __init__(self, eui64: int, medium: Medium, scheduler: Scheduler, *,
                 position: Position = (0.0, 0.0, 0.0), channel: int = 11,
                 nvm: MutableMapping[str, Any] | None = None, rx_on_when_idle: bool = True,
                 poll_interval: timedelta | None = None, name: str = "") -> None:
        self.nvm: MutableMapping[str, Any] = nvm if nvm is not None else {}
        # Sequence numbers start where a reboot would not repeat the last ones heard.
        super().__init__(eui64, medium, scheduler, position=position, channel=channel,
                         rx_on_when_idle=rx_on_when_idle, poll_interval=poll_interval,
                         name=name, seed=eui64 ^ self.nvm.get("tx_nwk", 0))
        self.network_keys: dict[int, bytes] = {}   # key sequence number -> network key
        self.active_key_sequence = 0
        self.extended_pan_id = 0
        self.trust_centre: int | None = None       # the trust centre's EUI-64
        self.permit_joining = False
        # hooks the trust centre sets on the coordinator
        self.join_policy: Callable[[int], bool] = lambda eui: True
        self.on_associated: Callable[[int, int], None] = lambda eui, short: None
        self.rejoin_policy: Callable[[int], bool] = lambda eui: True
        self.on_device_left: Callable[[int], None] = lambda eui: None
        self.aps_command_handlers: dict[type, ApsCommandHandler] = {
            TransportNetworkKey: self._on_transport_key, SwitchKey: self._on_switch_key}
        self.last_error: Exception | None = None
        self._nwk_tx = 0
        self._aps_tx = 0
        self._nwk_in: dict[int, FrameCounters] = {}
        self._aps_in = FrameCounters()
        self._nwk_seq = self.random.randrange(256)
        self._last_aps: dict[int, tuple[int, int | None]] = {}
        self._join: dict[str, Any] | None = None
        self._preconfigured_key: bytes | None = None
        self._restore()
        medium.attach(self)

    # -- forming, scanning, associating ----------------------------------------------------

    @property
    def joined(self) -> bool:
        return (self.short_address is not None and self.pan_id is not None
                and self.active_key_sequence in self.network_keys)

    @property
    def network_key(self) -> bytes | None:
        return self.network_keys.get(self.active_key_sequence)

    def form_network(self, pan_id: int, extended_pan_id: int, network_key: bytes, *,
                     key_sequence: int = 0) -> None:
        """Become the coordinator (and trust centre) of a new network."""
        if len(network_key) != 16:
            raise ValueError(f"a network key is 16 bytes, not {len(network_key)}")
        self.is_coordinator = True
        self.pan_id, self.extended_pan_id = pan_id, extended_pan_id
        self.short_address = COORDINATOR
        self.network_keys = {key_sequence: bytes(network_key)}
        self.active_key_sequence = key_sequence
        self.trust_centre = self.eui64
        self._save_network()

    def _beacon(self) -> MacFrame:
        superframe = 0x4FFF | (0x8000 if self.permit_joining else 0)  # PAN coordinator
        payload = (bytes([0x00, 0x22, 0x84]) + self.extended_pan_id.to_bytes(8, "little")
                   + b"\xff\xff\xff\x00")
        return MacFrame(MacFrameType.BEACON, self._next_mac_seq(), src_mode=AddressMode.SHORT,
                        src_pan=self.pan_id, src_address=self.short_address,
                        body=Beacon(superframe, payload=payload))

    def join(self, link_key: bytes, on_done: Callable[[JoinStatus], None], *,
             pan_id: int | None = None) -> None:
        """Scan this channel, associate with a coordinator that permits joining, and wait
        for the network key, delivered with `link_key` (the install-code key)."""
        if len(link_key) != 16:
            raise ValueError(f"a link key is 16 bytes, not {len(link_key)}")
        self._leave_network()
        self._preconfigured_key = bytes(link_key)
        self._join = {"on_done": on_done, "pan_id": pan_id, "beacons": [], "timer": None}
        request = MacFrame(MacFrameType.COMMAND, self._next_mac_seq(), AddressMode.SHORT,
                           0xFFFF, MAC_BROADCAST, body=MacCommand(MacCommandId.BEACON_REQUEST))
        self._mac_send(request)
        self._join["timer"] = self.after(SCAN_TIME, self._end_scan, "scan")

    def _on_beacon(self, mac: MacFrame, lqi: int) -> None:
        if self._join is None or "coordinator" in self._join:
            return
        assert isinstance(mac.body, Beacon)
        if not mac.body.superframe_spec & 0x8000:
            return  # not permitting association
        if self._join["pan_id"] not in (None, mac.src_pan):
            return
        self._join["beacons"].append((lqi, mac.src_pan, mac.src_address))

    def _end_scan(self) -> None:
        join = self._join
        if join is None:
            return
        if not join["beacons"]:
            self._join_done(JoinStatus.NO_NETWORK)
            return
        _, pan, coordinator = max(join["beacons"])
        join["coordinator"] = coordinator
        self.pan_id = pan
        capability = self.capability
        request = MacFrame(MacFrameType.COMMAND, self._next_mac_seq(), AddressMode.SHORT, pan,
                           coordinator, AddressMode.EXTENDED, 0xFFFF, self.eui64,
                           ack_request=True,
                           body=MacCommand(MacCommandId.ASSOCIATION_REQUEST, bytes([capability])))
        self._mac_send(request, self._association_sent)

    def _association_sent(self, ok: bool) -> None:
        if self._join is None:
            return
        if not ok:
            self._join_done(JoinStatus.NO_RESPONSE)
            return
        self._join["timer"] = self.after(RESPONSE_WAIT, self._poll_association, "assoc poll")

    def _poll_association(self) -> None:
        if self._join is None:
            return
        poll = MacFrame(MacFrameType.COMMAND, self._next_mac_seq(), AddressMode.SHORT,
                        self.pan_id, self._join["coordinator"], AddressMode.EXTENDED,
                        self.pan_id, self.eui64, ack_request=True, pan_id_compression=True,
                        body=MacCommand(MacCommandId.DATA_REQUEST))
        self._mac_send(poll)
        self._join["timer"] = self.after(RESPONSE_WAIT, lambda: self._join_done(
            JoinStatus.NO_RESPONSE), "assoc response wait")

    def _join_done(self, status: JoinStatus) -> None:
        join, self._join = self._join, None
        if join is None:
            return
        self.cancel(join.get("timer"))
        if status != JoinStatus.SUCCESS:
            self.stats[f"join_{status.name.lower()}"] += 1
            if not (join.get("rejoin") and status == JoinStatus.NO_RESPONSE):
                self._leave_network()   # a silent parent is no reason to forget the keys
        else:
            self._schedule_poll()
        join["on_done"](status)

    # -- MAC commands: association, data requests ------------------------------------------

    def _on_mac_command(self, mac: MacFrame) -> None:
        assert isinstance(mac.body, MacCommand)
        command = mac.body
        if command.command_id == MacCommandId.BEACON_REQUEST:
            if self.is_coordinator:
                self._mac_send(self._beacon())
        elif command.command_id == MacCommandId.ASSOCIATION_REQUEST:
            self._on_association_request(mac)
        elif command.command_id == MacCommandId.DATA_REQUEST:
            self._release(mac.src_address)
        elif command.command_id == MacCommandId.ASSOCIATION_RESPONSE:
            self._on_association_response(command.payload)
        else:
            self.stats["mac_command_ignored"] += 1

    def _on_association_request(self, mac: MacFrame) -> None:
        if not (self.is_coordinator and self.permit_joining) or \
                mac.src_mode != AddressMode.EXTENDED or len(mac.body.payload) != 1:
            self.stats["association_ignored"] += 1
            return
        eui = mac.src_address
        if self.join_policy(eui):
            short = next((s for s, e in self.addresses.items() if e == eui), None)
            while short is None or short in self.addresses and self.addresses[short] != eui:
                short = self.random.randrange(0x0001, 0xFFF8)
            status = ASSOCIATION_SUCCESS
        else:
            short, status = 0xFFFF, PAN_ACCESS_DENIED
            self.stats["association_refused"] += 1
        response = MacFrame(MacFrameType.COMMAND, self._next_mac_seq(), AddressMode.EXTENDED,
                            self.pan_id, eui, AddressMode.EXTENDED, self.pan_id, self.eui64,
                            ack_request=True, pan_id_compression=True,
                            body=MacCommand(MacCommandId.ASSOCIATION_RESPONSE,
                                            short.to_bytes(2, "little") + bytes([status])))

        sleepy = not mac.body.payload[0] & CAPABILITY_RX_ON

        def sent(ok: bool) -> None:
            if ok and status == ASSOCIATION_SUCCESS:
                self.addresses[short] = eui
                self._child(short, sleepy)
                self.on_associated(eui, short)
        self._hold(eui, response, sent)

    def _child(self, short: int, sleepy: bool) -> None:
        if sleepy:
            self.sleepy_children.add(short)
        else:
            self.sleepy_children.discard(short)
        self._save_network()

    def _on_association_response(self, payload: bytes) -> None:
        join = self._join
        if join is None or len(payload) != 3:
            self.stats["association_response_ignored"] += 1
            return
        self.cancel(join.get("timer"))
        short, status = int.from_bytes(payload[:2], "little"), payload[2]
        if status != ASSOCIATION_SUCCESS:
            self._join_done(JoinStatus.REFUSED)
            return
        self.short_address = short
        join["timer"] = self.after(KEY_WAIT, lambda: self._join_done(JoinStatus.NO_KEY),
                                    "key wait")
        self.fast_poll(KEY_WAIT)      # a sleepy device polls for its Transport Key

    def install_network_key(self, key: bytes, sequence: int, trust_centre: int) -> None:
        """Take a network key from Transport Key: while joining it becomes active and the
        join completes; afterwards it waits for Switch Key."""
        self.network_keys[sequence] = bytes(key)
        if self._join is not None:
            self.active_key_sequence = sequence
            self.trust_centre = trust_centre
            coordinator = self._join["coordinator"]
            self.addresses[coordinator] = trust_centre
            if self._preconfigured_key is not None:
                self.link_keys.setdefault(trust_centre, self._preconfigured_key)
            self._save_network()
            self._announce()
            self._join_done(JoinStatus.SUCCESS)
        else:
            self._save_network()

    def _on_transport_key(self, command: TransportNetworkKey, sender: int,
                          key_identifier: KeyIdentifier | None) -> None:
        trusted = self._join is not None and not self._join.get("rejoin") or \
            sender == self.trust_centre
        if key_identifier != KeyIdentifier.KEY_TRANSPORT or not trusted or \
                command.destination_address not in (self.eui64, 0):
            self.stats["transport_key_refused"] += 1
            return
        self.install_network_key(command.key, command.sequence_number, command.source_address)

    def _on_switch_key(self, command: SwitchKey, sender: int,
                       key_identifier: KeyIdentifier | None) -> None:
        if sender != self.trust_centre or self.is_coordinator:
            self.stats["switch_key_refused"] += 1
            return
        self.switch_network_key(command.sequence_number)

    def switch_network_key(self, sequence: int) -> bool:
        if sequence not in self.network_keys:
            self.stats["switch_key_unknown"] += 1
            return False
        self.active_key_sequence = sequence
        for old in [s for s in self.network_keys if s != sequence]:
            del self.network_keys[old]
        self._save_network()
        return True

    # -- leaving, rejoining, power ---------------------------------------------------------

    def leave(self) -> None:
        """Announce a leave to the parent and forget the network."""
        if self.joined and not self.is_coordinator:
            self._nwk_send(COORDINATOR, bytes([NWK_LEAVE, 0x00]), NwkFrameType.COMMAND)
        self._leave_network()

    def request_leave(self, short: int) -> None:
        """Coordinator: tell a child to leave (NWK Leave with the request bit)."""
        self._nwk_send(short, bytes([NWK_LEAVE, LEAVE_REQUEST]), NwkFrameType.COMMAND)
        self._forget(short)

    def _forget(self, short: int) -> None:
        eui = self.addresses.pop(short, None)
        if eui is not None:
            self.link_keys.pop(eui, None)
            self._save_network()

    def _leave_network(self) -> None:
        if not self.is_coordinator:
            self.short_address = None
            self.network_keys.clear()
            self.addresses.clear()
            self.trust_centre = None
            self.link_keys.clear()
            self.nvm["network"] = None
            self.nvm["link_keys"] = {}

    def rejoin(self, on_done: Callable[[JoinStatus], None]) -> None:
        """After a power cut: a secured NWK rejoin with the keys kept in `nvm`."""
        if not self.joined:
            on_done(JoinStatus.NO_KEY)
            return
        self._join = {"on_done": on_done, "rejoin": True, "timer": None}
        capability = self.capability
        self._nwk_send(COORDINATOR, bytes([NWK_REJOIN_REQUEST, capability]),
                       NwkFrameType.COMMAND, source_ieee=True)
        self.fast_poll(KEY_WAIT)
        self._join["timer"] = self.after(KEY_WAIT, lambda: self._join_done(
            JoinStatus.NO_RESPONSE), "rejoin wait")

    # -- NWK -------------------------------------------------------------------------------

    def _next_nwk_counter(self) -> int:
        counter = self._nwk_tx
        self._nwk_tx += 1
        self._reserve("nwk", self._nwk_tx)
        return counter

    def _reserve(self, which: str, value: int) -> None:
        reserved = self.nvm.get(f"tx_{which}", 0)
        if value >= reserved:
            self.nvm[f"tx_{which}"] = value + COUNTER_RESERVE

    def _nwk_send(self, destination: int, payload: bytes,
                  frame_type: NwkFrameType = NwkFrameType.DATA, *, secure: bool = True,
                  source_ieee: bool = False, on_done: Confirm | None = None) -> None:
        if self.short_address is None or self.pan_id is None:
            self.stats["nwk_send_unjoined"] += 1
            if on_done is not None:
                on_done(False)
            return
        self._nwk_seq = (self._nwk_seq + 1) & 0xFF
        header = NwkHeader(frame_type, destination, self.short_address, NWK_RADIUS,
                           self._nwk_seq, discover_route=0,
                           source_ieee=self.eui64 if source_ieee else None)
        if secure:
            key = self.network_key
            if key is None:
                raise ValueError(f"{self.name}: no network key to secure a NWK frame")
            body = secure_nwk(header, payload, key, self._next_nwk_counter(), self.eui64,
                              self.active_key_sequence)
        else:
            body = encode_nwk(header, payload)
        mac_destination = MAC_BROADCAST if destination >= BROADCAST_ROUTERS else destination
        self._mac_send(self._mac_data(mac_destination, body), on_done)

    def _on_nwk(self, mac: MacFrame, lqi: int) -> None:
        data = bytes(mac.body)
        try:
            r = Reader(data)
            header = decode_nwk_header(r)
            if header.security:
                aux = decode_aux(r, "nwk.aux")
                key = self.network_keys.get(aux.key_sequence_number)
                if key is None:
                    self.stats["nwk_unknown_key"] += 1
                    return
                counters = self._nwk_in.setdefault(aux.key_sequence_number, FrameCounters())
                nwk = unsecure_nwk(data, key, counters)
                self._save_counters()
                source_ieee = aux.source_address
            else:
                nwk = None
                source_ieee = header.source_ieee
        except ReplayError:
            self.stats["nwk_replay"] += 1
            return
        except FrameSecurityError:
            self.stats["nwk_security_failure"] += 1
            return
        except FrameDecodeError:
            self.stats["nwk_malformed"] += 1
            return
        if nwk is None:
            # Unsecured NWK frames are accepted only while joining (Transport Key).
            if self.joined or self._join is None:
                self.stats["nwk_unsecured_dropped"] += 1
                return
            payload = r.rest()
        else:
            payload = nwk.payload
        if header.destination != self.short_address and not (
                header.destination == BROADCAST_ALL
                or header.destination == BROADCAST_RX_ON and self.rx_on_when_idle
                or header.destination == BROADCAST_ROUTERS and self.is_coordinator):
            self.stats["nwk_not_for_me"] += 1
            return
        if source_ieee is not None and header.source < BROADCAST_ROUTERS:
            self.addresses[header.source] = source_ieee
        if header.frame_type == NwkFrameType.COMMAND:
            self._on_nwk_command(header, payload, source_ieee, secured=nwk is not None)
        else:
            self._on_aps(header, payload, source_ieee, nwk is not None, lqi)

    def _on_nwk_command(self, header: NwkHeader, payload: bytes, source_ieee: int | None,
                        secured: bool) -> None:
        if not payload or not secured:
            self.stats["nwk_command_malformed"] += 1
            return
        command = payload[0]
        if command == NWK_LEAVE and len(payload) == 2:
            if self.is_coordinator:
                eui = self.addresses.get(header.source)
                self._forget(header.source)
                if eui is not None:
                    self.on_device_left(eui)
            elif payload[1] & LEAVE_REQUEST and header.source == COORDINATOR:
                self.stats["left_on_request"] += 1
                self._leave_network()
        elif command == NWK_REJOIN_REQUEST and len(payload) == 2 and self.is_coordinator:
            eui = source_ieee
            ok = eui is not None and self.rejoin_policy(eui)
            status = ASSOCIATION_SUCCESS if ok else PAN_ACCESS_DENIED
            if ok:
                self.addresses[header.source] = eui
                self._child(header.source, not payload[1] & CAPABILITY_RX_ON)
            else:
                self.stats["rejoin_refused"] += 1
            self._nwk_send(header.source, bytes([NWK_REJOIN_RESPONSE])
                           + header.source.to_bytes(2, "little") + bytes([status]),
                           NwkFrameType.COMMAND)
        elif command == NWK_REJOIN_RESPONSE and len(payload) == 4:
            if self._join is None or not self._join.get("rejoin"):
                self.stats["nwk_command_unexpected"] += 1
                return
            if payload[3] == ASSOCIATION_SUCCESS:
                self.short_address = int.from_bytes(payload[1:3], "little")
                self._save_network()
                self._join_done(JoinStatus.SUCCESS)
            else:
                self._join_done(JoinStatus.REFUSED)
        else:
            self.stats["nwk_command_unsupported"] += 1

    # -- APS -------------------------------------------------------------------------------

    def _next_aps_counter(self) -> int:
        counter = self._aps_tx
        self._aps_tx += 1
        self._reserve("aps", self._aps_tx)
        return counter

    def set_link_key(self, partner: int, key: bytes) -> None:
        if len(key) != 16:
            raise ValueError(f"a link key is 16 bytes, not {len(key)}")
        self.link_keys[partner] = bytes(key)
        self._save_network()

    def _on_aps(self, nwk: NwkHeader, payload: bytes, source_ieee: int | None,
                nwk_secured: bool, lqi: int) -> None:
        try:
            frame = self._open_aps(payload, source_ieee)
        except ReplayError:
            self.stats["aps_replay"] += 1
            return
        except FrameSecurityError:
            self.stats["aps_security_failure"] += 1
            return
        except FrameDecodeError:
            self.stats["aps_malformed"] += 1
            return
        if frame is None:
            return
        header = frame.header
        secured = frame.aux is not None
        if header.frame_type == ApsFrameType.ACK:
            self._on_aps_ack(nwk.source, header)
        elif header.frame_type == ApsFrameType.COMMAND:
            self._on_aps_command(frame, source_ieee, nwk_secured)
        elif header.frame_type == ApsFrameType.DATA:
            if not nwk_secured:
                self.stats["aps_data_unsecured_nwk"] += 1
                return
            if header.ack_request and header.delivery_mode == DeliveryMode.UNICAST:
                self._send_aps_ack(nwk.source, header, secured)
            block = header.extended_header.block_number if header.extended_header else None
            if self._last_aps.get(nwk.source) == (header.aps_counter, block):
                self.stats["aps_duplicate"] += 1   # our ack was lost and it was resent
                return
            self._last_aps[nwk.source] = (header.aps_counter, block)
            self.fast_poll()          # more may follow (blocks, answers): keep polling
            self._on_aps_data(nwk.source, source_ieee, frame, lqi)

    def _open_aps(self, payload: bytes, source_ieee: int | None) -> ApsFrame | None:
        if not payload or not payload[0] & 0x20:
            return decode_aps(payload)
        r = Reader(payload)
        decode_aps_header(r)
        aux = decode_aux(r, "aps.aux")
        sender = aux.source_address if aux.source_address is not None else source_ieee
        key = self.link_keys.get(sender) if sender is not None else None
        if key is None and self._join is not None:
            key = self._preconfigured_key
        if key is None:
            self.stats["aps_no_link_key"] += 1
            return None
        frame = unsecure_aps(payload, key, self._aps_in, source_ieee)
        self._save_counters()
        return frame

    def _on_aps_command(self, frame: ApsFrame, source_ieee: int | None,
                        nwk_secured: bool) -> None:
        if frame.aux is None and not nwk_secured:
            self.stats["aps_command_unsecured"] += 1
            return
        try:
            command = decode_aps_command(frame.payload)
        except GbcsDecodeError:
            self.stats["aps_command_malformed"] += 1
            return
        handler = self.aps_command_handlers.get(type(command))
        sender = frame.aux.source_address if frame.aux is not None and \
            frame.aux.source_address is not None else source_ieee
        if handler is None or sender is None:
            self.stats["aps_command_unhandled"] += 1
            return
        handler(command, sender, frame.aux.key_identifier if frame.aux is not None else None)

    def send_aps_command(self, destination: int, command: ApsCommand, *,
                         key_identifier: KeyIdentifier | None, partner: int | None = None,
                         nwk_security: bool = True) -> None:
        """An APS command; secured with the link key shared with `partner` (hashed per
        `key_identifier`) and the extended nonce, or with NWK security only when
        `key_identifier` is None."""
        self._aps_counter = (self._aps_counter + 1) & 0xFF
        header = ApsHeader(ApsFrameType.COMMAND, self._aps_counter,
                           DeliveryMode.BROADCAST if destination >= BROADCAST_ROUTERS
                           else DeliveryMode.UNICAST)
        body = encode_aps_command(command)
        if key_identifier is None:
            aps = encode_aps(header, body)
        else:
            key = self.link_keys.get(partner) if partner is not None else None
            if key is None:
                raise ValueError(f"{self.name}: no link key with {partner}")
            aps = secure_aps(header, body, key, key_identifier, self._next_aps_counter(),
                             self.eui64, extended_nonce=True)
        self._nwk_send(destination, aps, secure=nwk_security)

    def _on_aps_data(self, source: int, source_ieee: int | None, frame: ApsFrame,
                     lqi: int) -> None:
        """A data frame: its message (once the last fragment is in) to `_on_aps_message`."""
        payload = frame.payload
        extended = frame.header.extended_header
        if extended is not None and extended.fragmentation != Fragmentation.NONE:
            payload = self._reassemble(source, frame.header, payload)
        if payload is not None:
            self._on_aps_message(source, source_ieee, frame, payload, lqi)

    def _on_aps_message(self, source: int, source_ieee: int | None, frame: ApsFrame,
                        payload: bytes, lqi: int) -> None:
        """A whole APS message: to ZDO or to its endpoint's cluster handler."""
        header = frame.header
        indication = ApsIndication(source, self.addresses.get(source, source_ieee),
                                   header.source_endpoint, header.destination_endpoint,
                                   header.cluster_id, header.profile_id, payload,
                                   frame.aux is not None, lqi)
        if header.destination_endpoint == ZDO_ENDPOINT:
            self._on_zdo(indication, header.delivery_mode)
        else:
            self._deliver(indication)

    # -- endpoints and ZCL -----------------------------------------------------------------

    def _deliver(self, ind: ApsIndication) -> None:
        deliver(self, ind)

    # -- persistence -----------------------------------------------------------------------

    def _save_network(self) -> None:
        if self.short_address is None or self.pan_id is None:
            return
        self.nvm["network"] = {
            "pan_id": self.pan_id, "extended_pan_id": self.extended_pan_id,
            "channel": self.channel, "short": self.short_address,
            "coordinator": self.is_coordinator,
            "trust_centre": self.trust_centre,
            "keys": {str(s): k.hex() for s, k in self.network_keys.items()},
            "active": self.active_key_sequence,
            "addresses": {str(s): e for s, e in self.addresses.items()},
            "sleepy_children": sorted(self.sleepy_children),
        }
        self.nvm["link_keys"] = {_eui(e): k.hex() for e, k in self.link_keys.items()}

    def _save_counters(self) -> None:
        self.nvm["rx_counters"] = {
            "nwk": {str(seq): {_eui(s): m for s, m in c.marks.items()}
                    for seq, c in self._nwk_in.items()},
            "aps": {_eui(s): m for s, m in self._aps_in.marks.items()}}

    def _restore(self) -> None:
        self._nwk_tx = self.nvm.get("tx_nwk", 0)
        self._aps_tx = self.nvm.get("tx_aps", 0)
        network = self.nvm.get("network")
        if network:
            self.pan_id = network["pan_id"]
            self.extended_pan_id = network["extended_pan_id"]
            self.channel = network["channel"]
            self.short_address = network["short"]
            self.is_coordinator = network["coordinator"]
            self.trust_centre = network["trust_centre"]
            self.network_keys = {int(s): bytes.fromhex(k) for s, k in network["keys"].items()}
            self.active_key_sequence = network["active"]
            self.addresses = {int(s): e for s, e in network["addresses"].items()}
            self.sleepy_children = set(network.get("sleepy_children", ()))
        self.link_keys = {int(e, 16): bytes.fromhex(k)
                          for e, k in (self.nvm.get("link_keys") or {}).items()}
        counters = self.nvm.get("rx_counters") or {}
        self._nwk_in = {int(seq): FrameCounters({int(s, 16): m for s, m in marks.items()})
                        for seq, marks in counters.get("nwk", {}).items()}
        self._aps_in = FrameCounters({int(s, 16): m
                                      for s, m in counters.get("aps", {}).items()})

