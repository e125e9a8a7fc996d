"""The virtual 802.15.4 medium: range, channels, loss, latency, taps; the loopback UDP
medium across participants; MAC retries; and nodes that survive any bytes on the air."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from boards.simulator import Simulator
from han.cbke.mmo import install_code_link_key
from han.crc import crc16_kermit, crc16_x25
from han.frames import AddressMode, MacFrame, MacFrameType, encode_mac
from han.radio import (
    DatagramError,
    JoinStatus,
    LinkModel,
    Medium,
    Node,
    RadioError,
    UdpParticipant,
)
from han.radio.udp import decode_datagram, encode_datagram
from han.trust_centre import DeviceLog, TrustCentre

START = datetime(2026, 3, 1, tzinfo=UTC)
CODE = bytes(range(0x10, 0x20))
INSTALL_CODE = CODE + crc16_x25(CODE).to_bytes(2, "little")
HUB, CAD = 0x00124B000000C4F0, 0x00124B0000000CAD


@dataclass
class Radio:
    """A bare transceiver: records what it hears."""

    eui64: int
    position: tuple[float, float, float]
    channel: int = 11
    heard: list[tuple[bytes, int]] = field(default_factory=list)

    def receive(self, frame: bytes, lqi: int) -> None:
        self.heard.append((frame, lqi))

    __hash__ = object.__hash__
    __eq__ = object.__eq__


def data_frame(seq: int = 1, body: bytes = b"\x01\x02\x03") -> bytes:
    return encode_mac(MacFrame(MacFrameType.DATA, seq, AddressMode.SHORT, 0x1234, 0xFFFF,
                               AddressMode.SHORT, 0x1234, 0x0001, pan_id_compression=True,
                               body=body))


def medium(**model) -> tuple[Simulator, Medium]:
    sim = Simulator(START, keep_trace=False)
    return sim, Medium(sim, model=LinkModel(**model), seed=7)


def test_frames_reach_radios_in_range_on_the_channel_after_latency_and_air_time():
    sim, m = medium(range_m=20.0, latency=timedelta(milliseconds=2))
    sender, near, far, other_channel = (Radio(1, (0, 0, 0)), Radio(2, (5, 0, 0)),
                                        Radio(3, (25, 0, 0)), Radio(4, (1, 0, 0), 15))
    for r in (sender, near, far, other_channel):
        m.attach(r)
    frame = data_frame()
    m.transmit(sender, frame)
    sim.run_for(timedelta(milliseconds=2))
    assert near.heard == []                                   # still in the air
    sim.run_for(timedelta(milliseconds=1))
    assert [f for f, _ in near.heard] == [frame]
    assert far.heard == [] and other_channel.heard == [] and sender.heard == []


def test_link_quality_falls_with_distance():
    model = LinkModel()
    qualities = [model.lqi(d) for d in (0.5, 2, 5, 10, 20, 29)]
    assert qualities == sorted(qualities, reverse=True) and qualities[0] == 255
    assert 0 <= qualities[-1] < qualities[0]


def test_loss_and_interference_are_seeded_and_reproducible():
    def run(seed: int, loss: float, interference: float) -> list[int]:
        sim = Simulator(START, keep_trace=False)
        m = Medium(sim, model=LinkModel(loss=loss), seed=seed)
        m.set_interference(11, interference)
        a, b = Radio(1, (0, 0, 0)), Radio(2, (1, 0, 0))
        m.attach(a)
        m.attach(b)
        for i in range(200):
            m.transmit(a, data_frame(i & 0xFF))
        sim.run_for(timedelta(seconds=1))
        return [f[2] for f, _ in b.heard]
    lossy = run(3, 0.3, 0.0)
    assert lossy == run(3, 0.3, 0.0)
    assert 100 < len(lossy) < 180
    assert len(run(3, 0.0, 0.5)) < 150 and len(run(3, 0.0, 0.0)) == 200
    with pytest.raises(RadioError):
        Medium(Simulator(START)).set_interference(11, 1.5)


def test_the_tap_sees_every_frame_and_the_phy_refuses_what_does_not_fit():
    sim, m = medium()
    seen = []
    m.add_tap(lambda stamp, channel, frame: seen.append((stamp, channel, frame)))
    a, b = Radio(1, (0, 0, 0), 20), Radio(2, (500, 0, 0), 20)
    m.attach(a)
    m.attach(b)
    m.transmit(a, data_frame())
    assert seen == [(int(START.timestamp() * 1_000_000), 20, data_frame())]
    with pytest.raises(RadioError):
        m.transmit(a, bytes(128))
    with pytest.raises(RadioError):
        m.attach(Radio(3, (0, 0, 0), 27))
    with pytest.raises(RadioError):
        m.transmit(Radio(9, (0, 0, 0)), data_frame())   # not attached


def test_mac_retries_carry_a_join_through_a_lossy_link():
    sim, m = medium(loss=0.35)
    hub = Node(HUB, m, sim)
    hub.form_network(0x4321, HUB, bytes(16))
    log = DeviceLog()
    log.add_install_code(CAD, INSTALL_CODE)
    TrustCentre(hub, log)
    hub.permit_joining = True
    results = []
    for attempt in range(5):           # a lost beacon means scanning again, as a CAD does
        cad = Node(CAD, m, sim, position=(2, 0, 0))
        cad.join(install_code_link_key(INSTALL_CODE), results.append)
        sim.run_for(timedelta(seconds=3))
        if results[-1] is JoinStatus.SUCCESS:
            break
        cad.power_off()
    assert results[-1] is JoinStatus.SUCCESS and m.losses > 0
    assert hub.stats["mac_retry"] + cad.stats["mac_retry"] > 0


def test_nodes_count_and_drop_garbage_and_never_raise():
    sim, m = medium()
    hub = Node(HUB, m, sim)
    hub.form_network(0x4321, HUB, bytes(16))
    rnd = random.Random(11)
    for _ in range(2000):
        body = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 60)))
        if rnd.random() < 0.8:   # most with a right FCS, so the layers above see them
            frame = body + crc16_kermit(body).to_bytes(2, "little")
        else:
            frame = body
        hub.receive(frame[:127], 200)
    sim.run_for(timedelta(seconds=1))
    assert sum(hub.stats.values()) > 0
    assert hub.stats["mac_fcs_error"] + hub.stats["mac_malformed"] > 100


def test_datagrams_round_trip_and_junk_is_a_typed_error():
    frame = data_frame()
    datagram = encode_datagram(15, (1.5, -2.0, 0.25), 123456789, CAD, frame)
    assert decode_datagram(datagram) == (15, (1.5, -2.0, 0.25), 123456789, CAD, frame)
    for junk in (b"", b"SLHN", b"XXXX" + datagram[4:], datagram[:5] + b"\x07" + datagram[6:],
                 datagram[:4] + b"\x09" + datagram[5:], datagram[:33] + bytes(200)):
        with pytest.raises(DatagramError):
            decode_datagram(junk)


def test_a_cad_in_one_participant_joins_a_hub_in_another_over_udp():
    hub_sim, cad_sim = Simulator(START, keep_trace=False), Simulator(START, keep_trace=False)
    hub_medium, cad_medium = Medium(hub_sim), Medium(cad_sim)
    hub_side, cad_side = UdpParticipant(hub_medium), UdpParticipant(cad_medium)
    try:
        hub_side.add_peer(cad_side.port)
        cad_side.add_peer(hub_side.port)
        hub = Node(HUB, hub_medium, hub_sim)
        hub.form_network(0x4321, HUB, bytes(range(16)))
        log = DeviceLog()
        log.add_install_code(CAD, INSTALL_CODE)
        TrustCentre(hub, log)
        hub.permit_joining = True
        cad = Node(CAD, cad_medium, cad_sim, position=(3, 0, 0))
        results = []
        cad.join(install_code_link_key(INSTALL_CODE), results.append)
        def pump(receiver: UdpParticipant, sender: UdpParticipant) -> None:
            """Lockstep: wait (bounded) until every datagram sent has been taken in."""
            for _ in range(100):
                if receiver.received >= sender.sent:
                    return
                receiver.poll(0.05)
        step = timedelta(milliseconds=1)
        for _ in range(400):
            cad_sim.run_for(step)
            pump(hub_side, cad_side)
            hub_sim.run_for(step)
            pump(cad_side, hub_side)
            if results:
                break
        assert results == [JoinStatus.SUCCESS]
        assert cad.network_key == bytes(range(16)) and hub.eui_of(cad.short_address) == CAD
        assert hub_side.received > 0 and cad_side.received > 0
        hub_side.socket.sendto(b"not a frame", ("127.0.0.1", cad_side.port))
        cad_side.poll(0.5)
        assert cad_side.rejected == 1
    finally:
        hub_side.close()
        cad_side.close()
