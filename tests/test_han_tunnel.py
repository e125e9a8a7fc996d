"""CBKE over the Key Establishment cluster, GBCS through ZSE tunnels (with APS
fragmentation), bad frames answered the way a device answers them, and a capture that
tshark decodes down to GBCS with zero malformed packets."""

from __future__ import annotations

import random
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import RTDS, need
from zigpy.zcl.foundation import Direction

from boards.simulator import Simulator
from han.cbke import CertificateAuthority, KeyEstablishment, KeyEstablishmentStatus, Role
from han.cbke.mmo import install_code_link_key
from han.crc import crc16_kermit, crc16_x25
from han.frames import PcapWriter
from han.key_establishment import (
    KEY_ESTABLISHMENT,
    Command,
    KeyEstablishmentCluster,
    Outcome,
    encode_initiate,
)
from han.radio import Endpoint, JoinStatus, Medium, Node
from han.trust_centre import DeviceLog, TrustCentre
from han.tunnel import (
    GB_HRGP,
    TUNNELING,
    Transfer,
    TransferCommand,
    TransferDataStatus,
    TunnelClient,
    TunnelDecodeError,
    TunnelServer,
    TunnelStatus,
    decode_transfer,
    encode_transfer,
)
from han.zcl.frame import cluster_command

CHF, ESME, GSME = 0x00124B0000C0FFEE, 0x00124B0000000E5E, 0x00124B0000006A50
NETWORK_KEY = bytes.fromhex("0F0E0D0C0B0A09080706050403020100")
SE = 0x0109


def install_code(seed: int) -> bytes:
    code = bytes((seed * 53 + i * 7) & 0xFF for i in range(16))
    return code + crc16_x25(code).to_bytes(2, "little")


def rtds_messages() -> list[bytes]:
    """The RTDS messages that cross the HAN (pre-commands stay between the user and DCC)."""
    files = sorted(f for f in need(RTDS).glob("*/*.HEX") if "PRECOMMAND" not in f.name)
    return [bytes.fromhex(f.read_text().strip()) for f in files]


class Premises:
    """CHF plus joined devices, each with endpoint 1; a tap keeps every frame and stamp."""

    def __init__(self, *devices: int, suite: int = 2, seed: int = 4) -> None:
        self.sim = Simulator(datetime(2026, 3, 1, tzinfo=UTC), keep_trace=False)
        self.medium = Medium(self.sim, seed=seed)
        self.capture: list[tuple[int, bytes]] = []
        self.medium.add_tap(lambda stamp, channel, frame: self.capture.append((stamp, frame)))
        self.random = random.Random(seed)
        self.ca = CertificateAuthority.generate(suite, randbytes=self.random.randbytes)
        self.chf = Node(CHF, self.medium, self.sim, name="chf")
        self.chf.form_network(0x2B2B, CHF, NETWORK_KEY)
        self.log = DeviceLog()
        TrustCentre(self.chf, self.log)
        self.chf.permit_joining = True
        self.chf_ep = self.chf.add_endpoint(Endpoint(1))
        self.nodes: dict[int, Node] = {}
        self.endpoints: dict[int, Endpoint] = {}
        for i, eui in enumerate(devices):
            self.log.add_install_code(eui, install_code(i))
            node = Node(eui, self.medium, self.sim, position=(2.0 + i, 1.0, 0.0))
            result: list[JoinStatus] = []
            node.join(install_code_link_key(install_code(i)), result.append)
            self.run(3)
            assert result == [JoinStatus.SUCCESS]
            self.nodes[eui] = node
            self.endpoints[eui] = node.add_endpoint(Endpoint(1))

    def credentials(self, eui: int, ca: CertificateAuthority | None = None):
        return (ca or self.ca).enrol(eui.to_bytes(8, "big"), randbytes=self.random.randbytes)

    def key_establishment(self, node: Node, endpoint: Endpoint, suites=None):
        suites = suites or {self.ca.suite: self.credentials(node.eui64)}
        return KeyEstablishmentCluster(node, endpoint, suites, randbytes=self.random.randbytes)

    def run(self, seconds: float) -> None:
        self.sim.run_for(timedelta(seconds=seconds))

    def pcap(self, path: Path) -> None:
        with path.open("wb") as stream:
            writer = PcapWriter(stream)
            for stamp, frame in self.capture:
                writer.write(stamp, frame)


