"""The emulated EZSP NCP below the host: ASH framing and link, EZSP frames, the stack's
answers. (bellows over the NCP: tests/test_ncp_bellows.py.)"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import bellows.types as t
import pytest

from boards.simulator import Simulator
from han.ncp import ash
from han.ncp.ash import Ack, AshError, AshLink, Data, Error, Nak, Rst, RstAck, decode, encode
from han.ncp.ezsp import EzspEndpoint, EzspFrameError, decode_command, encode_frame
from han.ncp.stack import EmulatedNcp
from han.radio import Medium
from tests.conftest import ROOT

# -- ASH frames: the examples of UG101 ---------------------------------------------------------


@pytest.mark.parametrize("frame, wire", [
    (Rst(), "c038bc7e"),
    (RstAck(ash.ResetCode.POWER_ON), "c102029b7b7e"),
    (Ack(1), "8160597e"),
    (Nak(6), "a634dc7e"),
    (Data(2, 5, bytes([0x00, 0x00, 0x00, 0x02])), "254221a856a6097e"),   # EZSP version
])
def test_frames_encode_as_ug101_and_decode_back(frame, wire):
    assert encode(frame).hex() == wire
    assert decode(ash.unstuff(bytes.fromhex(wire)[:-1])) == frame


def test_data_field_randomisation_is_the_lfsr_sequence():
    assert ash.randomise(bytes(8)).hex() == "4221a8542a15b259"
    data = bytes(range(100))
    assert ash.randomise(ash.randomise(data)) == data


def test_reserved_bytes_are_stuffed():
    body = bytes([0x7E, 0x7D, 0x11, 0x13, 0x18, 0x1A, 0x42])
    stuffed = ash.stuff(body)
    assert stuffed == bytes([0x7D, 0x5E, 0x7D, 0x5D, 0x7D, 0x31, 0x7D, 0x33, 0x7D, 0x38,
                             0x7D, 0x3A, 0x42])
    assert ash.unstuff(stuffed) == body
    frame = Data(0, 0, bytes(b ^ r for b, r in zip(body, ash.randomise(bytes(7)))))
    wire = encode(frame)
    assert not set(wire[:-1]) & ash.RESERVED - {0x7D}
    assert decode(ash.unstuff(wire[:-1])) == frame


@pytest.mark.parametrize("raw, field, offset", [
    (bytes.fromhex("c038bd"), "crc", 1),
    (bytes.fromhex("c0"), "frame", 1),
    (bytes([0xE0]) + (ash.crc_ccitt(b"\xE0")).to_bytes(2, "big"), "control", 0),
    (b"\xC1\x02" + ash.crc_ccitt(b"\xC1\x02").to_bytes(2, "big"), "data", 1),
])
def test_bad_frames_raise_typed_errors_with_offsets(raw, field, offset):
    with pytest.raises(AshError) as error:
        decode(raw)
    assert error.value.field == field and error.value.offset == offset


def test_bad_escape_is_a_typed_error():
    with pytest.raises(AshError) as error:
        ash.unstuff(bytes([0x41, 0x7D, 0x41]))
    assert error.value.field == "escape" and error.value.offset == 2


# -- the ASH link, with a hand-cranked clock ------------------------------------------------------


class FakeTimers:
    def __init__(self) -> None:
        self.now = 0.0
        self.pending: list[list] = []

    def time(self) -> float:
        return self.now

    def call_later(self, delay, callback):
        entry = [self.now + delay, callback, False]
        self.pending.append(entry)

        class Handle:
            def cancel(self_inner) -> None:
                entry[2] = True
        return Handle()

    def advance(self, seconds: float) -> None:
        self.now += seconds
        for entry in sorted(self.pending, key=lambda e: e[0]):
            if entry[0] <= self.now and not entry[2]:
                entry[2] = True
                entry[1]()


class Link:
    """An AshLink with what it wrote decoded, and what it delivered."""

    def __init__(self, window: int = 3) -> None:
        self.timers = FakeTimers()
        self.wire = bytearray()
        self.delivered: list[bytes] = []
        self.resets = 0
        self.link = AshLink(self.wire.extend, self.delivered.append, self.timers,
                            on_reset=self._reset, window=window)

    def _reset(self) -> None:
        self.resets += 1

    def sent(self) -> list:
        frames = [decode(ash.unstuff(f)) for f in bytes(self.wire).split(b"\x7e") if f]
        self.wire.clear()
        return frames


def test_rst_answers_rstack_and_resets():
    link = Link()
    link.link.receive(bytes([ash.CANCEL] * 32) + encode(Rst()))
    assert link.sent() == [RstAck(ash.ResetCode.SOFTWARE)]
    assert link.resets == 1


def test_data_is_delivered_in_order_and_acked():
    link = Link()
    link.link.receive(encode(Data(0, 0, b"\x01\x00\x00\x04")))
    link.link.receive(encode(Data(1, 0, b"\x02\x00\x00\x04")))
    assert link.delivered == [b"\x01\x00\x00\x04", b"\x02\x00\x00\x04"]
    assert link.sent() == [Ack(1), Ack(2)]


def test_garbage_before_a_flag_is_discarded_and_a_bad_data_frame_nakked_once():
    link = Link()
    good = encode(Data(0, 0, b"\x05\x00\x01\x00\x00"))
    corrupt = bytearray(good)
    corrupt[2] ^= 0x01
    link.link.receive(b"\x55\xAA\x7E" + bytes(corrupt) + bytes(corrupt))
    assert link.sent() == [Nak(0)]                  # one NAK: the reject condition holds
    assert link.link.last_error is not None and link.link.last_error.field == "crc"
    link.link.receive(good)
    assert link.delivered == [b"\x05\x00\x01\x00\x00"] and link.sent() == [Ack(1)]


def test_out_of_sequence_is_nakked_and_retransmission_acked():
    link = Link()
    link.link.receive(encode(Data(1, 0, b"\x01")))
    assert link.sent() == [Nak(0)] and not link.delivered
    link.link.receive(encode(Data(0, 0, b"\x00")))
    link.link.receive(encode(Data(0, 0, b"\x00", re_tx=True)))   # our ACK was lost
    assert link.delivered == [b"\x00"]
    assert link.sent() == [Ack(1), Ack(1)]


def test_window_then_acknowledgements_release_the_queue():
    link = Link(window=2)
    for n in range(4):
        link.link.send(bytes([n]))
    assert [f.frm_num for f in link.sent()] == [0, 1]
    link.link.receive(encode(Ack(2)))
    assert [(f.frm_num, f.ezsp) for f in link.sent()] == [(2, b"\x02"), (3, b"\x03")]


def test_nak_and_timeout_resend_with_retransmit_flag():
    link = Link()
    link.link.send(b"\x10")
    link.link.send(b"\x11")
    assert [f.re_tx for f in link.sent()] == [False, False]
    link.link.receive(encode(Nak(1)))               # frame 0 arrived, frame 1 did not
    assert [(f.frm_num, f.re_tx) for f in link.sent()] == [(1, True)]
    link.timers.advance(ash.T_RX_ACK_MAX)
    assert [(f.frm_num, f.re_tx) for f in link.sent()] == [(1, True)]
    link.link.receive(encode(Ack(2)))
    link.timers.advance(ash.T_RX_ACK_MAX)
    assert link.sent() == []


def test_too_many_timeouts_fail_the_link_until_rst():
    link = Link()
    link.link.send(b"\x10")
    for _ in range(ash.ACK_TIMEOUTS):
        link.timers.advance(ash.T_RX_ACK_MAX)
    frames = link.sent()
    assert frames[-1] == Error(ash.ResetCode.ACK_TIMEOUTS)
    link.link.receive(encode(Data(0, 0, b"\x00")))
    assert link.sent() == [] and not link.delivered      # failed: only RST is heard
    link.link.receive(encode(Rst()))
    assert link.sent() == [RstAck(ash.ResetCode.SOFTWARE)]


# -- EZSP frames and the stack --------------------------------------------------------------


@pytest.fixture
def ncp():
    sim = Simulator(datetime(2026, 3, 1, tzinfo=UTC), keep_trace=False)
    stick = EmulatedNcp(0x000D6F000A5C0001, Medium(sim), sim)
    out: list[bytes] = []
    endpoint = EzspEndpoint(stick.handle, out.append)
    stick.emit = endpoint.callback
    return sim, stick, endpoint, out


def _extended(seq: int, frame_id: int, params: bytes = b"") -> bytes:
    return bytes([seq, 0x00, 0x01]) + frame_id.to_bytes(2, "little") + params


def test_version_is_legacy_then_extended(ncp):
    _, _, endpoint, out = ncp
    endpoint.receive(bytes([0, 0x00, 0x00, 4]))
    assert out.pop() == bytes([0, 0x80, 0x00, 13, 2]) + (0x7450).to_bytes(2, "little")
    endpoint.receive(_extended(1, 0x0000, b"\x0d"))
    assert out.pop()[:5] == bytes([1, 0x80, 0x01, 0x00, 0x00])
    endpoint.receive(_extended(2, 0x0026))                  # getEui64
    assert out.pop() == bytes([2, 0x80, 0x01, 0x26, 0x00]) + \
        (0x000D6F000A5C0001).to_bytes(8, "little")


def test_commands_before_version_and_unknown_ids_get_invalid_command(ncp):
    _, stick, endpoint, out = ncp
    endpoint.receive(_extended(7, 0x0026))
    assert out.pop() == bytes([7, 0x80, 0x58, t.EzspStatus.ERROR_VERSION_NOT_SET])
    endpoint.receive(bytes([0, 0x00, 0x00, 13]))
    out.clear()
    endpoint.receive(_extended(8, 0x7777))
    assert out.pop() == bytes([8, 0x80, 0x01, 0x58, 0x00, t.EzspStatus.ERROR_INVALID_FRAME_ID])
    endpoint.receive(_extended(9, 0x0052, b""))              # getConfigurationValue, no id
    assert out.pop()[-1] == t.EzspStatus.ERROR_INVALID_VALUE
    endpoint.receive(_extended(10, 0x00E2))                 # gpSinkTableClearAll: not here
    assert out.pop()[-1] == t.EzspStatus.ERROR_INVALID_FRAME_ID
    assert stick.stats["cmd_gpSinkTableClearAll"] == 1


def test_decode_command_names_the_offset():
    with pytest.raises(EzspFrameError) as error:
        decode_command(b"\x01\x80", extended=True)
    assert error.value.offset == 2 and error.value.status == t.EzspStatus.ERROR_TRUNCATED
    with pytest.raises(EzspFrameError) as error:
        decode_command(b"\x01\x80\x01\x26\x00", extended=True)
    assert error.value.offset == 1 and error.value.status == t.EzspStatus.ERROR_WRONG_DIRECTION


def test_form_network_reports_up_after_the_response_and_survives_reset(ncp):
    sim, stick, endpoint, out = ncp
    endpoint.receive(bytes([0, 0x00, 0x00, 13]))
    state = t.EmberInitialSecurityState(
        bitmask=t.EmberInitialSecurityBitmask.HAVE_NETWORK_KEY
        | t.EmberInitialSecurityBitmask.HAVE_PRECONFIGURED_KEY,
        preconfiguredKey=t.KeyData(b"ZigBeeAlliance09"), networkKey=t.KeyData(bytes(range(16))),
        networkKeySequenceNumber=0, preconfiguredTrustCenterEui64=t.EUI64(bytes(8)))
    assert stick.handle("setInitialSecurityState", {"state": state})["status"] == 0
    params = t.EmberNetworkParameters(
        extendedPanId=t.ExtendedPanId(bytes(range(8))), panId=0x1A2B, radioTxPower=8,
        radioChannel=15, joinMethod=0, nwkManagerId=0, nwkUpdateId=0, channels=1 << 15)
    endpoint.receive(_extended(3, 0x001E, params.serialize()))
    assert out.pop() == bytes([3, 0x80, 0x01, 0x1E, 0x00, t.EmberStatus.SUCCESS])
    sim.run_for(timedelta(milliseconds=1))
    assert out.pop() == bytes([3, 0x90, 0x01, 0x19, 0x00, t.EmberStatus.NETWORK_UP])
    assert stick.handle("formNetwork", {"parameters": params}) == {
        "status": t.EmberStatus.INVALID_CALL}
    stick.reset()                                   # a host reset: RAM gone, NVM kept
    assert stick.handle("networkState", {})["status"] == t.EmberNetworkStatus.NO_NETWORK
    assert stick.handle("networkInit", {"networkInitBitmask": 0})["status"] == 0
    status, node_type, found = stick.handle("getNetworkParameters", {}).values()
    assert (found.panId, found.radioChannel, node_type) == (0x1A2B, 15,
                                                           t.EmberNodeType.COORDINATOR)
    key = stick.handle("exportKey", {"context": t.SecurityManagerContextV13(
        core_key_type=t.SecurityManagerKeyType.NETWORK, key_index=0, derived_type=0,
        eui64=t.EUI64(bytes(8)), multi_network_index=0, flags=0, psa_key_alg_permission=0)})
    assert bytes(key["key"]) == bytes(range(16))


def test_rejected_commands_change_nothing(ncp):
    _, stick, _, _ = ncp
    before = dict(stick.config)
    assert stick.handle("setConfigurationValue", {
        "configId": t.EzspConfigId.CONFIG_STACK_PROFILE, "value": 2})["status"] == 0
    assert stick.handle("sendUnicast", {
        "type": 0, "indexOrDestination": 0x1234, "apsFrame": t.EmberApsFrame(
            profileId=0x0104, clusterId=6, sourceEndpoint=1, destinationEndpoint=1,
            options=0, groupId=0, sequence=0), "messageTag": 1,
        "messageContents": b"\x00"})["status"] == t.EmberStatus.NETWORK_DOWN
    assert stick.handle("setRadioPower", {"power": 99})["status"] == \
        t.EmberStatus.PHY_INVALID_POWER
    assert stick.radio_power == 8 and stick.config == before
    assert stick.handle("getValue", {"valueId": t.EzspValueId.VALUE_VERSION_INFO}) == {
        "status": 0, "value": (409).to_bytes(2, "little") + bytes([7, 4, 5, 0])}


def test_callbacks_carry_the_last_sequence_and_come_after_the_response(ncp):
    _, _, endpoint, out = ncp
    endpoint.receive(bytes([0, 0x00, 0x00, 13]))
    endpoint.receive(_extended(5, 0x001A, bytes([0x00]) + (1 << 11 | 1 << 12).to_bytes(4,
                                                                                   "little")
                              + b"\x01"))           # startScan, energy, channels 11-12
    assert out == [bytes([0, 0x80, 0x00, 13, 2, 0x50, 0x74]),
                   bytes([5, 0x80, 0x01, 0x1A, 0x00, 0x00])]
    assert encode_frame(5, 0x48, b"", legacy=False, callback=True)[:3] == b"\x05\x90\x01"


# -- the command line -------------------------------------------------------------------------


def test_cli_serves_rstack_on_connect_and_stops_on_ctrl_c(tmp_path):
    state = tmp_path / "stick.json"
    state.write_text('{"device_log": {"00124B0000000111": "00"}}')
    process = subprocess.Popen(
        [sys.executable, "-m", "tools.cli", "ncp", "serve", "--protocol", "ezsp",
         "--listen", "127.0.0.1:0", "--medium", "udp", "--state", str(state)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert "listening on socket://127.0.0.1:" in line, line + process.stderr.read()
        port = int(line.rsplit(":", 1)[1])
        assert "UDP medium, port" in process.stdout.readline()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as host:
            assert host.recv(16) == encode(RstAck(ash.ResetCode.POWER_ON))
            host.sendall(bytes([ash.CANCEL]) + encode(Rst()))
            assert host.recv(16) == encode(RstAck(ash.ResetCode.SOFTWARE))
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=20)
        assert process.returncode == 0 and "ncp: stopped" in out
        assert json.loads(state.read_text())["device_log"] == {"00124B0000000111": "00"}
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _formed(ncp) -> None:
    sim, stick, endpoint, out = ncp
    endpoint.receive(bytes([0, 0x00, 0x00, 13]))
    stick.handle("setInitialSecurityState", {"state": t.EmberInitialSecurityState(
        bitmask=t.EmberInitialSecurityBitmask.HAVE_NETWORK_KEY, preconfiguredKey=t.KeyData(
            b"ZigBeeAlliance09"), networkKey=t.KeyData(bytes(16)), networkKeySequenceNumber=0,
        preconfiguredTrustCenterEui64=t.EUI64(bytes(8)))})
    stick.handle("formNetwork", {"parameters": t.EmberNetworkParameters(
        extendedPanId=t.ExtendedPanId(bytes(8)), panId=0x1234, radioTxPower=8, radioChannel=11,
        joinMethod=0, nwkManagerId=0, nwkUpdateId=0, channels=1 << 11)})
    sim.run_for(timedelta(milliseconds=5))
    out.clear()


def test_multicast_goes_out_as_a_group_frame_and_is_confirmed(ncp):
    sim, stick, endpoint, out = ncp
    _formed(ncp)
    heard: list[bytes] = []
    stick.medium.add_tap(lambda stamp, channel, frame: heard.append(frame))
    frame = t.EmberApsFrame(profileId=0x0104, clusterId=0x0006, sourceEndpoint=1,
                            destinationEndpoint=0xFF, options=0, groupId=0x1234, sequence=0)
    answer = stick.handle("sendMulticast", {"apsFrame": frame, "hops": 0, "nonmemberRadius": 3,
                                            "messageTag": 9, "messageContents": b"\x01\x02\x01"})
    assert answer["status"] == t.EmberStatus.SUCCESS
    sim.run_for(timedelta(milliseconds=10))
    assert len(heard) == 1
    sent = [f for f in out if f[3:5] == (0x3F).to_bytes(2, "little")]    # messageSentHandler
    assert len(sent) == 1 and sent[0][1] == 0x90


def test_permit_joining_opens_and_closes_the_network(ncp):
    sim, stick, endpoint, out = ncp
    _formed(ncp)
    assert stick.handle("permitJoining", {"duration": 2})["status"] == 0
    assert stick.node.permit_joining
    sim.run_for(timedelta(seconds=3))
    assert not stick.node.permit_joining
    statuses = [f[-1] for f in out if f[3:5] == (0x19).to_bytes(2, "little")]
    assert statuses == [t.EmberStatus.NETWORK_OPENED, t.EmberStatus.NETWORK_CLOSED]


def test_an_oversized_response_is_truncated_and_flagged(ncp):
    _, _, endpoint, out = ncp
    endpoint.receive(bytes([0, 0x00, 0x00, 13]))
    endpoint.receive(_extended(4, 0x0081, bytes([200]) + bytes(200)))      # echo 200 bytes
    frame = out.pop()
    assert len(frame) == 128 and frame[1] == 0x80 | 0x02


def test_the_nvm_survives_a_json_round_trip_and_a_new_stick_resumes(ncp):
    sim, stick, _, _ = ncp
    _formed(ncp)
    stick.handle("importLinkKey", {"index": 0, "address": t.EUI64(bytes(range(8))),
                                   "key": t.KeyData(bytes(16))})
    saved = json.loads(json.dumps(stick.nvm))          # what --state writes and reads
    again = EmulatedNcp(stick.eui64, Medium(sim), sim, nvm=saved)
    assert again.handle("networkInit", {"networkInitBitmask": 0})["status"] == 0
    assert (again.node.pan_id, again.node.network_key) == (0x1234, bytes(16))
    assert again.node.nwk_frame_counter >= stick.node.nwk_frame_counter   # never reused
    assert again.handle("findKeyTableEntry", {"address": t.EUI64(bytes(range(8))),
                                              "linkKey": True}) == {"index": 0}
