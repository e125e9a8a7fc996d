"""The GBZ payload codec (`gbcs.gbz`, `gbcs.zcl`): every RTDS GBZ content decodes into
named fields and re-encodes byte-exact, named values match what the DUIS requests asked
for, mutated contents raise only GbcsDecodeError, every table command builds and
decodes back, and generated payloads round-trip."""

from __future__ import annotations

import json
import random
from functools import lru_cache

import pytest
from hypothesis import HealthCheck, given, settings

from gbcs.content import ContentContext
from gbcs.errors import GbcsDecodeError, GbcsEncodeError
from gbcs.frames import locate_content
from gbcs.message import decode
from gbcs.gbz import (SPECIAL_CODES, GbzAlert, component, decode_gbz, future_dated_alert,
                      gbz_payload, integrity_warning)
from gbcs.keystore import Keystore
from gbcs.message import decode
from gbcs.node import Node, encode
from gbcs.reader import Reader
from gbcs.strategies_gbz import gbz_payloads, toy_open, toy_seal
from gbcs.zcl import (command, commands, decode_frame, decode_payload, zcl_command,
                      zcl_default_response, zcl_read_attributes, zcl_read_attributes_response)
from gbcs.zcl_tables import COMMANDS
from tests.conftest import KEYSTORE, RTDS, need, rtds_files

GBZ_PROFILE = b"\x01\x09"


@lru_cache(maxsize=1)
def _contents() -> tuple[tuple[str, bytes, ContentContext, int, int], ...]:
    """(file name, message, context, start, end) of every RTDS message with GBZ content."""
    need(RTDS)
    out = []
    for path in rtds_files():
        raw = bytes.fromhex(path.read_text().strip())
        ctx, start, end = locate_content(raw)
        if raw[start:start + 2] == GBZ_PROFILE or ctx.message_code in SPECIAL_CODES:
            out.append((path.name, raw, ctx, start, end))
    return tuple(out)


def _content(name: str) -> tuple[bytes, ContentContext, int, int]:
    for file_name, raw, ctx, start, end in _contents():
        if file_name == name:
            return raw, ctx, start, end
    pytest.skip(f"{name} is not in this copy of the RTDS")


def _decode(name: str) -> Node:
    raw, ctx, start, end = _content(name)
    return decode_gbz(Reader(raw, start, end), ContentContext(ctx.message_code, ctx.cra))


@lru_cache(maxsize=1)
def _store() -> Keystore:
    return Keystore.from_dir(need(KEYSTORE))


def _decrypted(name: str) -> Node:
    """The gbz node of a whole message decoded with the RTDS key store."""
    raw, _, _, _ = _content(name)
    msg = decode(raw, _store(), verify=False)
    assert msg.decryptions and set(msg.decryptions) == {"decrypted"}
    return next(n for n in msg.tree.walk() if n.name == "gbz")


def _field(node: Node, name: str) -> Node:
    found = next((n for n in node.walk() if n.name == name), None)
    assert found is not None, f"no {name} under {node.name}"
    return found


def _all(node: Node, name: str) -> list[Node]:
    return [n for n in node.walk() if n.name == name]


# -- the RTDS ------------------------------------------------------------------------------


def test_every_rtds_gbz_content_decodes_and_round_trips():
    failures = []
    for name, raw, ctx, start, end in _contents():
        try:
            node = decode_gbz(Reader(raw, start, end), ContentContext(ctx.message_code, ctx.cra))
        except GbcsDecodeError as err:
            failures.append(f"{name}: {err}")
            continue
        if node.name != "gbz" or node.offset != start or node.size != end - start:
            failures.append(f"{name}: gbz node spans {node.offset}+{node.size}")
        if encode(node) != raw[start:end]:
            failures.append(f"{name}: round trip differs")
        if encode(Node.from_json(json.loads(json.dumps(node.to_json())))) != raw[start:end]:
            failures.append(f"{name}: JSON round trip differs")
        unknown = [n for n in node.walk() if n.name == "payload"]
        if unknown:
            failures.append(f"{name}: undecoded ZCL payload at {unknown[0].offset}")
    assert not failures, "\n".join(failures[:20])
    assert len(_contents()) >= 280