# -- Key Establishment ----------------------------------------------------------------------

@pytest.mark.parametrize("suite", [2, 1])
def test_cbke_over_the_cluster_gives_both_nodes_the_same_link_key(suite):
    p = Premises(ESME, suite=suite)
    esme = p.nodes[ESME]
    server = p.key_establishment(p.chf, p.chf_ep)
    client = p.key_establishment(esme, p.endpoints[ESME])
    install_key = esme.link_keys[CHF]
    outcomes: list[Outcome] = []
    client.initiate(0x0000, 1, outcomes.append)
    p.run(2)
    assert [o.status for o in outcomes] == [KeyEstablishmentStatus.SUCCESS]
    key = outcomes[0].link_key
    assert outcomes[0].peer == CHF and server.outcomes[0].peer == ESME
    assert server.outcomes[0].link_key == key and key != install_key
    assert esme.link_keys[CHF] == key and p.chf.link_keys[ESME] == key


def test_cbke_refusals_carry_the_zse_status():
    p = Premises(ESME, GSME)
    esme, gsme = p.nodes[ESME], p.nodes[GSME]
    p.key_establishment(p.chf, p.chf_ep)
    # A suite the server does not support.
    other_suite = CertificateAuthority.generate(1, randbytes=p.random.randbytes)
    client = p.key_establishment(esme, p.endpoints[ESME], {1: p.credentials(ESME,
                                                                             other_suite)})
    outcomes: list[Outcome] = []
    client.initiate(0x0000, 1, outcomes.append)
    p.run(2)
    # A certificate from another CA.
    stranger_ca = CertificateAuthority.generate(2, issuer=b"OTHER-CA",
                                                randbytes=p.random.randbytes)
    client = p.key_establishment(gsme, p.endpoints[GSME],
                                 {2: p.credentials(GSME, stranger_ca)})
    client.initiate(0x0000, 1, outcomes.append)
    p.run(2)
    # A certificate that does not allow key agreement.
    signing_only = p.ca.enrol(ESME.to_bytes(8, "big"), randbytes=p.random.randbytes,
                              key_usage=0x00)
    client = p.key_establishment(esme, p.endpoints[ESME], {2: signing_only})
    client.initiate(0x0000, 1, outcomes.append)
    p.run(2)
    assert [(o.status, o.sent_by_peer) for o in outcomes] == [
        (KeyEstablishmentStatus.UNSUPPORTED_SUITE, True),
        (KeyEstablishmentStatus.UNKNOWN_ISSUER, True),
        (KeyEstablishmentStatus.INVALID_KEY_USAGE, True)]
    assert p.chf.stats["ke_refused"] == 3


def raw_client(p: Premises, node: Node, endpoint: Endpoint) -> list[tuple[int, bytes]]:
    """A hand-driven Key Establishment client: records (command id, body) it receives."""
    heard: list[tuple[int, bytes]] = []
    endpoint.client_clusters[KEY_ESTABLISHMENT] = lambda ind: heard.append(
        (ind.payload[2], ind.payload[3:])) or None
    return heard


def send_ke(p: Premises, node: Node, frame: bytes) -> None:
    node.send_data(0x0000, 1, KEY_ESTABLISHMENT, frame)
    p.run(1)


