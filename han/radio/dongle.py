"""A ZigBee coordinator stick as the comms hub's radio, through the zigpy radio libraries.

The stick's stack (MAC, NWK, APS security, the trust centre's key delivery) does what the
virtual coordinator node does in software; everything above APS stays ours. `Dongle`
gives the hub's clusters (Key Establishment, Tunneling, the meters' ZSE servers, the GPF
mirror sync) the part of the `han.radio.Node` interface they use: endpoints with cluster
handlers, `send_data`, the address map, link keys, and timers on the lab's scheduler. So
the CHF, GPF and ESME endpoints are the same objects on a stick as on the virtual HAN.

GB parameters: Smart Energy profile endpoints registered on the stick, security level 5,
a trust-centre policy that admits only devices whose install-code key the stick holds,
and the network key the lab chose (so a sniffer can be given it). Device-log entries
become install-code link keys on the stick (`allow`, `disallow`); a CBKE link key made
in software is installed on the stick as the APS link key with that partner.

A serial drop or a stick reset reaches zigpy's `connection_lost`: the dongle reconnects
(with back-off), resumes the network the stick kept (or forms it again with the same
parameters) and puts the keys back. Frames sent while the link is down fail their
confirm, as a lost frame does on the air.

Each library's limits are facts from its source (`LIBRARIES`): what a premises needs and
a library cannot do is refused at start with `DongleUnsupported`, naming both.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import zigpy.config as zconf
import zigpy.exceptions
import zigpy.types as zt

from han.radio.aps_layer import BROADCAST_ROUTERS, NWK_ONLY_CLUSTERS, ApsIndication, Endpoint
from han.radio.mac_layer import Confirm
from han.radio.medium import Scheduler
from han.radio.zcl_dispatch import deliver
from han.trust_centre import DeviceLog
from han.radio.zdo import DEVICE_ANNCE, MATCH_DESC_REQ, MATCH_DESC_RSP, ZDO_ENDPOINT, ZDO_PROFILE

LOGGER = logging.getLogger(__name__)
COORDINATOR = 0x0000
SECURITY_LEVEL = 5                      # ENC-MIC-32, as ZigBee PRO and ZSE require
PERMIT_SECONDS = 254                    # the longest a permit-join lasts on every stack
PERMIT_RENEW = timedelta(seconds=200)   # re-permit (and re-add keys) before it lapses
RECONNECT_WAITS = (0.5, 1.0, 2.0, 5.0)  # seconds between reconnection attempts
CONNECT_TIMEOUT = 60.0


class DongleError(Exception):
    """The stick or its port cannot be used: which radio, which port, and why."""


class DongleUnsupported(DongleError):
    """The radio library cannot do something the premises needs (see `LIBRARIES`)."""


# What a premises may need from a stick.
INSTALL_CODES = "install-code joining"
SE_ENDPOINTS = "Smart Energy endpoints"
LINK_KEYS = "APS link keys per partner (CBKE)"
SOURCE_ROUTING = "source routing"
CBKE_ON_STICK = "CBKE frames on the stick (SE certificates)"


@dataclass(frozen=True)
class Library:
    """One zigpy radio library: its module and what it can do, with the facts behind
    each limit."""

    name: str
    module: str
    supports: frozenset[str]
    limits: Mapping[str, str] = field(default_factory=dict)
    ezsp: bool = False


LIBRARIES: dict[str, Library] = {
    "ezsp": Library("bellows (Silicon Labs EZSP)", "bellows.zigbee.application",
                    frozenset({INSTALL_CODES, SE_ENDPOINTS, LINK_KEYS, SOURCE_ROUTING,
                               CBKE_ON_STICK}), {}, ezsp=True),
    "znp": Library("zigpy-znp (TI Z-Stack)", "zigpy_znp.zigbee.application",
                   frozenset({INSTALL_CODES, SE_ENDPOINTS, LINK_KEYS, SOURCE_ROUTING}),
                   {CBKE_ON_STICK: "Z-Stack home firmware has no Smart Energy CBKE "
                                   "(CBKE runs in software)"}),
    "deconz": Library("zigpy-deconz (ConBee / RaspBee)", "zigpy_deconz.zigbee.application",
                      frozenset({INSTALL_CODES, SE_ENDPOINTS, LINK_KEYS, SOURCE_ROUTING}),
                      {CBKE_ON_STICK: "deCONZ firmware has no CBKE (CBKE runs in "
                                      "software)"}),
    "xbee": Library("zigpy-xbee (Digi XBee)", "zigpy_xbee.zigbee.application",
                    frozenset({INSTALL_CODES, SOURCE_ROUTING}),
                    {SE_ENDPOINTS: "zigpy-xbee only records endpoints on the host; the "
                                   "module's ZDO does not describe them",
                     LINK_KEYS: "XBee firmware registers a key only for a joining device "
                                "(register_joining_device); a CBKE key cannot become the "
                                "APS link key of a joined partner",
                     CBKE_ON_STICK: "the XBee Zigbee firmware is not a Smart Energy stack"}),
    "zigate": Library("zigpy-zigate (ZiGate)", "zigpy_zigate.zigbee.application",
                      frozenset(),
                      {INSTALL_CODES: "ZiGate does not support joins with link keys "
                                      "(permit_with_link_key only logs a warning)",
                       SE_ENDPOINTS: "ZiGate cannot add endpoints (add_endpoint does "
                                     "nothing; its one endpoint is Home Automation)",
                       LINK_KEYS: "ZiGate firmware has no command to set a partner's "
                                  "APS link key",
                       SOURCE_ROUTING: "not exposed by zigpy-zigate",
                       CBKE_ON_STICK: "ZiGate firmware has no Smart Energy support"}),
}


@dataclass(frozen=True)
class RadioSpec:
    """`RADIO:PATH` as given to `--radio`: a library name and a serial port path
    (`/dev/ttyUSB0`, `COM3`) or `socket://HOST:PORT` (a stick behind ser2net, or the
    emulated stick)."""

    radio: str
    path: str

    @property
    def library(self) -> Library:
        return LIBRARIES[self.radio]

    def __str__(self) -> str:
        return f"{self.radio}:{self.path}"


def parse_radio(text: str, default_radio: str | None = None) -> RadioSpec:
    """`ezsp:/dev/ttyUSB0`, `znp:socket://127.0.0.1:6638`, ... -> a RadioSpec. A bare
    port is allowed when `default_radio` names the library."""
    radio, sep, path = text.partition(":")
    if not sep or radio not in LIBRARIES or path.startswith("//"):
        if default_radio is None:
            raise DongleError(f"--radio {text!r}: expected RADIO:PATH with RADIO one of "
                              f"{', '.join(LIBRARIES)} (e.g. ezsp:/dev/ttyUSB0, "
                              "ezsp:socket://127.0.0.1:9999)")
        radio, path = default_radio, text
        if radio not in LIBRARIES:
            raise DongleError(f"--radio {radio!r} is not one of {', '.join(LIBRARIES)}")
    if not path:
        raise DongleError(f"--radio {text!r}: no port after {radio}:")
    if path.startswith("socket://"):
        host, _, port = path[len("socket://"):].rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise DongleError(f"--radio {text!r}: a socket path is socket://HOST:PORT")
    return RadioSpec(radio, path)


def check_supports(spec: RadioSpec, needs: set[str]) -> None:
    """Raise `DongleUnsupported` naming every need the library cannot meet."""
    library = spec.library
    missing = [n for n in sorted(needs) if n not in library.supports]
    if missing:
        reasons = "; ".join(f"{n}: {library.limits.get(n, 'not supported')}"
                            for n in missing)
        raise DongleUnsupported(f"{spec}: {library.name} cannot be the comms hub's radio "
                                f"here ({reasons})")


def zigpy_config(spec: RadioSpec, *, channel: int, pan_id: int, extended_pan_id: int,
                 network_key: bytes, endpoints: list[dict[str, Any]]) -> dict:
    """The zigpy configuration of the stick: our network, no database, no OTA, no
    topology scans (the HAN is a star and the lab keeps its own state)."""
    config: dict[str, Any] = {
        zconf.CONF_DEVICE: {zconf.CONF_DEVICE_PATH: spec.path},
        zconf.CONF_DATABASE: None,
        zconf.CONF_NWK: {
            zconf.CONF_NWK_CHANNEL: channel,
            zconf.CONF_NWK_CHANNELS: [channel],
            zconf.CONF_NWK_PAN_ID: pan_id,
            zconf.CONF_NWK_EXTENDED_PAN_ID: ":".join(
                f"{b:02x}" for b in extended_pan_id.to_bytes(8, "big")),
            zconf.CONF_NWK_KEY: list(network_key),
        },
        zconf.CONF_NWK_BACKUP_ENABLED: False,
        zconf.CONF_OTA: {zconf.CONF_OTA_ENABLED: False},
        zconf.CONF_TOPO_SCAN_ENABLED: False,
        zconf.CONF_STARTUP_ENERGY_SCAN: False,
        zconf.CONF_SOURCE_ROUTING: SOURCE_ROUTING in spec.library.supports,
        zconf.CONF_ADDITIONAL_ENDPOINTS: endpoints,
    }
    if spec.library.ezsp:
        from bellows.config import CONF_EZSP_CONFIG, CONF_EZSP_POLICIES, CONF_USE_THREAD
        from bellows.types import EzspDecisionBitmask
        config[CONF_USE_THREAD] = False
        config[CONF_EZSP_CONFIG] = {"CONFIG_SECURITY_LEVEL": SECURITY_LEVEL}
        config[CONF_EZSP_POLICIES] = {"TRUST_CENTER_POLICY": int(
            EzspDecisionBitmask.ALLOW_JOINS | EzspDecisionBitmask.JOINS_USE_INSTALL_CODE_KEY)}
    return config


def application_class(spec: RadioSpec) -> type:
    """The library's ControllerApplication with the hooks a comms hub needs: our own
    endpoints only, and every packet, join and leave handed to `Dongle`."""
    try:
        module = importlib.import_module(spec.library.module)
    except ImportError as exc:
        raise DongleError(f"{spec}: {spec.library.name} is not installed ({exc})") from None
    base = module.ControllerApplication

    class HubApplication(base):  # type: ignore[valid-type, misc]
        dongle: Dongle | None = None          # None: only probed (`smetslab dongle info`)

        async def register_endpoints(self) -> None:
            for descriptor in self.config[zconf.CONF_ADDITIONAL_ENDPOINTS]:
                await self.add_endpoint(descriptor)

        def packet_received(self, packet: zt.ZigbeePacket) -> None:
            if self.dongle is None or 0 in (packet.src_ep, packet.dst_ep) and \
                    packet.src is not None and packet.src.address == COORDINATOR:
                super().packet_received(packet)      # zigpy's own ZDO (its interviews)
            if self.dongle is not None:
                self.dongle.packet_received(packet)

        def handle_join(self, nwk: zt.NWK, ieee: zt.EUI64, parent_nwk: zt.NWK,
                        **kwargs: Any) -> None:
            if self.dongle is not None:
                self.dongle.device_joined(int(nwk), _eui_int(ieee))

        def handle_leave(self, nwk: zt.NWK, ieee: zt.EUI64) -> None:
            if self.dongle is not None:
                self.dongle.left(_eui_int(ieee))

        def connection_lost(self, exc: Exception) -> None:
            super().connection_lost(exc)
            if self.dongle is not None:
                self.dongle.connection_lost(exc)

    HubApplication.__name__ = f"{spec.radio.capitalize()}HubApplication"
    return HubApplication


def make_application(spec: RadioSpec, config: dict) -> Any:
    """The library's application for `config`; DongleError when the library refuses
    the configuration."""
    import voluptuous
    cls = application_class(spec)
    try:
        return cls(config)
    except voluptuous.Invalid as exc:
        raise DongleError(f"{spec}: {spec.library.name} refuses the configuration "
                          f"({exc})") from None


def _eui_int(ieee: zt.EUI64) -> int:
    return int.from_bytes(bytes(reversed(bytes(ieee))), "big")


def _eui64(value: int) -> zt.EUI64:
    return zt.EUI64(value.to_bytes(8, "little"))


class Dongle:
    """The comms hub's coordinator on a stick (see module doc). Drive it from `loop`
    (the lab pumps it); `scheduler` is the lab's clock for timers."""

    is_coordinator = True

    def __init__(self, spec: RadioSpec, eui64: int, scheduler: Scheduler,
                 loop: asyncio.AbstractEventLoop, *, pan_id: int, network_key: bytes,
                 channel: int = 11, name: str = "CHF",
                 report: Callable[[str], None] = lambda text: None) -> None:
        self.spec, self.scheduler, self.loop, self.name, self.report = \
            spec, scheduler, loop, name, report
        self.eui64 = eui64                    # the CHF's EUI-64 (the device log's)
        self.stick_eui = eui64                # the stick's own, the HAN's name for the hub
        self.pan_id, self.extended_pan_id, self.channel = pan_id, eui64, channel
        self.network_key = bytes(network_key)
        self.short_address = COORDINATOR
        self.stats: Counter[str] = Counter()
        self.endpoints: dict[int, Endpoint] = {}
        self.addresses: dict[int, int] = {}   # short -> EUI-64
        self.link_keys: dict[int, bytes] = {}  # partner EUI-64 -> APS link key
        self.allowed: dict[int, bytes] = {}   # device log: EUI-64 -> install-code key
        self.permit_joining = True
        self.on_joined: Callable[[int, int], None] = lambda eui, short: None
        self.on_device_left: Callable[[int], None] = lambda eui: None
        self.last_error: Exception | None = None
        self.connected = False
        self.app: Any = None
        self._tasks: set[asyncio.Future] = set()
        self._reconnecting = False
        self._closing = False
        self._tsn = 0
        self._permit_timer: Any = None
        self._key_slots: dict[int, int] = {}   # partner -> the stick's key table index

    # -- the node interface the hub's clusters use ------------------------------------------

    @property
    def joined(self) -> bool:
        return self.connected

    def add_endpoint(self, endpoint: Endpoint) -> Endpoint:
        if not 1 <= endpoint.endpoint <= 240:
            raise ValueError(f"endpoint {endpoint.endpoint} is not 1-240")
        self.endpoints[endpoint.endpoint] = endpoint
        return endpoint

    def after(self, delay: timedelta, callback: Callable[[], None], name: str = "") -> Any:
        return self.scheduler.schedule(callback, f"{self.name} {name}", after=delay)

    def cancel(self, timer: Any) -> None:
        if timer is not None:
            self.scheduler.cancel(timer)

    def eui_of(self, short: int) -> int | None:
        return self.addresses.get(short)

    def short_of(self, eui: int) -> int | None:
        return next((s for s, e in self.addresses.items() if e == eui), None)

    def aps_security_available(self, destination: int) -> bool:
        eui = self.addresses.get(destination)
        return eui is not None and (eui in self.link_keys or eui in self.allowed)

    def set_link_key(self, partner: int, key: bytes) -> None:
        """A CBKE link key: ours at once, the stick's as soon as it takes it."""
        if len(key) != 16:
            raise ValueError(f"a link key is 16 bytes, not {len(key)}")
        self.link_keys[partner] = bytes(key)
        if self.connected:
            self._spawn(self._install_link_key(partner, bytes(key)), "install link key")

    def send_data(self, destination: int, destination_endpoint: int, cluster_id: int,
                  payload: bytes, *, source_endpoint: int = 1, profile_id: int = 0x0109,
                  aps_security: bool | None = None, on_confirm: Confirm | None = None) -> None:
        """An APS data frame through the stick: acknowledged when unicast, secured with
        the partner's link key unless the cluster runs under NWK security only."""
        unicast = destination < BROADCAST_ROUTERS
        if aps_security is None:
            aps_security = unicast and cluster_id not in NWK_ONLY_CLUSTERS and \
                self.aps_security_available(destination)
        if aps_security and not self.aps_security_available(destination):
            raise ValueError(f"{self.name}: no link key with node 0x{destination:04X}")
        options = zt.TransmitOptions.NONE
        if unicast:
            options |= zt.TransmitOptions.ACK
        if aps_security:
            options |= zt.TransmitOptions.APS_Encryption
        self._tsn = (self._tsn + 1) & 0xFF
        packet = zt.ZigbeePacket(
            src=zt.AddrModeAddress(addr_mode=zt.AddrMode.NWK, address=COORDINATOR),
            src_ep=source_endpoint,
            dst=zt.AddrModeAddress(addr_mode=zt.AddrMode.NWK if unicast
                                   else zt.AddrMode.Broadcast, address=destination),
            dst_ep=destination_endpoint, tsn=self._tsn, profile_id=profile_id,
            cluster_id=cluster_id, data=zt.SerializableBytes(bytes(payload)),
            tx_options=options, radius=0)
        self._spawn(self._send(packet, on_confirm), f"send 0x{cluster_id:04X}")

    async def _send(self, packet: zt.ZigbeePacket, on_confirm: Confirm | None) -> None:
        ok = False
        if not self.connected:
            self.stats["send_while_disconnected"] += 1
        else:
            try:
                await self.app.send_packet(packet)
                ok = True
            except (zigpy.exceptions.ZigbeeException, asyncio.TimeoutError, OSError,
                    ValueError) as exc:
                self.stats["send_failed"] += 1
                self.last_error = exc
        self.stats["sent" if ok else "send_not_confirmed"] += 1
        if on_confirm is not None:
            on_confirm(ok)

    # -- starting, the device log, reconnecting --------------------------------------------

    def descriptors(self) -> list[dict[str, Any]]:
        """The hub's endpoints as zigpy simple descriptors (its config form)."""
        return [{"endpoint": e.endpoint, "profile": e.profile_id, "device_type": e.device_id,
                 "device_version": 0, "input_clusters": sorted(e.server_clusters),
                 "output_clusters": sorted(e.client_clusters)}
                for e in self.endpoints.values()]

    async def start(self) -> None:
        """Connect, form our network (unless the stick already runs it) and admit the
        device log. Raises DongleError when the stick cannot be reached or started."""
        self.app = make_application(self.spec, zigpy_config(
            self.spec, channel=self.channel, pan_id=self.pan_id,
            extended_pan_id=self.extended_pan_id, network_key=self.network_key,
            endpoints=self.descriptors()))
        self.app.dongle = self
        try:
            await asyncio.wait_for(self._bring_up(form=True), CONNECT_TIMEOUT)
        except (zigpy.exceptions.ZigbeeException, asyncio.TimeoutError, OSError,
                ValueError, RuntimeError) as exc:
            await self._shutdown()
            raise DongleError(f"{self.spec}: cannot start the stick ({type(exc).__name__}: "
                              f"{exc})") from None

    async def _bring_up(self, *, form: bool) -> None:
        app = self.app
        await app.connect()
        try:
            await app.load_network_info(load_devices=False)
            ours = bytes(app.state.network_info.network_key.key) == self.network_key and \
                app.state.network_info.pan_id == self.pan_id
        except zigpy.exceptions.NetworkNotFormed:
            ours = False
        if not ours:
            if not form:
                self.report("the stick lost the network; forming it again")
            await app.form_network()
        await app.initialize(auto_form=False)
        self.stick_eui = _eui_int(app.state.node_info.ieee)
        self.connected = True
        for eui, key in self.link_keys.items():
            await self._install_link_key(eui, key)
        await self._permit()

    def allow(self, eui: int, link_key: bytes) -> None:
        """A device-log entry: the stick admits this device with this install-code key."""
        self.allowed[eui] = bytes(link_key)
        if self.connected:
            self._spawn(self._permit_one(eui, bytes(link_key)), "permit")

    def disallow(self, eui: int) -> bool:
        """A device leaves the log: drop its keys and ask it to leave."""
        known = self.allowed.pop(eui, None) is not None
        self.link_keys.pop(eui, None)
        short = self.short_of(eui)
        if short is not None:
            self.addresses.pop(short, None)
        if self.connected:
            self._spawn(self._remove(eui), "remove")
        return known or short is not None

    async def _remove(self, eui: int) -> None:
        ieee = _eui64(eui)
        if ieee in self.app.devices:
            await self.app.remove(ieee)
        elif self.spec.library.ezsp:
            await self.app.cleanup_tc_link_key(ieee)

    async def _permit(self) -> None:
        """Re-add every logged device's key and permit joining; again before it lapses
        (transient keys and permits expire on the stick)."""
        for eui, key in list(self.allowed.items()):
            if eui not in self.addresses.values():
                await self._permit_one(eui, key)
        self.cancel(self._permit_timer)
        self._permit_timer = self.after(PERMIT_RENEW, self._renew_permit, "permit renew")

    def _renew_permit(self) -> None:
        if self.connected and self.permit_joining:
            self._spawn(self._permit(), "permit renew")

    async def _permit_one(self, eui: int, key: bytes) -> None:
        if not self.permit_joining:
            return
        try:
            await self.app.permit_with_link_key(_eui64(eui), zt.KeyData(key),
                                                time_s=PERMIT_SECONDS)
        except (zigpy.exceptions.ZigbeeException, asyncio.TimeoutError, AssertionError) \
                as exc:
            self.stats["permit_failed"] += 1
            self.last_error = exc

    async def _install_link_key(self, eui: int, key: bytes) -> None:
        """Make `key` the stick's APS link key with `eui` (library by library)."""
        app, ieee = self.app, _eui64(eui)
        try:
            if self.spec.radio == "ezsp":
                ezsp = app._ezsp
                if ezsp.ezsp_version >= 13:
                    (index,) = await ezsp.findKeyTableEntry(address=ieee, linkKey=True)
                    if index == 0xFF:
                        index = self._key_slots.setdefault(eui, len(self._key_slots))
                    await ezsp.importLinkKey(index=index, address=ieee, key=zt.KeyData(key))
                else:
                    await ezsp.addOrUpdateKeyTableEntry(address=ieee, linkKey=True,
                                                        keyData=zt.KeyData(key))
            elif self.spec.radio == "znp":
                import zigpy_znp.commands as c
                short = self.short_of(eui) or 0xFFFE
                await app._znp.request(c.ZDO.SetLinkKey.Req(NWK=short, IEEE=ieee,
                                                            LinkKeyData=zt.KeyData(key)))
            elif self.spec.radio == "deconz":
                from zigpy_deconz.api import LinkKey, NetworkParameter
                await app._api.write_parameter(NetworkParameter.link_key,
                                               LinkKey(ieee=ieee, key=zt.KeyData(key)))
            self.stats["link_key_installed"] += 1
        except (zigpy.exceptions.ZigbeeException, asyncio.TimeoutError, ValueError,
                KeyError) as exc:
            self.stats["link_key_failed"] += 1
            self.last_error = exc
            self.report(f"the stick refused the link key for {eui:016X} ({exc})")

    def connection_lost(self, exc: Exception) -> None:
        """zigpy lost the stick (serial drop, stick reset, watchdog): reconnect."""
        if self._closing or self._reconnecting:
            return
        self.connected = False
        self.last_error = exc
        self.stats["connection_lost"] += 1
        self.report(f"lost the stick ({exc}); reconnecting")
        self._reconnecting = True
        self._spawn(self._reconnect(), "reconnect")

    async def _reconnect(self) -> None:
        attempt = 0
        try:
            while not self._closing:
                await asyncio.sleep(RECONNECT_WAITS[min(attempt, len(RECONNECT_WAITS) - 1)])
                attempt += 1
                try:
                    await self.app.disconnect()
                except (zigpy.exceptions.ZigbeeException, OSError, AttributeError):
                    pass
                try:
                    await asyncio.wait_for(self._bring_up(form=False), CONNECT_TIMEOUT)
                except (zigpy.exceptions.ZigbeeException, asyncio.TimeoutError, OSError,
                        ValueError, RuntimeError) as err:
                    self.last_error = err
                    self.stats["reconnect_failed"] += 1
                    continue
                self.stats["reconnected"] += 1
                self.report("the stick is back; the network carries on")
                return
        finally:
            self._reconnecting = False

    async def close(self) -> None:
        self._closing = True
        self.cancel(self._permit_timer)
        for task in list(self._tasks):
            task.cancel()
        await self._shutdown()

    async def _shutdown(self) -> None:
        self.connected = False
        if self.app is not None:
            try:
                await self.app.shutdown(db=False)
            except (zigpy.exceptions.ZigbeeException, OSError, AttributeError,
                    asyncio.TimeoutError):
                pass

    def _spawn(self, coroutine: Any, what: str) -> None:
        task = self.loop.create_task(coroutine, name=f"{self.name} {what}")
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Future) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.stats["task_failed"] += 1
            self.last_error = task.exception()
            LOGGER.warning("%s: %r", self.name, task.exception())

    @property
    def busy(self) -> bool:
        """Frames or commands in flight to the stick."""
        return bool(self._tasks)

    # -- what the stick hears ----------------------------------------------------------------

    def device_joined(self, short: int, eui: int) -> None:
        for old in [s for s, e in self.addresses.items() if e == eui and s != short]:
            del self.addresses[old]
        self.addresses[short] = eui
        self.stats["joins"] += 1
        self.on_joined(eui, short)

    def left(self, eui: int) -> None:
        short = self.short_of(eui)
        if short is not None:
            del self.addresses[short]
        self.on_device_left(eui)

    def packet_received(self, packet: zt.ZigbeePacket) -> None:
        if packet.src is None or packet.src.addr_mode != zt.AddrMode.NWK:
            self.stats["rx_unaddressed"] += 1
            return
        source = int(packet.src.address)
        secured = zt.TransmitOptions.APS_Encryption in packet.tx_options
        ind = ApsIndication(source, self.addresses.get(source), int(packet.src_ep or 0),
                            int(packet.dst_ep or 0), int(packet.cluster_id),
                            int(packet.profile_id), packet.data.serialize(), secured,
                            int(packet.lqi or 0))
        if ind.destination_endpoint == ZDO_ENDPOINT:
            self._on_zdo(ind, broadcast=packet.dst is not None
                         and packet.dst.addr_mode == zt.AddrMode.Broadcast)
        else:
            self._deliver(ind)

    def _on_zdo(self, ind: ApsIndication, broadcast: bool) -> None:
        if ind.profile_id != ZDO_PROFILE or not ind.payload:
            self.stats["zdo_malformed"] += 1
            return
        tsn, body = ind.payload[0], ind.payload[1:]
        if ind.cluster_id == DEVICE_ANNCE and len(body) == 11:
            self.device_joined(int.from_bytes(body[:2], "little"),
                               int.from_bytes(body[2:10], "little"))
        elif ind.cluster_id == MATCH_DESC_REQ:
            self._match(ind, tsn, body, broadcast)

    def _match(self, ind: ApsIndication, tsn: int, body: bytes, broadcast: bool) -> None:
        """Match Descriptor: which of our endpoints serve or use the clusters asked for
        (the devices find the Tunneling server and the meters' Metering this way)."""
        if len(body) < 5:
            self.stats["zdo_malformed"] += 1
            return
        profile = int.from_bytes(body[2:4], "little")
        n_in = body[4]
        ins = {int.from_bytes(body[5 + 2 * i:7 + 2 * i], "little") for i in range(n_in)}
        rest = body[5 + 2 * n_in:]
        outs = {int.from_bytes(rest[1 + 2 * i:3 + 2 * i], "little")
                for i in range(rest[0] if rest else 0)}
        matches = [e.endpoint for e in self.endpoints.values() if e.profile_id == profile
                   and (ins & set(e.server_clusters) or outs & set(e.client_clusters))]
        if not matches and broadcast:
            return
        self.send_data(ind.source, ZDO_ENDPOINT, MATCH_DESC_RSP,
                       bytes([tsn, 0x00]) + COORDINATOR.to_bytes(2, "little")
                       + bytes([len(matches)] + matches), source_endpoint=ZDO_ENDPOINT,
                       profile_id=ZDO_PROFILE, aps_security=False)

    def _deliver(self, ind: ApsIndication) -> None:
        deliver(self, ind)


class StickDeviceLog(DeviceLog):
    """The trust centre's whitelist when the stick is the trust centre: every entry
    is also an install-code key on the stick, every removal takes it off."""

    def __init__(self, dongle: Dongle) -> None:
        super().__init__()
        self.dongle = dongle

    def _put(self, eui64: int, key: bytes) -> None:
        super()._put(eui64, key)
        self.dongle.allow(eui64, key)

    def remove(self, eui64: int) -> bool:
        found = super().remove(eui64)
        self.dongle.disallow(eui64)
        return found


class StickTrustCentre:
    """What the hub asks of its trust centre, done by the stick's: removing a device
    (the stick's own stack admits devices and delivers the network key)."""

    def __init__(self, dongle: Dongle, device_log: StickDeviceLog) -> None:
        self.dongle, self.device_log = dongle, device_log
        self.events: Counter[str] = Counter()
        dongle.on_joined = lambda eui, short: self.events.update(["joined"])
        dongle.on_device_left = lambda eui: self.events.update(["left"])

    def remove_device(self, eui64: int) -> bool:
        found = self.device_log.remove(eui64)
        self.events["removed"] += 1
        return found