def test_every_leaf_knows_its_bytes():
    """Offsets are absolute: each plaintext leaf re-encodes to the bytes it spans."""
    for name, raw, ctx, start, end in _contents()[:60]:
        node = decode_gbz(Reader(raw, start, end), ContentContext(ctx.message_code, ctx.cra))
        for leaf in node.walk():
            if leaf.children is None:
                assert encode(leaf) == raw[leaf.offset:leaf.offset + leaf.size], (name, leaf)


def test_read_of_the_gas_consumption_register():
    """GCS13a: the command reads Divisor, Multiplier, UnitOfMeasure and
    CurrentSummationDelivered; the encrypted answer gives 12345 x 1 / 1000 m3."""
    command_node = _decode("GCS13a_4.1.1_SUCCESS_RELIABLE_GSME_COMMAND_GBCS.HEX")
    ids = [(n.value, n.human) for n in _all(command_node, "attribute_id")]
    assert ids == [(0x0302, "Divisor"), (0x0301, "Multiplier"), (0x0300, "UnitOfMeasure"),
                   (0x0000, "CurrentSummationDelivered")]
    assert _field(command_node, "component").human == "Simple Metering ReadAttributes"

    response = _decrypted("GCS13a_4.1.1_SUCCESS_RELIABLE_GSME_RESPONSE_GBCS.HEX")
    assert _field(response, "extended_header_control").human == "last component, encrypted"
    records = {r["attribute_id"].human: r["value"] for r in _all(response, "record")}
    assert records["Divisor"].value == 1000 and records["Multiplier"].value == 1
    assert records["UnitOfMeasure"].value == 0x01
    summation = records["CurrentSummationDelivered"]
    assert summation.kind == "u48le" and summation.value == 12345
    assert summation.human == "12.345 m3"


def test_gas_tariff_matches_the_duis_request():
    """GCS01a block tariff: standing charge 54794, block prices 9600..11000 and block
    thresholds 1e6..3e6, as the DUIS template sets them (thousandths of a penny)."""
    node = _decode("GCS01a_1.1.1_CANCELLATION_BLOCK_SUCCESS_COMMAND_GBCS.HEX")
    tariff = _field(node, "publish_tariff_information")
    assert tariff["standing_charge"].value == 54794
    assert tariff["standing_charge"].human == "54.794p"
    assert tariff["currency"].value == 826 and tariff["currency"].human == "GBP"
    prices = [n.value for n in _all(_field(node, "publish_price_matrix"), "price")]
    assert prices == [9600, 10200, 10750, 11000]
    thresholds = [n.value for n in _all(_field(node, "publish_block_thresholds"),
                                        "block_threshold")]
    assert thresholds == [1_000_000, 2_000_000, 3_000_000]
    assert _field(node, "tier_number_of_block_thresholds").value & 0x0F == 3
    calendar = _field(node, "publish_calendar")
    assert calendar["calendar_type"].human == "DeliveredCalendar"


def test_prepayment_values_in_pence():
    node = _decode("GCS21b_4.13_SUCCESS_RESPONSE_GBCS.HEX")
    records = {r["attribute_id"].human: r["value"] for r in _all(node, "record")
               if r.get("value") is not None}
    assert records["OverallDebtCap"].value == 1_000_000
    assert records["OverallDebtCap"].human == "1000.000p"
    assert records["CutOffValue"].kind == "i32le" and records["CutOffValue"].value < 0
    assert records["PriceTrailingDigit"].value == 0x50


def test_meter_integrity_alert():
    node = _decode("MIIWA-ZigBee_NA_81A0_ALERT_GBCS.HEX")
    assert node["alert_code"].value == 0x81A0
    assert node["alert_code"].human == "Smart Meter Integrity Issue - Warning"
    assert node["timestamp"].human == "2015-01-01T00:00:00Z"
    assert node["integrity_issue_warning"].human == "Error Unexpected Hardware Reset"