def test_a_bad_message_a_bad_confirm_and_a_busy_server_are_terminated():
    p = Premises(ESME, GSME)
    esme, gsme = p.nodes[ESME], p.nodes[GSME]
    p.key_establishment(p.chf, p.chf_ep)
    heard = raw_client(p, esme, p.endpoints[ESME])
    credentials = p.credentials(ESME)
    identity = credentials.certificate
    send_ke(p, esme, encode_initiate(Direction.Client_to_Server, 1, 2, identity[:-3]))
    assert heard[-1][0] == Command.TERMINATE
    assert heard[-1][1][0] == KeyEstablishmentStatus.BAD_MESSAGE
    send_ke(p, esme, encode_initiate(Direction.Client_to_Server, 2, 2, identity))
    assert heard[-1][0] == Command.INITIATE and len(heard[-1][1]) == 4 + 74
    # While the CHF is busy with the ESME, the GSME is asked to come back later.
    gsme_heard = raw_client(p, gsme, p.endpoints[GSME])
    send_ke(p, gsme, encode_initiate(Direction.Client_to_Server, 1, 2,
                                     p.credentials(GSME).certificate))
    assert gsme_heard[-1][0] == Command.TERMINATE
    assert gsme_heard[-1][1][0] == KeyEstablishmentStatus.NO_RESOURCES
    # The ESME goes on with a real ephemeral key, then a wrong MAC.
    ke = KeyEstablishment(Role.INITIATOR, credentials, randbytes=p.random.randbytes)
    ke.initiate()
    ephemeral = ke.on_identity(heard[-1][1][4:])
    send_ke(p, esme, bytes([0x11, 3, Command.EPHEMERAL_DATA]) + ephemeral)
    assert heard[-1][0] == Command.EPHEMERAL_DATA and len(heard[-1][1]) == 37
    send_ke(p, esme, bytes([0x11, 4, Command.CONFIRM_KEY]) + bytes(16))
    assert heard[-1][0] == Command.TERMINATE
    assert heard[-1][1][0] == KeyEstablishmentStatus.BAD_KEY_CONFIRM
    assert p.chf.link_keys[ESME] == install_code_link_key(install_code(0))   # unchanged


def test_a_silent_responder_times_the_exchange_out():
    p = Premises(ESME)
    esme = p.nodes[ESME]
    client = p.key_establishment(esme, p.endpoints[ESME])   # the CHF has no KE server
    p.chf_ep.server_clusters[KEY_ESTABLISHMENT] = lambda ind: None
    outcomes: list[Outcome] = []
    client.initiate(0x0000, 1, outcomes.append)
    p.run(5)
    assert outcomes == []
    p.run(10)
    assert [o.status for o in outcomes] == [None] and esme.stats["ke_timeout"] == 1
    assert client.session is None


# -- Tunnels --------------------------------------------------------------------------------

def open_tunnel(p: Premises, eui: int, on_message) -> TunnelClient:
    node = p.nodes[eui]
    matches: list[tuple[int, list[int]]] = []
    node.match_descriptor(SE, [TUNNELING], [], lambda short, eps: matches.append(
        (short, eps)))
    p.run(1)
    assert matches == [(0x0000, [1])]
    client = TunnelClient(node, p.endpoints[eui], on_message)
    statuses: list[TunnelStatus] = []
    client.open(*matches[0][0:1], matches[0][1][0], statuses.append)
    p.run(1)
    assert statuses == [TunnelStatus.SUCCESS] and client.tunnel_id is not None
    return client


