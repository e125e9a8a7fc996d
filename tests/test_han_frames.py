"""The ZigBee frame stack: round trips per layer, mutation, security, pcap, and tshark."""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gbcs.errors import GbcsDecodeError, GbcsEncodeError
from han.cbke.mmo import mmo_hmac
from han.frames import (
    AddressMode,
    ApsFrameType,
    ApsHeader,
    AuxSecurityHeader,
    Beacon,
    DeliveryMode,
    ExtendedHeader,
    Fragmentation,
    FrameCounters,
    FrameDecodeError,
    FrameSecurityError,
    GtsDescriptor,
    KeyIdentifier,
    Keyring,
    MacCommand,
    MacCommandId,
    MacFrame,
    MacFrameType,
    NwkFrameType,
    NwkHeader,
    PcapWriter,
    RawApsCommand,
    RemoveDevice,
    ReplayError,
    RequestKey,
    RequestKeyType,
    SourceRoute,
    SwitchKey,
    TransportApplicationLinkKey,
    TransportNetworkKey,
    TransportTrustCenterLinkKey,
    UpdateDevice,
    UpdateDeviceStatus,
    crc16_kermit,
    decode_aps,
    decode_aps_command,
    decode_mac,
    decode_nwk,
    decode_zigbee,
    derive_key,
    encode_aps,
    encode_aps_command,
    encode_mac,
    encode_nwk,
    secure_aps,
    secure_nwk,
    unsecure_aps,
    unsecure_nwk,
)
from han.frames.reader import Reader
from han.frames.security import decode_aux, encode_aux

NWK_KEY = bytes.fromhex("01030507090B0D0F00020406080A0C0D")
LINK_KEY = b"ZigBeeAlliance09"
TC_IEEE = 0x0011223344556677
DEVICE_IEEE = 0x8899AABBCCDDEEFF
PAN = 0xABCD
ZCL_READ_SUMMATION = bytes([0x00, 0x01, 0x00, 0x00, 0x00])  # read attribute 0x0000


def u(bits: int) -> st.SearchStrategy[int]:
    return st.integers(0, (1 << bits) - 1)


