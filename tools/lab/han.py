"""The premises' HAN on the virtual medium: the CHF forms the network and is trust centre,
the devices join by install code one after another, each Type 1 device runs CBKE with the
CHF and opens its GBCS tunnel, and the IHDs and CADs (`firmware.ihd`) read the ZSE
clusters the ESME and the GPF publish (`tools.lab.zse`). The sleepy GSME, when its
firmware wakes it, sends its sync for the GPF (`tools.lab.gas`) and GETs the GBCS the
hub queued for it.

Bring-up is one device at a time, as an installer commissions a premises (the CHF's Key
Establishment server takes one initiator at a time): join, then CBKE, then Match
Descriptor for the hub's Tunneling server and Request Tunnel, then the next device. A
step that fails is retried after `RETRY`. The HAN's own state (network key, frame
counters) is not kept across lab runs: the hub forms a new network each start and the
devices join it again.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from boards.board import Board, DeviceType, Premises
from boards.simulator import Simulator
from han.cbke.errors import InstallCodeError, KeyEstablishmentStatus
from han.cbke.mmo import install_code_link_key
from han.crc import crc16_x25
from han.key_establishment import KeyEstablishmentCluster, Outcome
from han.radio import Endpoint, JoinStatus, Medium, Node
from han.radio.aps_layer import SE_PROFILE, ApsIndication
from han.trust_centre import DeviceLog, TrustCentre
from han.tunnel import TUNNELING, TunnelClient, TunnelServer, TunnelStatus
from firmware.ihd import Kind, Screen, Type2Device
from tools.lab import gas
from tools.lab.pki import CBKE_SUITE, LabPki
from tools.lab.radio import ESME_ENDPOINT, RadioSession

ENDPOINT = 1
GPF_ENDPOINT = 9        # the GPF's ZSE servers on the hub (clear of the stick's ESME ones)
CHF_SHORT = 0x0000
RETRY = timedelta(seconds=30)
STEP_WAIT = timedelta(seconds=5)
# Where each device stands in the room (metres from the hub).
_POSITIONS = {DeviceType.ESME: (1.5, 0.5, 0.0), DeviceType.GSME: (6.0, 2.0, 0.0),
              DeviceType.PPMID: (4.0, -1.0, 1.0), DeviceType.IHD: (5.0, 3.0, 1.0),
              DeviceType.CAD: (3.0, 3.0, 1.0)}

Report = Callable[[str, str], None]          # (event kind, text)


@dataclass
class HanDevice:
    """One joining device of the premises and its HAN side."""

    board: Board
    node: Node
    endpoint: Endpoint
    link_key: bytes
    # off, then joining, cbke, tunnel, opening (Type 1), then ready
    state: str = "off"
    ke: KeyEstablishmentCluster | None = None
    tunnel: TunnelClient | None = None
    cbke_key: bytes | None = None
    on_message: Callable[[bytes], None] | None = None
    type2: Type2Device | None = None   # an IHD's or CAD's firmware
    local: bool = False        # an endpoint of the hub's stick (an ESME with --radio)

    @property
    def eui(self) -> int:
        return self.node.eui64

    @property
    def ihd(self) -> Screen | None:
        """What an IHD or CAD shows (None for other devices)."""
        return self.type2.screen if self.type2 is not None else None


class Han:
    """The HAN of one premises (see module doc). `report(kind, text)` hears the events
    worth showing; `to_dcc(eui, message)` takes what devices send up their tunnels."""

    def __init__(self, sim: Simulator, pki: LabPki, premises: Premises, rng: random.Random,
                 report: Report, radio: RadioSession | None = None) -> None:
        self.sim, self.pki, self.premises, self.rng, self.report = \
            sim, pki, premises, rng, report
        self.radio = radio      # a coordinator stick for the CHF (tools.lab.radio), or None
        self.devices: dict[bytes, HanDevice] = {}
        self.to_dcc: Callable[[bytes, bytes], None] = lambda eui, message: None
        self.medium = Medium(self.sim, seed=self.rng.randrange(1 << 32))
        self.network_key = self.rng.randbytes(16)
        chf_board, = self.premises.of_type(DeviceType.CHF)
        self.chf_board = chf_board
        chf_eui = int.from_bytes(chf_board.eui, "big")
        pan_id = self.rng.randrange(0x0001, 0xFFF0)
        if radio is None:
            self.chf = Node(chf_eui, self.medium, self.sim, name="CHF")
            self.chf.form_network(pan_id, chf_eui, self.network_key)
            self.device_log = DeviceLog()
            self.trust_centre = TrustCentre(self.chf, self.device_log)
        else:                   # the stick is the coordinator and trust centre
            self.chf, self.device_log, self.trust_centre = \
                radio.coordinator(chf_eui, pan_id, self.network_key)
            radio.bridge(self.medium)
        self._logged: set[int] = set()
        self._removed: set[int] = set()       # taken out of the log, told to leave
        self.chf.permit_joining = True
        self.chf_endpoint = self.chf.add_endpoint(Endpoint(ENDPOINT))
        self.chf_ke = KeyEstablishmentCluster(
            self.chf, self.chf_endpoint, {CBKE_SUITE: self.pki.zse[chf_board.eui]},
            randbytes=self.rng.randbytes)
        self.tunnels = TunnelServer(self.chf, self.chf_endpoint, self._from_device)
        self.to_gpf: Callable[[bytes, dict[str, Any]], None] = lambda eui, update: None
        # told when the hub acknowledged a GSME's sync (the GSME then need not resend it)
        self.sync_confirmed: Callable[[bytes, dict[str, Any]], None] = \
            lambda eui, update: None
        self._sync_tsn = 0
        self.chf_endpoint.server_clusters[gas.MIRROR_SYNC] = self._sync_in
        # The GPF's ZSE servers (`tools.lab.zse`), beside the CHF's on the hub's node.
        self.gpf_endpoint = self.chf.add_endpoint(Endpoint(GPF_ENDPOINT)) \
            if self.premises.of_type(DeviceType.GPF) else None
        for board in self.premises.boards:
            if board.eui in self.pki.install_codes:
                self._add(board)
        self._started = False

    def add_device(self, board: Board) -> None:
        """Install one more device (its install code in `pki`; the CHF's device log must
        let it in) and, once the HAN is up, commission it."""
        self._add(board)
        if self._started:
            self._next()

    def _add(self, board: Board) -> None:
        code = self.pki.install_codes[board.eui]
        if self.radio is not None:
            if not self.radio.hosts(board.type):
                return
            if board.type is DeviceType.ESME:     # an endpoint on the stick, in the hub
                number = ESME_ENDPOINT + sum(d.local for d in self.devices.values())
                endpoint = self.chf.add_endpoint(Endpoint(number))
                # CBKE with the ESME (a PPMID's) is CBKE with the stick it lives on
                self.devices[board.eui] = HanDevice(
                    board, self.chf, endpoint, install_code_link_key(code), state="ready",
                    local=True, ke=KeyEstablishmentCluster(
                        self.chf, endpoint, self.chf_ke.credentials,
                        randbytes=self.rng.randbytes))
                return
        eui = int.from_bytes(board.eui, "big")
        sleepy = board.type is DeviceType.GSME
        node = Node(eui, self.medium, self.sim, name=board.name.upper(),
                    position=_POSITIONS.get(board.type, (2.0, 2.0, 0.0)),
                    rx_on_when_idle=not sleepy)
        device = HanDevice(board, node, node.add_endpoint(Endpoint(ENDPOINT)),
                           install_code_link_key(code))
        if board.eui in self.pki.zse:
            device.ke = KeyEstablishmentCluster(node, device.endpoint,
                                                {CBKE_SUITE: self.pki.zse[board.eui]},
                                                randbytes=self.rng.randbytes)
            device.tunnel = TunnelClient(node, device.endpoint,
                                         lambda message, d=device: self._to_device(d, message))
        if board.type in (DeviceType.IHD, DeviceType.CAD):
            device.type2 = Type2Device(
                Kind(board.type.value), node, device.endpoint, self.sim, device.link_key,
                on_event=lambda text, name=board.name: self.report("han", f"{name}: {text}"))
        self.devices[board.eui] = device

    def follow_device_log(self, entries: list[tuple[bytes, tuple[str, bytes]]]) -> None:
        """Make the trust centre's whitelist the CHF's device log: (EUI, ("install_code"
        or "link_key", secret)) each; devices no longer in it are removed and told to
        leave."""
        wanted = {int.from_bytes(eui, "big"): secret for eui, secret in entries}
        for eui in [e for e in self._logged if e not in wanted]:
            self.trust_centre.remove_device(eui)
            self._logged.discard(eui)
            self._removed.add(eui)
            for tunnel_id in [i for i, t in self.tunnels.tunnels.items() if t.eui == eui]:
                del self.tunnels.tunnels[tunnel_id]     # it left: its tunnel goes too
        for eui in [e for e in self._removed if e in wanted]:   # let in again: rejoin
            self._removed.discard(eui)
            device = self.devices.get(eui.to_bytes(8, "big"))
            if device is not None and device.state == "ready":
                device.state = "off"
                self.sim.schedule(self._next, f"lab rejoin {device.board.name}",
                                  after=RETRY)
        for eui, (kind, secret) in wanted.items():
            if kind == "link_key":
                self.device_log.add_link_key(eui, secret)
            else:
                try:
                    self.device_log.add_install_code(eui, secret)
                except InstallCodeError:    # a code given without its CRC
                    self.device_log.add_install_code(
                        eui, secret + crc16_x25(secret).to_bytes(2, "little"))
            self._logged.add(eui)

    # -- bring-up ----------------------------------------------------------------------------

    def start(self) -> None:
        """Commission the devices one after another (see module doc)."""
        self._started = True
        self._next()

    def _next(self) -> None:
        """Start the next device unless one is being commissioned."""
        if any(d.state not in ("off", "ready") for d in self.devices.values()):
            return
        waiting = [d for d in self.devices.values() if d.state == "off"]
        if waiting:
            self._join(waiting[0])

    def _retry(self, device: HanDevice, why: str) -> None:
        self.report("error", f"{device.board.name}: {why}; retrying in "
                             f"{RETRY.total_seconds():.0f} s")
        device.state = "off"
        self.sim.schedule(self._next, f"lab retry {device.board.name}", after=RETRY)

    def _join(self, device: HanDevice) -> None:
        device.state = "joining"
        if device.type2 is not None:        # its firmware joins, then finds the meters
            device.type2.join(lambda status: self._joined(device, status))
        else:
            device.node.join(device.link_key, lambda status: self._joined(device, status))

    def _joined(self, device: HanDevice, status: JoinStatus) -> None:
        if status is not JoinStatus.SUCCESS:
            self._retry(device, f"join failed ({status.value})")
            return
        device.state = "joined"
        self.report("han", f"{device.board.name} joined the HAN "
                           f"(short 0x{device.node.short_address:04X})")
        if device.ke is not None:
            device.state = "cbke"
            device.ke.initiate(CHF_SHORT, ENDPOINT, lambda o: self._established(device, o))
        else:
            self._ready(device)

    def _established(self, device: HanDevice, outcome: Outcome) -> None:
        if outcome.status is not KeyEstablishmentStatus.SUCCESS:
            why = outcome.status.name if outcome.status is not None else "timed out"
            self._retry(device, f"CBKE failed ({why})")
            return
        device.cbke_key = outcome.link_key
        self.report("han", f"{device.board.name}: CBKE with the CHF done, APS link key "
                           "installed")
        device.state = "tunnel"
        device.node.match_descriptor(SE_PROFILE, [TUNNELING], [],
                                     lambda short, eps: self._open_tunnel(device, short, eps),
                                     destination=CHF_SHORT)
        self._watch(device, "tunnel", "no Tunneling server found")

    def _watch(self, device: HanDevice, state: str, why: str) -> None:
        """Retry when the device is still in `state` after STEP_WAIT."""
        def check() -> None:
            if device.state == state:
                self._retry(device, why)
        self.sim.schedule(check, f"lab watch {device.board.name}", after=STEP_WAIT)

    def _open_tunnel(self, device: HanDevice, short: int, endpoints: list[int]) -> None:
        if device.state != "tunnel" or not endpoints or device.tunnel is None:
            return
        device.state = "opening"
        device.tunnel.open(short, endpoints[0], lambda status: self._tunnel_open(device, status))
        self._watch(device, "opening", "no answer to Request Tunnel")

    def _tunnel_open(self, device: HanDevice, status: TunnelStatus) -> None:
        if status is not TunnelStatus.SUCCESS:
            self._retry(device, f"tunnel refused ({status.name})")
            return
        self.report("han", f"{device.board.name}: GBCS tunnel {device.tunnel.tunnel_id} open")
        self._ready(device)

    def _ready(self, device: HanDevice) -> None:
        device.state = "ready"
        self._next()

    # -- GBCS through the tunnels ------------------------------------------------------------

    def send_to_device(self, eui: bytes, message: bytes,
                       on_failed: Callable[[], None] | None = None) -> bool:
        """The CHF hands a GBCS message to a device: PUT down its tunnel (`on_failed`
        is told when the device does not acknowledge it), or queued for the GSME's next
        GET. False when the device has no open tunnel."""
        device = self.devices.get(eui)
        if device is not None and device.local and device.on_message is not None:
            self.sim.schedule(lambda: device.on_message(message), "hub to ESME",
                              after=timedelta(0))
            return True
        if device is None or device.tunnel is None or device.state != "ready":
            return False
        node_eui = device.eui
        if device.board.type is DeviceType.GSME:
            self.tunnels.queue(node_eui, message)
        else:
            self.tunnels.put(node_eui, message, on_confirm=None if on_failed is None else
                             lambda ok: None if ok else on_failed())
        return True

    def withdraw(self, eui: bytes, message: bytes) -> bool:
        """Take a message the hub holds for a sleepy device off its queue; False when
        the device already collected it."""
        queue = self.tunnels.queues.get(int.from_bytes(eui, "big"))
        if queue is None or message not in queue:
            return False
        queue.remove(message)
        return True

    def hub_power(self, on: bool) -> None:
        """The hub's radio loses or regains power; it keeps its network (PAN, keys,
        frame counters, children) as a coordinator keeps them in non-volatile memory."""
        if not on:
            self.chf.power_off()
            return
        if not self.chf.powered:
            self.chf.powered = True
            self.medium.attach(self.chf)

    def gsme_wake(self, eui: bytes, update: dict[str, Any]) -> bool:
        """The GSME is awake (every 30 minutes): it sends its data sync to the GPF in
        the hub (`tools.lab.gas` frame) and GETs what the hub holds for it, one message
        per GET while the hub says more remain. False when its tunnel is not open yet
        (its registers reach the GPF with a later sync)."""
        device = self.devices.get(eui)      # None: not on this HAN (a real stick)
        if device is None or device.state != "ready" or device.tunnel is None or \
                device.tunnel.tunnel_id is None:
            return False
        self._sync_tsn = (self._sync_tsn + 1) & 0xFF
        try:
            frame = gas.encode_sync(update, self._sync_tsn)
        except gas.SyncFrameError as err:
            self.report("error", f"{device.board.name}: sync not sent ({err})")
        else:
            device.node.send_data(CHF_SHORT, ENDPOINT, gas.MIRROR_SYNC, frame,
                                  source_endpoint=ENDPOINT, on_confirm=lambda ok: ok and
                                  self.sync_confirmed(eui, update))
        device.tunnel.get()
        return True

    def _sync_in(self, ind: ApsIndication) -> bytes | None:
        """A GSME's sync at the hub: only APS-secured, from a GSME of the premises."""
        eui = ind.source_ieee.to_bytes(8, "big") if ind.source_ieee is not None else None
        device = self.devices.get(eui) if eui is not None else None
        if device is None or device.board.type is not DeviceType.GSME or \
                not ind.aps_secured:
            self.chf.stats["gpf_sync_refused"] += 1
            return None
        try:
            update = gas.decode_sync(ind.payload)
        except gas.SyncFrameError as err:
            self.report("error", f"{device.board.name}: {err}; dropped")
            return None
        self.to_gpf(eui, update)
        return None

    def _to_device(self, device: HanDevice, message: bytes) -> None:
        if device.on_message is None:
            self.report("error", f"{device.board.name}: no {device.board.type.value} "
                                 "firmware in the lab to take a GBCS message; dropped")
            return
        device.on_message(message)

    def reply(self, eui: bytes, message: bytes) -> None:
        """A device PUTs a message (Response, Alert) up its tunnel to the CHF."""
        device = self.devices[eui]
        if device.local:
            self.to_dcc(eui, message)
        elif device.tunnel is not None and device.tunnel.tunnel_id is not None:
            device.tunnel.put(message)
        else:
            self.report("error", f"{device.board.name}: no tunnel to send its answer on")

    def _from_device(self, eui: int | None, message: bytes) -> None:
        if eui is None:
            self.report("error", "a tunnelled message from an unknown device; dropped")
            return
        self.to_dcc(eui.to_bytes(8, "big"), message)

    # -- keys for a sniffer ------------------------------------------------------------------

    def link_keys(self) -> list[bytes]:
        """Every APS link key used: install-code keys and CBKE keys."""
        keys = [d.link_key for d in self.devices.values()]
        keys += [d.cbke_key for d in self.devices.values() if d.cbke_key is not None]
        return list(dict.fromkeys(keys))