def test_gbcs_messages_tunnel_both_ways_with_fragmentation():
    messages = rtds_messages()
    long_one = next(m for m in messages if 300 < len(m) < 1400)
    p = Premises(ESME, GSME)
    at_chf: list[tuple[int | None, bytes]] = []
    server = TunnelServer(p.chf, p.chf_ep, lambda eui, m: at_chf.append((eui, m)))
    at_esme: list[bytes] = []
    at_gsme: list[bytes] = []
    esme = open_tunnel(p, ESME, at_esme.append)
    gsme = open_tunnel(p, GSME, at_gsme.append)
    confirms: list[bool] = []
    esme.put(long_one, confirms.append)
    p.run(2)
    assert confirms == [True] and at_chf == [(ESME, long_one)]
    assert p.chf.stats["aps_duplicate"] == 0
    server.put(ESME, messages[0])
    for m in messages[1:4]:
        server.queue(GSME, m)             # a sleepy GSME pulls with GET
    p.run(1)
    assert at_esme == [messages[0]] and at_gsme == []
    gsme.get()
    p.run(3)
    assert at_gsme == messages[1:4]       # GET-RESPONSE said how many remained
    gsme.get()
    p.run(1)
    assert at_gsme == messages[1:4]       # nothing left: an empty GET-RESPONSE


def test_a_fragmented_message_survives_a_lossy_link():
    messages = rtds_messages()
    long_one = next(m for m in messages if 300 < len(m) < 1400)
    p = Premises(ESME)
    at_chf: list[bytes] = []
    TunnelServer(p.chf, p.chf_ep, lambda eui, m: at_chf.append(m))
    client = open_tunnel(p, ESME, lambda m: None)
    p.medium.model.loss = 0.2
    confirms: list[bool] = []
    client.put(long_one, confirms.append)
    p.run(30)
    assert confirms == [True] and at_chf == [long_one]
    esme = p.nodes[ESME]
    assert esme.stats["mac_retry"] + esme.stats["aps_retry"] > 0


def test_a_sleepy_gsme_gets_its_frames_when_it_polls():
    messages = rtds_messages()
    p = Premises(ESME)
    p.log.add_install_code(GSME, install_code(5))
    gsme = Node(GSME, p.medium, p.sim, position=(4.0, 0.0, 0.0), rx_on_when_idle=False)
    joined: list[JoinStatus] = []
    gsme.join(install_code_link_key(install_code(5)), joined.append)   # polls for its key
    p.run(3)
    assert joined == [JoinStatus.SUCCESS] and gsme.short_address in p.chf.sleepy_children
    server = TunnelServer(p.chf, p.chf_ep, lambda eui, m: None)
    at_gsme: list[bytes] = []
    client = TunnelClient(gsme, gsme.add_endpoint(Endpoint(1)), at_gsme.append)
    statuses: list[TunnelStatus] = []
    client.open(0x0000, 1, statuses.append)
    p.run(5)                                  # fast polling is over: the GSME sleeps
    assert statuses == [TunnelStatus.SUCCESS]
    before = gsme.stats["rx_off"]
    p.medium.inject(p.capture[-1][1], 11, (0.0, 0.0, 0.0))
    p.run(0.01)
    assert gsme.stats["rx_off"] == before + 1                   # asleep: heard nothing
    server.put(GSME, messages[0])
    p.run(0.1)
    assert at_gsme == [] and p.chf.stats["indirect_expired"] == 0   # held at the CHF
    p.run(8)
    assert at_gsme == [messages[0]]                             # its next poll fetched it
    gsme.power_off()
    confirms: list[bool] = []
    server.put(GSME, messages[1], confirms.append)
    p.run(30)                     # each APS attempt waits out the persistence time
    assert confirms == [False] and p.chf.stats["indirect_expired"] == 3