def opt(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return st.none() | strategy


# -- strategies -----------------------------------------------------------------------------

@st.composite
def mac_frames(draw) -> MacFrame:
    frame_type = draw(st.sampled_from(MacFrameType))
    modes = st.sampled_from(AddressMode)
    dst_mode, src_mode = (AddressMode.NONE, AddressMode.NONE) \
        if frame_type == MacFrameType.ACK else (draw(modes), draw(modes))
    compression = dst_mode != AddressMode.NONE and src_mode != AddressMode.NONE \
        and draw(st.booleans())
    size = {AddressMode.SHORT: 16, AddressMode.EXTENDED: 64}
    dst_pan = dst_address = src_pan = src_address = None
    if dst_mode != AddressMode.NONE:
        dst_pan, dst_address = draw(u(16)), draw(u(size[dst_mode]))
    if src_mode != AddressMode.NONE:
        src_pan = dst_pan if compression else draw(u(16))
        src_address = draw(u(size[src_mode]))
    if frame_type == MacFrameType.BEACON:
        gts = draw(st.lists(st.builds(GtsDescriptor, u(16), u(4), u(4)), max_size=7))
        body = Beacon(draw(u(16)), draw(st.booleans()), draw(u(7)) if gts else 0, tuple(gts),
                      tuple(draw(st.lists(u(16), max_size=7))),
                      tuple(draw(st.lists(u(64), max_size=7))), draw(st.binary(max_size=20)))
    elif frame_type == MacFrameType.COMMAND:
        body = MacCommand(draw(u(8)), draw(st.binary(max_size=20)))
    elif frame_type == MacFrameType.DATA:
        body = draw(st.binary(max_size=40))
    else:
        body = b""
    return MacFrame(frame_type, draw(u(8)), dst_mode, dst_pan, dst_address, src_mode, src_pan,
                    src_address, draw(st.booleans()), draw(st.booleans()), compression,
                    draw(st.sampled_from([0, 1])), body)


nwk_headers = st.builds(
    NwkHeader, st.sampled_from(NwkFrameType), u(16), u(16), u(8), u(8), u(4), u(2),
    st.just(False), st.booleans(), opt(u(64)), opt(u(64)), opt(u(8)),
    opt(st.builds(SourceRoute, u(8), st.lists(u(16), max_size=6).map(tuple))))


@st.composite
def aps_headers(draw) -> ApsHeader:
    frame_type = draw(st.sampled_from([ApsFrameType.DATA, ApsFrameType.COMMAND,
                                       ApsFrameType.ACK]))
    mode = draw(st.sampled_from(DeliveryMode))
    ack_format = draw(st.booleans())
    addressed = frame_type == ApsFrameType.DATA or (frame_type == ApsFrameType.ACK
                                                    and not ack_format)
    group = addressed and frame_type == ApsFrameType.DATA and mode == DeliveryMode.GROUP
    extended = None
    if draw(st.booleans()):
        fragmentation = draw(st.sampled_from(Fragmentation))
        fragmented = fragmentation != Fragmentation.NONE
        extended = ExtendedHeader(
            fragmentation, draw(u(8)) if fragmented else None,
            draw(u(8)) if fragmented and frame_type == ApsFrameType.ACK else None)
    return ApsHeader(
        frame_type, draw(u(8)), mode, ack_format, False, draw(st.booleans()),
        draw(u(8)) if addressed and not group else None, draw(u(16)) if group else None,
        draw(u(16)) if addressed else None, draw(u(16)) if addressed else None,
        draw(u(8)) if addressed else None, extended)


keys = st.binary(min_size=16, max_size=16)
aps_commands = st.one_of(
    st.builds(TransportNetworkKey, keys, u(8), u(64), u(64)),
    st.builds(TransportTrustCenterLinkKey, keys, u(64), u(64)),
    st.builds(TransportApplicationLinkKey, keys, u(64), st.booleans()),
    st.builds(UpdateDevice, u(64), u(16), st.sampled_from(UpdateDeviceStatus)),
    st.builds(RemoveDevice, u(64)),
    st.builds(RequestKey, st.just(RequestKeyType.TRUST_CENTER_LINK_KEY)),
    st.builds(RequestKey, st.just(RequestKeyType.APPLICATION_LINK_KEY), u(64)),
    st.builds(SwitchKey, u(8)),
    st.builds(RawApsCommand, st.integers(0x0A, 0xFF), st.binary(max_size=20)))


# -- known values ---------------------------------------------------------------------------

def test_fcs_is_crc16_kermit():
    assert crc16_kermit(b"123456789") == 0x2189          # the catalogue check value
    # An 802.15.4 acknowledgement for sequence number 2, FCS least significant byte first.
    assert encode_mac(MacFrame(MacFrameType.ACK, 2)) == bytes.fromhex("020002aa96")


def test_key_transport_and_key_load_keys_are_keyed_hashes_of_the_link_key():
    assert derive_key(LINK_KEY, KeyIdentifier.DATA) == LINK_KEY
    assert derive_key(NWK_KEY, KeyIdentifier.NETWORK) == NWK_KEY
    transport = derive_key(LINK_KEY, KeyIdentifier.KEY_TRANSPORT)
    load = derive_key(LINK_KEY, KeyIdentifier.KEY_LOAD)
    assert transport == mmo_hmac(LINK_KEY, b"\x00") and load == mmo_hmac(LINK_KEY, b"\x02")
    assert len({transport, load, LINK_KEY}) == 3


# -- round trips ----------------------------------------------------------------------------

@given(mac_frames(), st.booleans())
def test_mac_round_trip(frame, fcs):
    data = encode_mac(frame, fcs)
    assert decode_mac(data, fcs) == frame
    assert encode_mac(decode_mac(data, fcs), fcs) == data


@given(nwk_headers, st.binary(max_size=30))
def test_nwk_round_trip(header, payload):
    data = encode_nwk(header, payload)
    frame = decode_nwk(data)
    assert (frame.header, frame.payload, frame.aux) == (header, payload, None)


@given(nwk_headers, st.binary(max_size=30), u(31), u(64), u(8), keys)
def test_secured_nwk_round_trip(header, payload, counter, source, sequence, key):
    data = secure_nwk(header, payload, key, counter, source, sequence)
    frame = unsecure_nwk(data, key, FrameCounters())
    assert frame.header == replace(header, security=True) and frame.payload == payload
    assert frame.aux == AuxSecurityHeader(KeyIdentifier.NETWORK, counter, source, sequence)
    # aux header: control, counter, source IEEE, key sequence number; then a 4-byte MIC
    assert len(data) == len(encode_nwk(header, payload)) + 1 + 4 + 8 + 1 + 4


@given(aps_headers(), st.binary(max_size=30))
def test_aps_round_trip(header, payload):
    if header.frame_type == ApsFrameType.ACK:
        payload = b""
    frame = decode_aps(encode_aps(header, payload))
    assert (frame.header, frame.payload) == (header, payload)


@given(aps_headers(), st.binary(max_size=30), st.sampled_from(
    [KeyIdentifier.DATA, KeyIdentifier.KEY_TRANSPORT, KeyIdentifier.KEY_LOAD]),
    u(31), u(64), st.booleans(), keys)
def test_secured_aps_round_trip(header, payload, key_id, counter, source, extended, key):
    data = secure_aps(header, payload, key, key_id, counter, source, extended)
    frame = unsecure_aps(data, key, FrameCounters(), source_ieee=source)
    assert frame.header == replace(header, security=True) and frame.payload == payload
    assert frame.aux.key_identifier == key_id
    assert frame.aux.source_address == (source if extended else None)


@given(aps_commands)
def test_aps_command_round_trip(command):
    assert decode_aps_command(encode_aps_command(command)) == command


@given(st.builds(AuxSecurityHeader, st.sampled_from(KeyIdentifier), u(32), opt(u(64))), u(8))
def test_aux_header_round_trip(aux, sequence):
    if aux.key_identifier == KeyIdentifier.NETWORK:
        aux = replace(aux, key_sequence_number=sequence)
    assert decode_aux(Reader(encode_aux(aux))) == aux


# -- decode -> encode is the identity on whatever decodes --------------------------------------

@settings(max_examples=300)
@given(st.binary(max_size=60))
def test_arbitrary_bytes_decode_to_a_typed_error_or_re_encode_exactly(data):
    for decode, encode in ((lambda b: decode_mac(b, False), lambda f: encode_mac(f, False)),
                           (decode_nwk, lambda f: encode_nwk(f.header, f.payload)),
                           (decode_aps, lambda f: encode_aps(f.header, f.payload)),
                           (decode_aps_command, encode_aps_command)):
        try:
            decoded = decode(data)
        except FrameDecodeError as error:
            assert 0 <= error.offset <= len(data) and error.field
            continue
        assert encode(decoded) == data


# -- the whole stack, mutated -----------------------------------------------------------------

def metering_read() -> bytes:
    """A MAC data frame: secured NWK data carrying an APS data frame with a ZCL Read
    Attributes of CurrentSummationDelivered on the Metering cluster, profile ZSE."""
    aps = encode_aps(ApsHeader(ApsFrameType.DATA, 7, destination_endpoint=1,
                               cluster_id=0x0702, profile_id=0x0109, source_endpoint=1),
                     ZCL_READ_SUMMATION)
    nwk = secure_nwk(NwkHeader(NwkFrameType.DATA, 0x0000, 0x1234, 30, 5,
                               source_ieee=DEVICE_IEEE), aps, NWK_KEY, 100, DEVICE_IEEE, 0)
    return encode_mac(MacFrame(MacFrameType.DATA, 1, AddressMode.SHORT, PAN, 0x0000,
                               AddressMode.SHORT, PAN, 0x1234, ack_request=True,
                               pan_id_compression=True, body=nwk))


def transport_key() -> bytes:
    """The trust centre's Transport Key of the network key, APS-secured with the
    key-transport key of the device's link key, in an unsecured NWK frame (as at join)."""
    command = encode_aps_command(TransportNetworkKey(NWK_KEY, 0, DEVICE_IEEE, TC_IEEE))
    aps = secure_aps(ApsHeader(ApsFrameType.COMMAND, 3), command, LINK_KEY,
                     KeyIdentifier.KEY_TRANSPORT, 1, TC_IEEE)
    nwk = encode_nwk(NwkHeader(NwkFrameType.DATA, 0x1234, 0x0000, 1, 9), aps)
    return encode_mac(MacFrame(MacFrameType.DATA, 2, AddressMode.SHORT, PAN, 0x1234,
                               AddressMode.SHORT, PAN, 0x0000, ack_request=True,
                               pan_id_compression=True, body=nwk))


def keyring() -> Keyring:
    return Keyring(NWK_KEY, [bytes(16), LINK_KEY])


def test_stack_decodes_down_to_zcl_and_the_transport_key():
    ring = keyring()
    read = decode_zigbee(metering_read(), ring)
    assert read.aps.header.cluster_id == 0x0702 and read.aps.header.profile_id == 0x0109
    assert read.aps.payload == ZCL_READ_SUMMATION
    assert ring.nwk_counters.marks == {DEVICE_IEEE: 100}
    key = decode_zigbee(transport_key(), ring)
    assert decode_aps_command(key.aps.payload) == TransportNetworkKey(NWK_KEY, 0, DEVICE_IEEE,
                                                                      TC_IEEE)
    assert key.aps.aux.key_identifier == KeyIdentifier.KEY_TRANSPORT


def test_aps_nonce_without_extended_source_comes_from_the_nwk_originator():
    aps = secure_aps(ApsHeader(ApsFrameType.DATA, 1, destination_endpoint=1, cluster_id=0x0702,
                               profile_id=0x0109, source_endpoint=1), ZCL_READ_SUMMATION,
                     LINK_KEY, KeyIdentifier.DATA, 42, DEVICE_IEEE, extended_nonce=False)
    nwk = secure_nwk(NwkHeader(NwkFrameType.DATA, 0, 0x1234, 5, 1, source_ieee=DEVICE_IEEE),
                     aps, NWK_KEY, 7, DEVICE_IEEE, 0)
    frame = encode_mac(MacFrame(MacFrameType.DATA, 1, AddressMode.SHORT, PAN, 0,
                                AddressMode.SHORT, PAN, 0x1234, pan_id_compression=True,
                                body=nwk))
    ring = keyring()
    decoded = decode_zigbee(frame, ring)
    assert decoded.aps.payload == ZCL_READ_SUMMATION and decoded.aps.aux.source_address is None
    assert ring.aps_counters.marks == {DEVICE_IEEE: 42}
    with pytest.raises(FrameSecurityError, match="nonce"):
        unsecure_aps(aps, LINK_KEY, FrameCounters())


@pytest.mark.parametrize("frame", [metering_read, transport_key], ids=["read", "transport"])
def test_truncation_raises_only_the_typed_error(frame):
    data = frame()
    for length in range(len(data)):
        with pytest.raises(FrameDecodeError):
            decode_zigbee(data[:length], keyring())


@pytest.mark.parametrize("frame", [metering_read, transport_key], ids=["read", "transport"])
def test_every_bit_flip_is_refused_with_the_typed_error(frame):
    data = frame()
    for i in range(len(data)):
        for bit in range(8):
            flipped = bytearray(data)
            flipped[i] ^= 1 << bit
            with pytest.raises(FrameDecodeError):   # the FCS catches every single-bit error
                decode_zigbee(bytes(flipped), keyring())


@settings(max_examples=200)
@given(st.sampled_from([metering_read, transport_key]), st.data())
def test_bit_flips_with_a_good_fcs_never_escape_the_typed_error(frame, data):
    body = bytearray(frame()[:-2])
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(body) - 1))
        body[i] ^= 1 << data.draw(st.integers(0, 7))
    mutated = bytes(body) + crc16_kermit(bytes(body)).to_bytes(2, "little")
    try:
        decode_zigbee(mutated, keyring())
    except FrameDecodeError as error:
        assert isinstance(error, GbcsDecodeError) and 0 <= error.offset <= len(mutated)


