"""`smetslab fuzz han`: malformed 802.15.4 / NWK / APS / ZCL frames and key-establishment
abuse injected over the virtual medium (`Medium.inject`) at two joined nodes: a hub
(coordinator and trust centre, serving a Metering cluster and the Key Establishment
server of `han.key_establishment` with a suite 2 certificate) and a Type 1 device joined
by install code, with its own certificate from the same CA.

An input is `target, frames...`: the first byte picks the node the frames are injected
beside (0 the hub, 1 the CAD), then each frame is one length byte and the frame (with
its FCS), up to 127 bytes. Seeds are the frames the two nodes exchanged on the air (join,
reads, key establishment with junk, ZCL junk, all under the real network key), so
mutants reach every layer; byte-level mutation does the rest.

Every input runs on nodes rebuilt from their saved non-volatile state, so a finding
replays alone. Invariants: no exception escapes the nodes; afterwards both are still
joined with the same network, keys and device log, the hub's attributes are unchanged,
the hub still answers a valid Read Attributes from the device, and once the longest wait
an initiator may announce has passed, the hub's Key Establishment server is free again
(an attacker cannot hold the one session it serves).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from random import Random
from typing import Any, Callable, Hashable, Iterator, Sequence

from zigpy.zcl.foundation import Direction, GeneralCommand

from boards.simulator import Simulator
from han.cbke import CertificateAuthority, Credentials
from han.cbke.errors import KeyEstablishmentStatus
from han.cbke.mmo import install_code_link_key
from han.key_establishment import TRANSIT_MARGIN, KeyEstablishmentCluster
from han.crc import crc16_kermit, crc16_x25
from han.radio import JoinStatus, Medium, Node
from han.radio.aps_layer import Endpoint
from han.trust_centre import DeviceLog, TrustCentre
from han.zcl.frame import general_command
from han.zcl.server import ClusterServer
from tools.fuzz import campaign, mutate
from tools.fuzz.target import Violation, register

START = datetime(2026, 1, 1, tzinfo=UTC)
HUB, CAD = 0x00124B000000C4F0, 0x00124B0000000CAD
PAN, CHANNEL = 0x4321, 11
NETWORK_KEY = bytes(range(0xA0, 0xB0))
_CODE = bytes(range(0x10, 0x20))
INSTALL_CODE = _CODE + crc16_x25(_CODE).to_bytes(2, "little")
METERING, KEY_ESTABLISHMENT, BASIC = 0x0702, 0x0800, 0x0000
ATTRIBUTES = {0x0000: 123456, 0x0300: 0, 0x0301: 1, 0x0302: 1000, 0x0303: 0x2B}
POSITIONS = ((0.0, 0.0, 0.0), (2.0, 0.0, 0.0))
SETTLE = timedelta(milliseconds=40)  # past the latency, air time and acknowledgements
ANSWER = timedelta(seconds=1)
MAX_FRAME = 127
CBKE_SUITE = 2
KE_RELEASE = timedelta(seconds=0xFF) + TRANSIT_MARGIN  # the longest wait announced (u8)


@dataclass
class Premises:
    """The two nodes on one medium, with what the checks look at."""

    sim: Simulator
    medium: Medium
    hub: Node
    cad: Node
    attributes: dict[int, Any]
    answers: list[bytes] = field(default_factory=list)
    hub_ke: KeyEstablishmentCluster | None = None
    cad_ke: KeyEstablishmentCluster | None = None


_PKI: dict[int, Credentials] = {}


def _zse_credentials(eui: int) -> Credentials:
    """A suite 2 certificate for `eui` from one fixed test CA (made once per process,
    from a fixed seed, so rebuilt nodes hold the same keys)."""
    if not _PKI:
        randbytes = Random(0x0800).randbytes
        ca = CertificateAuthority.generate(CBKE_SUITE, randbytes=randbytes)
        for node in (HUB, CAD):
            _PKI[node] = ca.enrol(node.to_bytes(8, "big"), randbytes=randbytes)
    return _PKI[eui]


def serve_hub(premises: Premises) -> None:
    """The hub's endpoint 1: a read-only Metering server and the Key Establishment
    server (its ephemeral keys from a fixed seed: an input replays alike)."""
    metering = ClusterServer(METERING, premises.attributes, writable=frozenset())
    endpoint = premises.hub.add_endpoint(Endpoint(1, server_clusters={
        METERING: lambda ind: metering.handle(ind.payload)}))
    premises.hub_ke = KeyEstablishmentCluster(
        premises.hub, endpoint, {CBKE_SUITE: _zse_credentials(HUB)},
        randbytes=Random(1).randbytes)


def _build(nvms: tuple[dict, dict] | None, start: datetime = START,
           serve: Callable[[Premises], None] = serve_hub) -> Premises:
    """The hub and the CAD: fresh and joined (`nvms` None), or rebuilt from saved NVM;
    `serve` sets up the hub's endpoints."""
    sim = Simulator(start, keep_trace=False)
    medium = Medium(sim, seed=7)
    hub_nvm, cad_nvm = copy.deepcopy(nvms) if nvms is not None else ({}, {})
    hub = Node(HUB, medium, sim, nvm=hub_nvm, position=POSITIONS[0], channel=CHANNEL)
    if nvms is None:
        hub.form_network(PAN, HUB, NETWORK_KEY)
    log = DeviceLog(hub_nvm)
    if nvms is None:
        log.add_install_code(CAD, INSTALL_CODE)
    TrustCentre(hub, log)
    cad = Node(CAD, medium, sim, nvm=cad_nvm, position=POSITIONS[1], channel=CHANNEL)
    premises = Premises(sim, medium, hub, cad, dict(ATTRIBUTES))
    serve(premises)
    cad_endpoint = cad.add_endpoint(Endpoint(1, client_clusters={
        METERING: lambda ind: premises.answers.append(ind.payload)}))
    premises.cad_ke = KeyEstablishmentCluster(
        cad, cad_endpoint, {CBKE_SUITE: _zse_credentials(CAD)}, randbytes=Random(2).randbytes)
    if nvms is None:
        hub.permit_joining = True
        done: list[JoinStatus] = []
        cad.join(install_code_link_key(INSTALL_CODE), done.append)
        sim.run_for(timedelta(seconds=5))
        hub.permit_joining = False
        if done != [JoinStatus.SUCCESS]:
            raise RuntimeError(f"the CAD did not join the fuzzing network: {done}")
    return premises