def test_tunnel_refusals_and_transfer_errors():
    p = Premises(ESME, GSME)
    TunnelServer(p.chf, p.chf_ep, lambda eui, m: None)
    esme, gsme = p.nodes[ESME], p.nodes[GSME]
    heard: list[bytes] = []
    p.endpoints[ESME].client_clusters[TUNNELING] = lambda ind: heard.append(ind.payload)
    wrong_protocol = cluster_command(TUNNELING, "request_tunnel", Direction.Client_to_Server,
                                     protocol_id=GB_HRGP + 1, manufacturer_code=0xFFFF,
                                     flow_control_support=False,
                                     maximum_incoming_transfer_size=1500).encode()
    esme.send_data(0x0000, 1, TUNNELING, wrong_protocol)
    p.run(1)
    assert heard[-1][2] == 0x00 and heard[-1][5] == TunnelStatus.PROTOCOL_NOT_SUPPORTED
    no_tunnel = cluster_command(TUNNELING, "transfer_data_client_to_server",
                                Direction.Client_to_Server, tunnel_id=77,
                                data=b"\x03\xdf\x09").encode()
    esme.send_data(0x0000, 1, TUNNELING, no_tunnel)
    p.run(1)
    assert heard[-1][2] == 0x02 and heard[-1][5] == TransferDataStatus.NO_SUCH_TUNNEL
    # The GSME's tunnel is not the ESME's to use.
    gsme_client = open_tunnel(p, GSME, lambda m: None)
    stolen = cluster_command(TUNNELING, "transfer_data_client_to_server",
                             Direction.Client_to_Server, tunnel_id=gsme_client.tunnel_id,
                             data=b"\x03\xdf\x09").encode()
    esme.send_data(0x0000, 1, TUNNELING, stolen)
    p.run(1)
    assert heard[-1][5] == TransferDataStatus.WRONG_DEVICE
    assert p.chf.stats["tunnel_transfer_refused"] == 2 and gsme.joined


def test_transfer_header_codec():
    for transfer in (Transfer(TransferCommand.GET), Transfer(TransferCommand.PUT, b"\xdf\x09"),
                     Transfer(TransferCommand.GET_RESPONSE, b"\xdd\x00", 3),
                     Transfer(TransferCommand.GET_RESPONSE, b"", 0)):
        assert decode_transfer(encode_transfer(transfer)) == transfer
    assert encode_transfer(Transfer(TransferCommand.GET_RESPONSE, b"\xdf", 2)) == b"\x02\x02\xdf"
    for bad in (b"", b"\x04\xdf", b"\x01\x00", b"\x02", b"\x03"):
        with pytest.raises(TunnelDecodeError):
            decode_transfer(bad)


# -- Bad frames -----------------------------------------------------------------------------

def test_unknown_clusters_and_malformed_zcl_get_the_zcl_status():
    p = Premises(ESME)
    esme = p.nodes[ESME]
    TunnelServer(p.chf, p.chf_ep, lambda eui, m: None)
    heard: list[bytes] = []
    p.endpoints[ESME].client_clusters[0x0702] = lambda ind: heard.append(ind.payload)
    p.endpoints[ESME].client_clusters[TUNNELING] = lambda ind: heard.append(ind.payload)
    esme.send_data(0x0000, 1, 0x0702, bytes([0x00, 9, 0x00, 0x00, 0x00]))   # no Metering
    p.run(1)
    assert heard[-1] == bytes([0x18, 9, 0x0B, 0x00, 0xC3])       # UNSUPPORTED_CLUSTER
    truncated = bytes([0x01, 10, 0x00, GB_HRGP])                 # Request Tunnel, cut short
    esme.send_data(0x0000, 1, TUNNELING, truncated)
    p.run(1)
    assert heard[-1] == bytes([0x18, 10, 0x0B, 0x00, 0x80])      # MALFORMED_COMMAND
    oversized = cluster_command(TUNNELING, "close_tunnel", Direction.Client_to_Server,
                                tsn=11, tunnel_id=1).encode() + b"\x00" * 8
    esme.send_data(0x0000, 1, TUNNELING, oversized)
    p.run(1)
    assert heard[-1] == bytes([0x18, 11, 0x0B, 0x01, 0x80])
    assert p.chf.stats["zcl_unsupported_cluster"] == 1 and p.chf.stats["tunnel_malformed"] == 2