def test_future_dated_alert_names_the_command_it_ran():
    node = _decode("GCS02_1.6_8F66_FUTURE_DATED_SUCCESS_ALERT_CHANGE_PAYMENT_MODE_GBCS.HEX")
    detail = node["future_dated_alert"]
    assert node["alert_code"].value == 0x8F66
    assert detail["message_code"].value == 0x006C
    assert detail["originator_counter"].value == 1001
    assert detail["cluster_id"].human == "Prepayment"
    assert detail["command_id"].human == "ChangePaymentMode"


def test_firmware_receipt_alert_and_generic_alert():
    node = _decode("FDRA-ZigBee_NA_8F72_ALERT_GBCS.HEX")
    assert node["calculated_manufacturer_hash.octet_string.value"].value == b"\xA1" * 32
    generic = _decode("GCA-ZigBee_NA_8F30_ALERT_GBCS.HEX")
    assert generic["alert_code"].human == "Source Does not have Authority for Command"
    assert [c.name for c in generic.children] == ["profile_id", "component_count",
                                                  "alert_code", "timestamp"]


def test_billing_data_log_alert_carries_an_encrypted_snapshot():
    node = _decrypted("GCS53_NA_8F0A_ALERT_GBCS.HEX")
    assert node["alert_code"].value == 0x8F0A
    snapshot = _field(node, "publish_snapshot")
    assert snapshot["snapshot_payload_type"].human == "BlockTierInformationSetDeliveredNoBilling"
    assert len(_all(snapshot, "tier_summation")) == 4
    assert len(_all(snapshot, "tier_block_summation")) == 4


def test_event_log_names_events():
    node = _decode("CS10a_6.13_SUCCESS_RESPONSE_GBCS.HEX")
    entries = _all(node, "event_log_payload")
    assert len(entries) == node["component.zcl.publish_event_log.total_number_of_events"].value
    assert entries[0]["log_id"].human == "GeneralEventLog"
    assert entries[0]["event_id"].human.startswith("0x8F1F")


def test_from_date_time_is_a_date():
    node = _decode("GCS15d_4.4.4_SUCCESS_COMMAND_GBCS.HEX")
    dated = node["component.from_date_time"]
    assert node["component.extended_header_control"].value & 0x10
    assert dated.kind == "u32" and dated.human.endswith("Z") and dated.human[:2] == "20"


# -- robustness ----------------------------------------------------------------------------


def test_truncations_and_bit_flips_raise_only_decode_errors():
    rnd = random.Random(20240601)
    checked = 0
    for name, raw, ctx, start, end in _contents():
        content = raw[start:end]
        mutants = [content[:i] for i in range(len(content))]
        for _ in range(24):
            flipped = bytearray(content)
            flipped[rnd.randrange(len(content))] ^= 1 << rnd.randrange(8)
            mutants.append(bytes(flipped))
        for data in mutants:
            # a decryptor that "opens" anything, so garbage plaintext is decoded too
            for decrypt in (None, lambda sealed: sealed[:-12]):
                local = ContentContext(ctx.message_code, ctx.cra, decrypt=decrypt)
                try:
                    node = decode_gbz(Reader(data), local)
                except GbcsDecodeError:
                    continue
                finally:
                    checked += 1
                assert encode(node) == data, name
    assert checked > 20_000