def _read(premises: Premises, tsn: int) -> bool:
    """A valid Read Attributes of CurrentSummationDelivered from the CAD: answered?"""
    premises.answers.clear()
    frame = _READ[:1] + bytes((tsn,)) + _READ[2:]
    premises.cad.send_data(premises.hub.short_address or 0, 1, METERING, frame)
    premises.sim.run_for(ANSWER)
    return any(a[2:3] == bytes((GeneralCommand.Read_Attributes_rsp,)) for a in premises.answers)


_READ = general_command(GeneralCommand.Read_Attributes, Direction.Client_to_Server,
                        attribute_ids=[0x0000]).encode()  # tsn at byte 1


def _state(p: Premises) -> tuple:
    """What must survive any frames: network, keys, addresses, device log, attributes."""
    def node(n: Node) -> tuple:
        return (n.joined, n.pan_id, n.short_address, n.extended_pan_id, n.trust_centre,
                n.active_key_sequence, tuple(sorted(n.network_keys.items())),
                tuple(sorted(n.link_keys.items())))
    return (node(p.hub), node(p.cad), repr(p.hub.nvm.get("device_log")),
            tuple(sorted(p.attributes.items())))


def frames_of(data: bytes) -> tuple[int, list[bytes]]:
    """(target node, frames) of an input; a length past the end takes what is there."""
    target = data[0] % 2 if data else 0
    frames, at = [], 1
    while at < len(data):
        n = data[at] or 1
        frame = data[at + 1:at + 1 + min(n, MAX_FRAME)]
        at += 1 + n
        if frame:
            frames.append(frame)
    return target, frames


def join_frames(target: int, frames: Sequence[bytes]) -> bytes:
    return bytes((target,)) + b"".join(bytes((len(f),)) + f for f in frames)


@dataclass(frozen=True, slots=True)
class Result:
    before: tuple
    after: tuple
    serving: bool
    stats: tuple
    ke_free: bool = True