def test_frames_under_a_wrong_network_key_are_dropped_and_counted():
    p = Premises(ESME)
    intruder = Node(0x00124B000BADBAD0, p.medium, p.sim, nvm={"network": {
        "pan_id": 0x2B2B, "extended_pan_id": CHF, "channel": 11, "short": 0x0666,
        "coordinator": False, "trust_centre": CHF, "keys": {"0": bytes(16).hex()},
        "active": 0, "addresses": {"0": CHF}}})
    intruder.add_endpoint(Endpoint(1))
    intruder.send_data(0x0000, 1, 0x0702, bytes([0x00, 1, 0x00, 0x00, 0x00]))
    p.run(1)
    assert p.chf.stats["nwk_security_failure"] >= 1
    assert p.chf.stats["zcl_unsupported_cluster"] == 0


def test_mutated_frames_never_crash_a_node():
    p = Premises(ESME)
    p.key_establishment(p.chf, p.chf_ep)
    p.key_establishment(p.nodes[ESME], p.endpoints[ESME]).initiate(0x0000, 1)
    p.run(2)
    TunnelServer(p.chf, p.chf_ep, lambda eui, m: None)
    open_tunnel(p, ESME, lambda m: None).put(rtds_messages()[3])
    p.run(2)
    frames = [frame[:-2] for _, frame in p.capture]
    rnd = random.Random(1)
    nodes = [p.chf, p.nodes[ESME]]
    for i in range(3000):
        frame = bytearray(rnd.choice(frames))
        for _ in range(rnd.randrange(1, 3)):
            frame[rnd.randrange(len(frame))] = rnd.randrange(256)
        if rnd.random() < 0.3:
            frame = frame[:rnd.randrange(1, len(frame))]
        for node in nodes:
            node.receive(bytes(frame) + crc16_kermit(bytes(frame)).to_bytes(2, "little"), 90)
        if i % 500 == 0:
            p.run(0.5)
    p.run(5)
    for node in nodes:
        assert node.stats["nwk_security_failure"] > 0 and node.stats["nwk_replay"] > 0


# -- A capture tshark reads -----------------------------------------------------------------

@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not on PATH")
def test_tshark_decodes_join_cbke_and_tunnels_with_zero_malformed(tmp_path):
    messages = rtds_messages()
    long_one = next(m for m in messages if 300 < len(m) < 1400)
    p = Premises(ESME)
    esme = p.nodes[ESME]
    p.key_establishment(p.chf, p.chf_ep)
    outcomes: list[Outcome] = []
    p.key_establishment(esme, p.endpoints[ESME]).initiate(0x0000, 1, outcomes.append)
    p.run(2)
    server = TunnelServer(p.chf, p.chf_ep, lambda eui, m: None)
    client = open_tunnel(p, ESME, lambda m: None)
    client.put(long_one)
    server.queue(ESME, messages[0])
    p.run(2)
    client.get()
    p.run(2)
    path = tmp_path / "han.pcap"
    p.pcap(path)
    keys = [NETWORK_KEY, install_code_link_key(install_code(0)), outcomes[0].link_key]
    options = []
    for i, key in enumerate(keys):
        options += ["-o", f'uat:zigbee_pc_keys:"{key.hex().upper()}","Normal","k{i}"']
    result = subprocess.run(["tshark", "-n", "-r", str(path), *options, "-V"],
                            capture_output=True, text=True, timeout=120, check=True)
    out = result.stdout
    assert "Malformed" not in out and "Incorrect" not in out
    assert out.count("FCS: ") == out.count("(Correct)") == len(p.capture)
    for expected in ("Command Identifier: Transport Key (0x05)",
                     "Association Response", "Device Announcement",
                     "Command: Initiate Key Establishment Request (0x00)",
                     "Command: Confirm Key Data Response (0x02)",
                     "Key Establishment Suite: Crypto Suite 2",
                     "Match Descriptor Response", "Command: Request Tunnel Response (0x00)",
                     "Transfer data command: PUT (0x03)",
                     "Transfer data command: GET-RESPONSE (0x02)",
                     "GBCS Message"):
        assert expected in out, expected
