"""Joining the HAN: install-code joins, refusal, leave and remove, rejoin after a power cut,
network key update, and frame counters (replays dropped and counted)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from boards.simulator import Simulator
from han.cbke.errors import InstallCodeError
from han.cbke.mmo import install_code_link_key
from han.crc import crc16_x25
from han.frames import Keyring, decode_zigbee
from han.radio import Endpoint, JoinStatus, Medium, Node
from han.trust_centre import DeviceLog, TrustCentre
from han.zcl.server import ClusterServer

CHF = 0x00124B0000C0FFEE
ESME = 0x00124B0000000E5E
IHD = 0x00124B0000000111
STRANGER = 0x00124B00DEADBEEF
PAN = 0x1A2B
NETWORK_KEY = bytes.fromhex("A1A2A3A4A5A6A7A8A9AAABACADAEAFB0")
NEW_KEY = bytes.fromhex("B1B2B3B4B5B6B7B8B9BABBBCBDBEBFC0")
METERING = 0x0702


def install_code(seed: int) -> bytes:
    code = bytes((seed * 37 + i * 11) & 0xFF for i in range(16))
    return code + crc16_x25(code).to_bytes(2, "little")


class Han:
    """A premises' HAN in virtual time: the CHF (coordinator, trust centre) and a tap."""

    def __init__(self) -> None:
        self.sim = Simulator(datetime(2026, 3, 1, tzinfo=UTC), keep_trace=False)
        self.medium = Medium(self.sim, seed=1)
        self.frames: list[bytes] = []
        self.medium.add_tap(lambda stamp, channel, frame: self.frames.append(frame))
        self.chf_nvm: dict = {}
        self.chf = Node(CHF, self.medium, self.sim, nvm=self.chf_nvm, name="chf")
        self.chf.form_network(PAN, CHF, NETWORK_KEY)
        self.log = DeviceLog(self.chf_nvm)
        self.tc = TrustCentre(self.chf, self.log)
        self.chf.permit_joining = True

    def device(self, eui: int, nvm: dict | None = None, x: float = 3.0) -> Node:
        return Node(eui, self.medium, self.sim, nvm=nvm, position=(x, 0.0, 0.0))

    def join(self, node: Node, code: bytes) -> JoinStatus:
        result: list[JoinStatus] = []
        node.join(install_code_link_key(code), result.append)
        self.run(3)
        assert len(result) == 1
        return result[0]

    def run(self, seconds: float) -> None:
        self.sim.run_for(timedelta(seconds=seconds))


def metering_endpoint(node: Node, store: dict) -> Endpoint:
    server = ClusterServer(METERING, store)
    return node.add_endpoint(Endpoint(1, server_clusters={METERING: lambda i: server.handle(
        i.payload)}))


READ_SUMMATION = bytes([0x00, 0x05, 0x00, 0x00, 0x00])   # Read Attributes 0x0000, tsn 5


def test_two_devices_join_with_install_codes_and_a_stranger_is_refused():
    han = Han()
    han.log.add_install_code(ESME, install_code(1))
    han.log.add_install_code(IHD, install_code(2))
    esme, ihd, stranger = han.device(ESME), han.device(IHD, x=-4.0), han.device(STRANGER)
    assert han.join(esme, install_code(1)) is JoinStatus.SUCCESS
    assert han.join(ihd, install_code(2)) is JoinStatus.SUCCESS
    assert han.join(stranger, install_code(3)) is JoinStatus.REFUSED
    for node in (esme, ihd):
        assert node.joined and node.network_key == NETWORK_KEY
        assert node.trust_centre == CHF and han.chf.eui_of(node.short_address) == node.eui64
    assert esme.short_address != ihd.short_address
    assert not stranger.joined and stranger.network_key is None
    assert han.tc.events["refused"] == 1 and han.tc.events["network_key_sent"] == 2
    # The Transport Key left the CHF secured with the install-code key, not in the clear.
    keyring = Keyring(NETWORK_KEY, [install_code_link_key(install_code(1)),
                                    install_code_link_key(install_code(2))])
    decoded = []
    for frame in han.frames:
        z = decode_zigbee(frame, keyring)
        if z.aps is not None and z.aps.aux is not None:
            decoded.append(z.aps.payload)
    assert any(p[:2] == b"\x05\x01" and NETWORK_KEY in p for p in decoded)
    assert not any(NETWORK_KEY in frame for frame in han.frames)


def test_joined_devices_read_attributes_over_the_secured_network():
    han = Han()
    han.log.add_install_code(ESME, install_code(1))
    esme = han.device(ESME)
    assert han.join(esme, install_code(1)) is JoinStatus.SUCCESS
    metering_endpoint(esme, {0x0000: 123456})
    answers = []
    han.chf.add_endpoint(Endpoint(1, client_clusters={METERING: lambda i: answers.append(
        i.payload)}))
    confirms = []
    han.chf.send_data(esme.short_address, 1, METERING, READ_SUMMATION,
                      on_confirm=confirms.append)
    han.run(1)
    assert confirms == [True]
    assert len(answers) == 1 and answers[0][2] == 0x01     # Read Attributes Response
    assert (123456).to_bytes(6, "little") in answers[0]


def test_a_bad_install_code_is_refused_and_changes_nothing():
    log = DeviceLog()
    code = bytearray(install_code(1))
    code[-1] ^= 0xFF
    with pytest.raises(InstallCodeError):
        log.add_install_code(ESME, bytes(code))
    with pytest.raises(InstallCodeError):
        log.add_install_code(ESME, install_code(1)[:5])
    assert len(log) == 0 and ESME not in log