def test_unknown_commands_are_bytes_and_known_malformed_ones_fail():
    unknown = zcl_command(0x0707, 0x00, 1, provider_id=1, issuer_event_id=2,
                          issuer_calendar_id=3, start_time=4, calendar_type=0,
                          calendar_time_reference=0, calendar_name=b"", number_of_seasons=1,
                          number_of_week_profiles=1, number_of_day_profiles=1)
    data = encode(unknown)
    frame = decode_frame(Reader(data), 0x0B00)  # a cluster the tables do not know
    assert frame["payload"].kind == "bytes" and frame["payload"].value == data[3:]
    assert decode_frame(Reader(data), 0x0707)["publish_calendar.calendar_type"].value == 0
    with pytest.raises(GbcsDecodeError) as err:
        decode_frame(Reader(data[:-1]), 0x0707)
    assert err.value.field.startswith("publish_calendar")
    with pytest.raises(GbcsDecodeError):
        decode_frame(Reader(data + b"\x00"), 0x0707)
    with pytest.raises(GbcsDecodeError):
        decode_frame(Reader(bytes.fromhex("00000002")), 0x0702)  # half an attribute id


def test_bad_profile_id_and_component_lengths_fail():
    ctx = ContentContext(0x0074, 1)
    with pytest.raises(GbcsDecodeError, match="profile id"):
        decode_gbz(Reader(bytes.fromhex("0104010107020000")), ctx)
    with pytest.raises(GbcsDecodeError) as err:
        decode_gbz(Reader(bytes.fromhex("010901010702000B000000")), ctx)
    assert err.value.field.startswith("gbz.component[0]")


# -- tables and builders -------------------------------------------------------------------


def _minimal(specs: tuple) -> dict:
    """The smallest values for a table layout (zeros, empty strings and lists)."""
    out: dict = {}
    for spec in specs:
        name, kind = spec[0], spec[1]
        if len(spec) > 2 and isinstance(spec[2], str) and "opt" in spec[2].split():
            break
        if kind in ("rest", "count", "nibbles"):
            out[name] = []
        elif kind == "switch":
            case = spec[3].get(out.get(spec[2]))
            out[name] = _minimal(case) if case is not None else b""
        elif kind in ("octstr", "bytes") or kind.startswith("fixed") or kind == "date":
            size = int(kind[5:]) if kind.startswith("fixed") else 4 if kind == "date" else 0
            out[name] = bytes(size)
        elif kind == "charstr":
            out[name] = ""
        else:
            out[name] = 0
    return out


def test_every_table_command_builds_and_decodes_back():
    for (cluster_id, direction, command_id), (name, specs) in COMMANDS.items():
        frame = zcl_command(cluster_id, command_id, direction, **_minimal(specs))
        data = encode(frame)
        decoded = decode_frame(Reader(data), cluster_id)
        assert decoded["command_id"].human == name
        assert decoded.children[-1].name == command(cluster_id, direction, command_id).node_name
        assert encode(decoded) == data, name


def test_layouts_put_repeated_items_last():
    """A 'rest' item list or trailing bytes must end its layout, else it would swallow
    the fields after it."""
    def check(specs: tuple, where: str) -> None:
        for i, spec in enumerate(specs):
            if spec[1] in ("rest", "bytes") and i != len(specs) - 1:
                raise AssertionError(f"{where}.{spec[0]} is not last")
            if spec[1] == "switch":
                assert spec[2] in [s[0] for s in specs[:i]], f"{where}.{spec[0]} selector"
                for case in spec[3].values():
                    check(case, f"{where}.{spec[0]}")
            items = spec[3] if spec[1] == "rest" else spec[5] if spec[1] == "count" else None
            if isinstance(items, tuple):
                check(items, f"{where}.{spec[0]}")
    for key, (name, specs) in COMMANDS.items():
        check(specs, name)
    assert len(commands()) == len(COMMANDS) > 150


