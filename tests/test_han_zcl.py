"""han.zcl: SE clusters compiled from the GBCS tables onto zigpy, the frame codec checked
against the GBCS codec's own ZCL view, and the foundation-command server."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from zigpy.zcl import foundation
from zigpy.zcl.foundation import Direction, GeneralCommand, Status

from gbcs import zcl as gbcs_zcl
from gbcs.node import Node, encode
from gbcs.reader import Reader
from gbcs.zcl_tables import ATTRIBUTES, COMMANDS
from han.zcl import (
    CLUSTERS,
    ClusterServer,
    ZclDecodeError,
    attribute,
    cluster_command,
    decode_frame,
    general_command,
)
from tests.conftest import REFERENCE, need

C2S, S2C = Direction.Client_to_Server, Direction.Server_to_Client
METERING, PRICE, TUNNELING, PREPAYMENT, BASIC = 0x0702, 0x0700, 0x0704, 0x0705, 0x0000

# (cluster, gbcs direction, command id, zigpy name, fields) for the SE commands GB HAN
# devices exchange most.
SE_COMMANDS = [
    (METERING, 0, 0x00, "get_profile",
     {"interval_channel": 0, "end_time": 0x29B92700, "number_of_periods": 48}),
    (METERING, 1, 0x00, "get_profile_response",
     {"end_time": 0x29B92700, "status": 0, "profile_interval_period": 1,
      "intervals": [0x000102, 0xFFFFFF, 7]}),
    (PRICE, 1, 0x00, "publish_price",
     {"provider_id": 0x01020304, "rate_label": b"Standard", "issuer_event_id": 77,
      "current_time": 0x29B92700, "unit_of_measure": 0x00, "currency": 826,
      "price_trailing_digit_and_price_tier": 0x51, "number_of_price_tiers_and_register_tier":
      0x11, "start_time": 0, "duration_in_minutes": 0xFFFF, "price": 2845,
      "price_ratio": 0xFF, "generation_price": 0xFFFFFFFF}),
    (PREPAYMENT, 0, 0x04, "consumer_top_up",
     {"originating_device": 2, "top_up_code": b"73180148290375561234"}),
    (TUNNELING, 0, 0x02, "transfer_data_client_to_server",
     {"tunnel_id": 0x0007, "data": bytes.fromhex("03dd000000000000")}),
    (TUNNELING, 1, 0x01, "transfer_data_server_to_client",
     {"tunnel_id": 0x0007, "data": bytes.fromhex("0200")}),
]
IDS = [c[3] for c in SE_COMMANDS]


def _plain(value: Any) -> Any:
    """A zigpy or gbcs value as plain python, for comparing the two codecs."""
    if isinstance(value, Node):
        if value.children is None:
            return _plain(value.value)
        if value.kind == "lv":  # length octet, then the octets
            return _plain(value.children[1])
        items = value.children[1:] if value.kind == "count" else value.children
        return [_plain(child) for child in items]
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, int):
        return int(value)
    return value


def _gbcs_fields(data: bytes, cluster_id: int) -> dict[str, Any]:
    payload = gbcs_zcl.decode_frame(Reader(data), cluster_id).children[-1]
    return {child.name: _plain(child) for child in payload.children}


def _zigpy_fields(args: foundation.CommandSchema) -> dict[str, Any]:
    return {k: _plain(v) for k, v in args.as_dict().items() if v is not None}


@pytest.mark.parametrize(("cluster_id", "direction", "command_id", "name", "fields"),
                         SE_COMMANDS, ids=IDS)
def test_han_frame_decodes_identically_in_gbcs(cluster_id, direction, command_id, name,
                                               fields):
    frame = cluster_command(cluster_id, name, Direction(direction), tsn=9, **fields)
    data = frame.encode()
    assert data[2] == command_id
    gbcs_view = _gbcs_fields(data, cluster_id)
    zigpy_view = _zigpy_fields(frame.args)
    assert zigpy_view == {k: _plain(v) for k, v in fields.items()}
    assert {k: gbcs_view[k] for k in zigpy_view} == zigpy_view


@pytest.mark.parametrize(("cluster_id", "direction", "command_id", "name", "fields"),
                         SE_COMMANDS, ids=IDS)
def test_gbcs_frame_decodes_identically_in_han(cluster_id, direction, command_id, name,
                                               fields):
    data = encode(gbcs_zcl.zcl_command(cluster_id, command_id, direction,
                                       transaction_sequence=3, **fields))
    frame = decode_frame(cluster_id, data)
    assert frame.command.name == name
    assert frame.header.tsn == 3 and frame.header.direction == direction
    assert _zigpy_fields(frame.args) == {k: _plain(v) for k, v in fields.items()}
    assert frame.encode() == data


def test_tables_are_the_source_of_every_se_definition():
    for cluster_id, cls in CLUSTERS.items():
        for attr_id, (_, type_id) in ATTRIBUTES.get(cluster_id, {}).items():
            assert cls.attributes[attr_id].zcl_type == type_id
    for (cluster_id, direction, command_id) in COMMANDS:
        if cluster_id in CLUSTERS:
            defs = (CLUSTERS[cluster_id].server_commands if direction == 0
                    else CLUSTERS[cluster_id].client_commands)
            assert command_id in defs, (hex(cluster_id), direction, command_id)
    # zigpy still supplies what the tables do not carry
    assert CLUSTERS[0x0003].server_commands[0x00].name == "identify"


def test_clusters_match_the_zse_xml_sample():
    root = ET.parse(need(REFERENCE / "zcl-se-ami.xml")).getroot()

    def norm(text: str) -> str:
        return re.sub(r"[^a-z0-9]", "", text.lower())

    checked = 0
    for element in root.iter("cluster"):
        cls = CLUSTERS.get(int(element.findtext("code"), 16))
        if cls is None:
            continue
        for attr in element.findall("attribute"):
            if attr.get("side") == "server":
                definition = cls.attributes[int(attr.get("code"), 16)]
                assert norm(definition.name) == norm(attr.text), attr.text
                checked += 1
        for command in element.findall("command"):
            defs = cls.server_commands if command.get("source") == "client" else \
                cls.client_commands
            assert norm(defs[int(command.get("code"), 16)].name) == norm(command.get("name"))
            checked += 1
    assert checked > 1000


def test_attribute_lookup_by_zse_name():
    definition = attribute(METERING, "current_summation_delivered")
    assert definition is not None and definition.id == 0x0000 and definition.zcl_type == 0x25
    assert attribute(METERING, 0x0000) == definition
    assert attribute(0x1234, 0) is None


def test_malformed_frames_raise_one_typed_error():
    good = cluster_command(METERING, "get_profile", C2S, interval_channel=0, end_time=1,
                           number_of_periods=1).encode()
    with pytest.raises(ZclDecodeError) as err:
        decode_frame(METERING, good[:-1])
    assert err.value.offset == 3 and err.value.field == "zcl.get_profile"
    with pytest.raises(ZclDecodeError) as err:
        decode_frame(METERING, good + b"\x00")
    assert err.value.offset == len(good)
    with pytest.raises(ZclDecodeError) as err:
        decode_frame(METERING, bytes([0x01, 0x00, 0xEE]))
    assert err.value.field == "zcl.header.command_id"
    with pytest.raises(ZclDecodeError):
        decode_frame(METERING, b"\x01")
    with pytest.raises(ZclDecodeError):
        decode_frame(METERING, bytes([0x05, 0x34, 0x12, 0x00, 0x00]))  # manufacturer-specific


def _frames() -> st.SearchStrategy[tuple[int, bytes]]:
    """A cluster and a frame whose header names one of its commands, payload random."""
    def frame(cluster_id: int) -> st.SearchStrategy[tuple[int, bytes]]:
        cls = CLUSTERS[cluster_id]
        heads = ([bytes([0x01, 0, c]) for c in cls.server_commands]
                 + [bytes([0x19, 0, c]) for c in cls.client_commands]
                 + [bytes([fc, 0, c]) for fc in (0x00, 0x18, 0x04) for c in range(0x17)])
        return st.tuples(st.just(cluster_id), st.sampled_from(heads).flatmap(
            lambda head: st.binary(max_size=40).map(lambda tail: head + tail)))
    return st.sampled_from(sorted(CLUSTERS)).flatmap(frame)


@settings(max_examples=300, deadline=None)
@given(_frames())
def test_decode_is_total_and_encode_its_exact_inverse(case):
    cluster_id, data = case
    try:
        frame = decode_frame(cluster_id, data)
    except ZclDecodeError as err:
        assert 0 <= err.offset <= len(data) and err.field.startswith("zcl")
    else:
        assert frame.encode() == data
    answer = ClusterServer(cluster_id, {}).handle(data)
    assert answer is None or decode_frame(cluster_id, answer).header.direction == S2C


def _meter() -> ClusterServer:
    return ClusterServer(METERING, {0x0000: 123456789, 0x0300: 0x00, 0x0306: 0x00})


def _read(server: ClusterServer, cluster_id: int, ids: list[int]) -> bytes:
    request = general_command(GeneralCommand.Read_Attributes, C2S, tsn=0x42,
                              attribute_ids=ids).encode()
    return server.handle(request)


def test_read_current_summation_delivered_and_unknown_attribute():
    answer = _read(_meter(), METERING, [0x0000, 0x7777])
    frame = decode_frame(METERING, answer)
    assert frame.header.command_id == GeneralCommand.Read_Attributes_rsp
    assert frame.header.tsn == 0x42 and frame.header.direction == S2C
    found, missing = frame.args.status_records
    assert (found.attrid, found.status) == (0x0000, Status.SUCCESS)
    assert found.value.type == 0x25 and found.value.value == 123456789
    assert (missing.attrid, missing.status) == (0x7777, Status.UNSUPPORTED_ATTRIBUTE)
    # the GBCS codec reads the same answer
    records = gbcs_zcl.decode_frame(Reader(answer), METERING).children[-1].children
    assert records[0]["status"].value == 0 and records[1]["status"].value == 0x86


def _write(server: ClusterServer, cluster_id: int, records: list[tuple[int, int, Any]],
           command: GeneralCommand = GeneralCommand.Write_Attributes) -> bytes | None:
    attrs = [foundation.Attribute(attrid=a, value=foundation.TypeValue(
        type=ty, value=foundation.DataType.from_type_id(ty).python_type(v)))
        for a, ty, v in records]
    data = encode(gbcs_zcl.zcl_write_attributes(cluster_id, records, transaction_sequence=1))
    if command != GeneralCommand.Write_Attributes:
        data = general_command(command, C2S, tsn=1, attributes=attrs).encode()
    return server.handle(data)


def test_write_to_read_only_attribute_is_refused():
    server = _meter()
    answer = decode_frame(METERING, _write(server, METERING, [(0x0000, 0x25, 1), (0x7777,
                                                                                  0x20, 1)]))
    assert answer.header.command_id == GeneralCommand.Write_Attributes_rsp
    assert [(r.status, r.attrid) for r in answer.args.status_records] == [
        (Status.READ_ONLY, 0x0000), (Status.UNSUPPORTED_ATTRIBUTE, 0x7777)]
    assert server.store[0x0000] == 123456789


def test_write_to_writable_attribute():
    server = ClusterServer(BASIC, {0x0010: "hall"})
    answer = decode_frame(BASIC, _write(server, BASIC, [(0x0010, 0x42, "meter cupboard")]))
    assert [r.status for r in answer.args.status_records] == [Status.SUCCESS]
    assert server.store[0x0010] == "meter cupboard"
    answer = decode_frame(BASIC, _write(server, BASIC, [(0x0010, 0x20, 5)]))
    assert [(r.status, r.attrid) for r in answer.args.status_records] == [
        (Status.INVALID_DATA_TYPE, 0x0010)]
    assert _write(server, BASIC, [(0x0010, 0x42, "loft")],
                  GeneralCommand.Write_Attributes_No_Response) is None
    assert server.store[0x0010] == "loft"


def test_undivided_write_changes_nothing_when_one_record_fails():
    server = ClusterServer(BASIC, {0x0010: "hall"}, writable=frozenset({0x0010}))
    answer = decode_frame(BASIC, _write(server, BASIC, [(0x0010, 0x42, "x"), (0x0000, 0x20, 3)],
                                        GeneralCommand.Write_Attributes_Undivided))
    assert [r.status for r in answer.args.status_records] == [Status.UNSUPPORTED_ATTRIBUTE]
    assert server.store[0x0010] == "hall"


def _default_status(answer: bytes) -> Status:
    frame = decode_frame(METERING, answer)
    assert frame.header.command_id == GeneralCommand.Default_Response
    return frame.args.status


def test_default_responses_carry_the_zcl_status():
    server = _meter()
    get_profile = cluster_command(METERING, "get_profile", C2S, interval_channel=0,
                                  end_time=1, number_of_periods=1).encode()
    assert _default_status(server.handle(get_profile)) == Status.UNSUP_CLUSTER_COMMAND
    assert _default_status(server.handle(get_profile[:-1])) == Status.MALFORMED_COMMAND
    assert _default_status(server.handle(bytes([0x01, 0x00, 0xEE]))) == \
        Status.UNSUP_CLUSTER_COMMAND
    assert _default_status(server.handle(bytes([0x00, 0x01, 0xEE]))) == \
        Status.UNSUP_GENERAL_COMMAND
    discover = general_command(GeneralCommand.Discover_Commands_Received, C2S,
                               start_command_id=0, max_command_ids=4).encode()
    assert _default_status(server.handle(discover)) == Status.UNSUP_GENERAL_COMMAND
    default = general_command(GeneralCommand.Default_Response, C2S, command_id=0,
                              status=Status.SUCCESS).encode()
    assert server.handle(default) is None
    assert server.handle(b"\x01") is None
    assert server.handle(bytes([0x02, 0x00, 0x00])) is None  # reserved frame type
    assert server.handle(bytes([0x18, 0x00, 0x0B, 0x00, 0x00])) is None  # to a client


def test_cluster_command_handler_status():
    seen = []

    def on_get_profile(frame):
        seen.append(frame.args.number_of_periods)
        return Status.SUCCESS

    server = ClusterServer(METERING, {}, handlers={0x00: on_get_profile})
    fields = {"interval_channel": 0, "end_time": 1, "number_of_periods": 4}
    request = cluster_command(METERING, "get_profile", C2S, **fields).encode()
    assert _default_status(server.handle(request)) == Status.SUCCESS
    quiet = cluster_command(METERING, "get_profile", C2S, disable_default_response=True,
                            **fields).encode()
    assert server.handle(quiet) is None
    assert seen == [4, 4]