def test_tampered_nwk_mic_is_rejected_and_the_counter_does_not_move():
    body = bytearray(metering_read()[:-2])
    body[-1] ^= 0x01
    ring = keyring()
    with pytest.raises(FrameSecurityError) as caught:
        decode_zigbee(bytes(body) + crc16_kermit(bytes(body)).to_bytes(2, "little"), ring)
    assert caught.value.field == "nwk.aux.mic" and caught.value.offset == len(body) - 4
    assert ring.nwk_counters.marks == {}


def test_tampered_aps_mic_is_rejected():
    mac = decode_mac(transport_key())
    nwk = bytearray(mac.body)
    nwk[-2] ^= 0x80
    with pytest.raises(FrameSecurityError, match="MIC") as caught:
        unsecure_aps(decode_nwk(bytes(nwk)).payload, LINK_KEY, FrameCounters())
    assert caught.value.field == "aps.aux.mic"


def test_wrong_network_key_is_rejected():
    with pytest.raises(FrameSecurityError):
        decode_zigbee(metering_read(), Keyring(bytes(16), [LINK_KEY]))


def test_replayed_frame_counters_are_rejected():
    ring = keyring()
    decode_zigbee(metering_read(), ring)
    with pytest.raises(ReplayError) as caught:
        decode_zigbee(metering_read(), ring)                 # same NWK frame counter
    assert caught.value.field == "nwk.aux.frame_counter"
    decode_zigbee(transport_key(), ring)
    with pytest.raises(ReplayError):
        decode_zigbee(transport_key(), ring)                 # same APS frame counter
    ring.nwk_counters.marks[DEVICE_IEEE] = 99                # a lower mark accepts it again
    assert decode_zigbee(metering_read(), ring).aps is not None