def test_builders_reproduce_rtds_bytes():
    raw, _, start, end = _content("GCS13a_4.1.1_SUCCESS_RELIABLE_GSME_COMMAND_GBCS.HEX")
    read = zcl_read_attributes(0x0702, [0x0302, 0x0301, 0x0300, 0x0000])
    assert encode(gbz_payload([component(0x0702, read)])) == raw[start:end]

    raw, _, start, end = _content("GCS40a_1.5_SUCCESS_COMMAND_GBCS.HEX")
    adjust = zcl_command(0x0705, 0x05, 0, issuer_event_id=0x1C374A80, start_time=0,
                         credit_adjustment_type=0, credit_adjustment_value=0x5A5A)
    assert encode(gbz_payload([component(0x0705, adjust)])) == raw[start:end]

    raw, _, start, end = _content("MIIWA-ZigBee_NA_81A0_ALERT_GBCS.HEX")
    alert = GbzAlert(0x81A0, 0x1C374A80, [integrity_warning(5)])
    assert encode(gbz_payload([], alert)) == raw[start:end]

    raw, _, start, end = _content(
        "GCS02_1.6_8F66_FUTURE_DATED_SUCCESS_ALERT_CHANGE_PAYMENT_MODE_GBCS.HEX")
    detail = future_dated_alert(0x006C, 1001, 0x0705, 0x01, 0x06)
    timestamp = int.from_bytes(raw[start + 5:start + 9], "big")
    assert encode(gbz_payload([], GbzAlert(0x8F66, timestamp, [detail]))) == raw[start:end]


def test_response_and_default_response_builders():
    frame = zcl_read_attributes_response(0x0702, [(0x0000, 0, 0x25, 12345), (0x0206, 0x86)])
    decoded = decode_frame(Reader(encode(frame)), 0x0702)
    records = decoded["read_attributes_response"].children
    assert records[0]["value"].value == 12345 and records[1]["status"].human == \
        "UNSUPPORTED_ATTRIBUTE"
    reply = zcl_default_response(0x0705, 0x05, 0x00, 1)
    decoded = decode_frame(Reader(encode(reply)), 0x0705)
    assert decoded["default_response.command_id"].human == "CreditAdjustment"
    with pytest.raises(GbcsEncodeError, match="missing field"):
        zcl_command(0x0705, 0x05, 0, issuer_event_id=1)
    with pytest.raises(GbcsEncodeError, match="unknown fields"):
        zcl_command(0x0705, 0x09, 0, low_credit_warning_level=1, colour=2)


def test_encrypted_component_shows_its_plaintext():
    frame = zcl_command(0x0705, 0x09, 0, low_credit_warning_level=500_000)
    node = gbz_payload([component(0x0705, frame, encrypt=toy_seal, from_date_time=1)])
    data = encode(node)
    ctx = ContentContext(0x0074, 1, decrypt=toy_open)
    decoded = decode_gbz(Reader(data), ctx)
    assert ctx.decryptions == ["decrypted"]
    level = decoded["component.zcl.encrypted_payload.decrypted.set_low_credit_warning_level"]
    assert level["low_credit_warning_level"].human == "500.000p"
    assert encode(decoded) == data
    blind = ContentContext(0x0074, 1)
    assert decode_gbz(Reader(data), blind).get("component") is not None
    assert blind.decryptions == ["undecrypted"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(gbz_payloads())
def test_generated_payloads_round_trip(generated):
    message_code, cra, node = generated
    data = encode(node)
    ctx = ContentContext(message_code, cra, decrypt=toy_open)
    decoded = decode_gbz(Reader(data), ctx)
    assert encode(decoded) == data
    assert "undecrypted" not in ctx.decryptions
    assert decoded.get("component_count").value == node.get("component_count").value


def test_payload_decoder_handles_a_bare_zcl_payload():
    frame = zcl_command(0x0709, 0x01, 0, log_id=3)
    data = encode(frame)
    payload = decode_payload(Reader(data, 3), 0x0709, data[0], data[2])
    assert payload.name == "clear_event_log_request" and payload["log_id"].human == \
        "GeneralEventLog"


def test_mistyped_multiplier_leaves_summations_unscaled():
    """Found by `smetslab fuzz codec`: a Multiplier attribute of no-data type once
    multiplied the summation by bytes."""
    data = bytes.fromhex(
        "DF090200000000000000010800000000000000000800000000000000000002005C2001090100"
        "0702001818000100000025010000000000010300000203002201000000")
    message = decode(data, verify=False)
    assert encode(message.tree) == data