def test_a_device_with_the_wrong_install_code_never_gets_the_key():
    han = Han()
    han.log.add_install_code(ESME, install_code(1))
    esme = han.device(ESME)
    assert han.join(esme, install_code(9)) is JoinStatus.NO_KEY
    assert esme.stats["aps_security_failure"] >= 1 and not esme.joined


def test_leave_and_remove():
    han = Han()
    han.log.add_install_code(ESME, install_code(1))
    han.log.add_install_code(IHD, install_code(2))
    esme, ihd = han.device(ESME), han.device(IHD)
    assert han.join(esme, install_code(1)) is JoinStatus.SUCCESS
    assert han.join(ihd, install_code(2)) is JoinStatus.SUCCESS
    ihd_short = ihd.short_address
    ihd.leave()
    han.run(1)
    assert not ihd.joined and han.tc.events["left"] == 1
    assert han.chf.eui_of(ihd_short) is None and IHD in han.log   # may join again
    assert han.join(ihd, install_code(2)) is JoinStatus.SUCCESS
    assert han.tc.remove_device(ESME)
    han.run(1)
    assert not esme.joined and esme.stats["left_on_request"] == 1
    assert ESME not in han.log
    assert han.join(esme, install_code(1)) is JoinStatus.REFUSED


def test_rejoin_after_a_power_cut_keeps_frame_counters():
    han = Han()
    han.log.add_install_code(ESME, install_code(1))
    nvm: dict = {}
    esme = han.device(ESME, nvm)
    assert han.join(esme, install_code(1)) is JoinStatus.SUCCESS
    metering_endpoint(esme, {0x0000: 1})
    answers = []
    han.chf.add_endpoint(Endpoint(1, client_clusters={METERING: lambda i: answers.append(
        i.payload)}))
    for _ in range(3):
        han.chf.send_data(esme.short_address, 1, METERING, READ_SUMMATION)
        han.run(1)
    assert len(answers) == 3
    esme.power_off()
    han.run(5)
    rebooted = han.device(ESME, nvm)            # what survived is what was in NVM
    metering_endpoint(rebooted, {0x0000: 2})
    assert rebooted.joined and rebooted.short_address == esme.short_address
    result: list[JoinStatus] = []
    rebooted.rejoin(result.append)
    han.run(1)
    assert result == [JoinStatus.SUCCESS] and han.tc.events["rejoined"] == 1
    han.chf.send_data(rebooted.short_address, 1, METERING, READ_SUMMATION)
    han.run(1)
    assert len(answers) == 4 and (2).to_bytes(6, "little") in answers[-1]
    assert han.chf.stats["nwk_replay"] == 0 and rebooted.stats["nwk_replay"] == 0


def test_a_device_that_lost_its_counters_is_dropped_as_a_replay():
    han = Han()
    han.log.add_install_code(ESME, install_code(1))
    nvm: dict = {}
    esme = han.device(ESME, nvm)
    assert han.join(esme, install_code(1)) is JoinStatus.SUCCESS
    esme.power_off()
    wiped = {k: v for k, v in nvm.items() if not k.startswith("tx_")}
    clone = han.device(ESME, wiped)             # keys kept, outgoing counters lost
    result: list[JoinStatus] = []
    clone.rejoin(result.append)
    han.run(3)
    assert result == [JoinStatus.NO_RESPONSE]
    assert han.chf.stats["nwk_replay"] >= 1


def test_replayed_frames_are_dropped_and_counted():
    han = Han()
    han.log.add_install_code(ESME, install_code(1))
    esme = han.device(ESME)
    assert han.join(esme, install_code(1)) is JoinStatus.SUCCESS
    metering_endpoint(esme, {0x0000: 7})
    han.chf.add_endpoint(Endpoint(1, client_clusters={METERING: lambda i: None}))
    start = len(han.frames)
    han.chf.send_data(esme.short_address, 1, METERING, READ_SUMMATION)
    han.run(1)
    han.chf.send_data(esme.short_address, 1, METERING, READ_SUMMATION)
    han.run(1)
    to_esme = [f for f in han.frames[start:] if len(f) > 30 and f[0] & 0x7 == 1
               and int.from_bytes(f[5:7], "little") == esme.short_address]
    before = esme.stats["nwk_replay"]
    han.medium.inject(to_esme[0], han.chf.channel, han.chf.position)   # an old frame again
    han.run(1)
    assert esme.stats["nwk_replay"] == before + 1


def test_network_key_update_switches_every_device():
    han = Han()
    han.log.add_install_code(ESME, install_code(1))
    han.log.add_install_code(IHD, install_code(2))
    esme, ihd = han.device(ESME), han.device(IHD)
    assert han.join(esme, install_code(1)) is JoinStatus.SUCCESS
    assert han.join(ihd, install_code(2)) is JoinStatus.SUCCESS
    sequence = han.tc.update_network_key(NEW_KEY)
    han.run(3)
    for node in (han.chf, esme, ihd):
        assert node.network_key == NEW_KEY and node.active_key_sequence == sequence
    metering_endpoint(esme, {0x0000: 9})
    answers = []
    han.chf.add_endpoint(Endpoint(1, client_clusters={METERING: lambda i: answers.append(
        i.payload)}))
    start = len(han.frames)
    han.chf.send_data(esme.short_address, 1, METERING, READ_SUMMATION)
    han.run(1)
    assert len(answers) == 1
    keyring = Keyring(NEW_KEY, [install_code_link_key(install_code(1))])
    secured = [decode_zigbee(f, keyring) for f in han.frames[start:] if len(f) > 5]
    assert all(z.nwk.aux.key_sequence_number == sequence for z in secured if z.nwk)