def test_exhausted_frame_counter_is_neither_sent_nor_accepted():
    header = NwkHeader(NwkFrameType.DATA, 0, 1, 1, 1)
    with pytest.raises(GbcsEncodeError):
        secure_nwk(header, b"x", NWK_KEY, 0xFFFFFFFF, DEVICE_IEEE, 0)
    data = bytearray(secure_nwk(header, b"x", NWK_KEY, 5, DEVICE_IEEE, 0))
    data[9:13] = b"\xff\xff\xff\xff"
    with pytest.raises(ReplayError):
        unsecure_nwk(bytes(data), NWK_KEY, FrameCounters())


def test_encoder_refuses_models_the_wire_cannot_carry():
    with pytest.raises(GbcsEncodeError, match="destination_endpoint"):
        encode_aps(ApsHeader(ApsFrameType.DATA, 1, cluster_id=6, profile_id=0x104,
                             source_endpoint=1))
    with pytest.raises(GbcsEncodeError, match="mac.dst_pan"):
        encode_mac(MacFrame(MacFrameType.DATA, 1, AddressMode.SHORT, 0x10000, 1))
    with pytest.raises(GbcsEncodeError, match="key"):
        encode_aps_command(TransportNetworkKey(b"short", 0, 1, 2))


# -- pcap and tshark ---------------------------------------------------------------------------