class HanTarget:
    """Two joined HAN nodes as a fuzz target."""

    name = "han"
    rejections: tuple[type[BaseException], ...] = ()

    def __init__(self) -> None:
        premises = _build(None, serve=self.serve)
        # Saved before the capture, so the captured frames are fresh to rebuilt nodes.
        self._nvms = (copy.deepcopy(dict(premises.hub.nvm)),
                      copy.deepcopy(dict(premises.cad.nvm)))
        self._start = premises.sim.now()
        self._seeds = _capture(premises)
        # ... and the nodes' own transmit counters start past every captured frame, so a
        # captured frame injected back is an attacker's, not the node's future one.
        for saved, node in zip(self._nvms, (premises.hub, premises.cad)):
            for key in ("tx_nwk", "tx_aps"):
                if key in node.nvm:
                    saved[key] = node.nvm[key]

    def serve(self, premises: Premises) -> None:
        """The hub's endpoints (a test plants a bug here)."""
        serve_hub(premises)

    def seeds(self, rng: Random) -> Iterator[bytes]:
        frames = list(self._seeds)
        rng.shuffle(frames)
        for frame in frames:
            yield join_frames(rng.randrange(2), [frame])
        while True:  # junk with a right FCS, so the layers above the MAC see it
            body = bytes(rng.randrange(256) for _ in range(rng.randrange(3, 100)))
            yield join_frames(rng.randrange(2), [body + crc16_kermit(body).to_bytes(2, "little")])

    def mutate(self, data: bytes, rng: Random, pool: Sequence[bytes]) -> bytes:
        """Mutate one frame (and now and then fix its FCS, so it passes the MAC), or add
        a frame of another input, or move the frames to the other node."""
        target, frames = frames_of(data)
        if not frames or rng.random() < 0.1:
            other = frames_of(rng.choice(pool))[1] if pool else []
            return join_frames(target, frames[:7] + other[:1] or [b"\x00"])
        if rng.random() < 0.05:
            return join_frames(1 - target, frames)
        at = rng.randrange(len(frames))
        frame = mutate.byte_level(frames[at], rng, [f for p in pool[-32:]
                                                     for f in frames_of(p)[1]])
        if rng.random() < 0.7 and len(frame) > 2:
            body = frame[:-2][:MAX_FRAME - 2]
            frame = body + crc16_kermit(body).to_bytes(2, "little")
        frames[at] = frame[:MAX_FRAME] or b"\x00"
        return join_frames(target, frames)

    def execute(self, data: bytes) -> Result:
        p = _build(self._nvms, self._start, self.serve)
        before = _state(p)
        target, frames = frames_of(data)
        for frame in frames:
            p.medium.inject(frame, CHANNEL, POSITIONS[target])
            p.sim.run_for(SETTLE)
        p.sim.run_for(ANSWER)
        after = _state(p)
        stats = tuple(sorted(k for n in (p.hub, p.cad) for k, v in n.stats.items() if v))
        serving = _read(p, 0x5A)
        p.sim.run_for(KE_RELEASE)
        ke_free = p.hub_ke is None or p.hub_ke.session is None
        return Result(before, after, serving, stats, ke_free)

    def check(self, data: bytes, result: Result) -> Violation | None:
        if result.before != result.after:
            names = ("hub", "cad", "device_log", "attributes")
            changed = [n for n, a, b in zip(names, result.before, result.after) if a != b]
            return Violation("state-changed", f"after the frames: {', '.join(changed)}",
                             ",".join(changed))
        if not result.serving:
            return Violation("stopped-serving", "the hub no longer answers a valid Read "
                             "Attributes from the CAD", "read")
        if not result.ke_free:
            return Violation("ke-held", "the hub's Key Establishment session is still "
                             f"held {KE_RELEASE.seconds} s after the frames",
                             "key_establishment")
        return None

    def feedback(self, data: bytes, result: Result) -> Hashable:
        """Which node counters the frames moved: the layers and paths they reached."""
        return result.stats

    def reductions(self, data: bytes) -> Iterator[bytes]:
        """One frame dropped at a time."""
        target, frames = frames_of(data)
        for i in range(len(frames)):
            if len(frames) > 1:
                yield join_frames(target, frames[:i] + frames[i + 1:])


def _capture(p: Premises) -> list[bytes]:
    """The frames a read, ZCL junk, key-establishment abuse and a real key establishment
    put on the air."""
    heard: list[bytes] = []
    p.medium.add_tap(lambda stamp, channel, frame: heard.append(frame))
    _read(p, 1)
    hub = p.hub.short_address or 0

    junk = (
        # Initiate Key Establishment: suite 2, a junk certificate, then a truncated one
        bytes((0x01, 0x02, 0x00)) + (2).to_bytes(2, "little") + b"\x10\x00" + bytes(74),
        bytes((0x01, 0x03, 0x00)) + (2).to_bytes(2, "little") + bytes(10),
        # Ephemeral Data Request and Confirm Key Data Request out of order
        bytes((0x01, 0x04, 0x01)) + bytes(37),
        bytes((0x01, 0x05, 0x02)) + bytes(16),
        bytes((0x01, 0x06, 0x03)),  # Terminate Key Establishment, too short
    )
    for payload in junk:
        p.cad.send_data(hub, 1, KEY_ESTABLISHMENT, payload)
        p.sim.run_for(ANSWER)
    for payload in (b"\x00", b"\x00\x07\x00", b"\x00\x08\x02\x00\x00\xFF", b"\x10\x09\x00",
                    b"\x04\x34\x12\x10\x00\x00"):
        p.cad.send_data(hub, 1, METERING, payload)
        p.sim.run_for(ANSWER)
    p.cad.send_data(hub, 9, BASIC, b"\x00\x0A\x00\x00\x00")  # no such endpoint
    p.sim.run_for(ANSWER)
    # Last: after it, APS frames are secured with the CBKE link key, which nodes rebuilt
    # from the saved state do not hold.
    done: list = []
    p.cad_ke.initiate(hub, 1, done.append, suite=CBKE_SUITE)
    p.sim.run_for(timedelta(seconds=30))
    if not done or done[0].status is not KeyEstablishmentStatus.SUCCESS:
        raise RuntimeError(f"the fuzzing network's key establishment failed: {done}")
    return heard


register("han", HanTarget)


def run_han(seconds: float, seed: int, *, max_inputs: int | None = None,
            findings_dir: Path | None = None) -> dict:
    """Fuzz the HAN nodes; the summary `fuzz han --json` prints."""
    return campaign.run(HanTarget(), seconds, seed, max_inputs=max_inputs,
                        findings_dir=findings_dir)