def zigbee_beacon() -> bytes:
    """A coordinator's beacon with the ZigBee PRO beacon payload: protocol id 0, stack
    profile 2 / protocol version 2, router and end-device capacity, extended PAN id,
    tx offset 0xFFFFFF, NWK update id 0."""
    payload = (bytes([0x00, 0x22, 0x84]) + TC_IEEE.to_bytes(8, "little") + b"\xff\xff\xff"
               + b"\x00")
    return encode_mac(MacFrame(MacFrameType.BEACON, 7, src_mode=AddressMode.SHORT, src_pan=PAN,
                               src_address=0x0000, body=Beacon(0xCFFF, payload=payload)))


def write_capture(stream) -> list[bytes]:
    frames = [metering_read(), encode_mac(MacFrame(MacFrameType.ACK, 1)), transport_key(),
              encode_mac(MacFrame(MacFrameType.COMMAND, 3, AddressMode.SHORT, PAN, 0x0000,
                                  AddressMode.EXTENDED, PAN, DEVICE_IEEE,
                                  pan_id_compression=True, ack_request=True,
                                  body=MacCommand(MacCommandId.DATA_REQUEST))),
              zigbee_beacon()]
    writer = PcapWriter(stream)
    for i, frame in enumerate(frames):
        writer.write(1_700_000_000_000_000 + 12_345 * i, frame)
    return frames


def test_pcap_layout():
    stream = io.BytesIO()
    frames = write_capture(stream)
    data = stream.getvalue()
    assert struct.unpack_from("<IHHiIII", data) == (0xA1B2C3D4, 2, 4, 0, 0, 65535, 195)
    pos = 24
    for i, frame in enumerate(frames):
        seconds, micros, included, original = struct.unpack_from("<IIII", data, pos)
        assert (seconds, micros) == divmod(1_700_000_000_000_000 + 12_345 * i, 1_000_000)
        assert included == original == len(frame)
        assert data[pos + 16:pos + 16 + included] == frame
        pos += 16 + included
    assert pos == len(data)


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not on PATH")
def test_tshark_decodes_the_capture_down_to_zcl(tmp_path):
    path = tmp_path / "han.pcap"
    with path.open("wb") as stream:
        write_capture(stream)
    result = subprocess.run(
        ["tshark", "-n", "-r", str(path),
         "-o", f'uat:zigbee_pc_keys:"{NWK_KEY.hex().upper()}","Normal","nwk"',
         "-o", f'uat:zigbee_pc_keys:"{LINK_KEY.hex().upper()}","Normal","link"', "-V"],
        capture_output=True, text=True, timeout=60, check=True)
    out = result.stdout
    assert "Malformed" not in out and "Incorrect" not in out
    assert out.count("FCS: ") == out.count("(Correct)") == 5
    assert "Cluster: Simple Metering (0x0702)" in out
    assert "Profile: Smart Energy (0x0109)" in out
    assert "ZigBee Cluster Library Frame, Command: Read Attributes" in out
    assert "Attribute: Current Summation Delivered (0x0000)" in out
    assert "Key Id: Key-Transport Key" in out
    assert "Command Identifier: Transport Key (0x05)" in out
    assert f"Key: {NWK_KEY.hex()}" in out and "Key Type: Standard Network Key" in out
    assert "Command Identifier: Data Request (0x04)" in out
    assert "ZigBee Beacon" in out and "Extended PAN ID: 00:11:22:33:44:55:66:77" in out
