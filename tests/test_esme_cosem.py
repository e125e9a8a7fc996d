"""The ESME's COSEM objects, DLMS server and command pipeline, driven by real GBCS
commands (MAC'd for a device made here) on a virtual clock and an SQLite store."""

from __future__ import annotations

import datetime as _dt

import pytest

from boards.nvm import SqliteStore
from boards.simulator import Simulator
from firmware.core.credentials import DeviceCredentials, Role, TrustAnchor, TrustAnchors
from firmware.core.device import EVENT_LOG, SECURITY_LOG
from firmware.esme.cosem import (
    HARDWARE_FAULT, OBJECT_UNAVAILABLE, OBJECT_UNDEFINED, OTHER_REASON, READ_WRITE_DENIED,
    TYPE_UNMATCHED, AccessError, FaultKey,
)
from firmware.esme.cosem_profile import to_seconds
from firmware.esme.cosem_types import Arr, ShapeError, U32, check, s
from firmware.esme.esme import Esme
from firmware.esme.objects import Variant, obis
from gbcs import axdr, crypto, dlms
from gbcs.axdr import axdr_value, data_node
from gbcs.build import build_message
from gbcs.cosem import datetime_bytes, parse_datetime
from gbcs.keystore import DS, KA, KeyPair, Keystore
from gbcs.message import decode
from gbcs.node import encode

ESME = bytes.fromhex("00DB1234567890A0")
SUPPLIER = bytes.fromhex("90B3D51F30010000")
ACB = bytes.fromhex("90B3D51F30000002")
START = _dt.datetime(2015, 1, 1, tzinfo=_dt.UTC)
ECS17B, ECS24, ECS01A, ECS42 = 0x0027, 0x0031, 0x0019, 0x004F
IMPORT = obis("1-0:1.8.0")
CLOCK = obis("0-0:1.0.0")
TARIFF = obis("0-0:13.0.0")
U32_, U16_, OS = axdr.DOUBLE_LONG_UNSIGNED, axdr.LONG_UNSIGNED, axdr.OCTET_STRING


@pytest.fixture(scope="module")
def keys():
    return {n: (crypto.generate_private_key(), crypto.generate_private_key())
            for n in ("esme", "supplier", "acb")}


class Lab:
    """One ESME, the remote parties' keys and a counter."""

    def __init__(self, keys, variant=Variant.SINGLE_ELEMENT, path=":memory:") -> None:
        self.keys = keys
        self.anchors = TrustAnchors()
        for role, name, eui in ((Role.SUPPLIER, "supplier", SUPPLIER),
                                (Role.ACCESS_CONTROL_BROKER, "acb", ACB)):
            ds, ka = keys[name]
            self.anchors.set(TrustAnchor(role, eui, ds.public_key(), ka.public_key()))
        self.sim = Simulator(START, keep_trace=False)
        self.store = SqliteStore(path)
        self.esme = Esme.create(ESME, variant, DeviceCredentials(ESME, *keys["esme"]),
                                self.anchors, self.store, self.sim)
        self.keystore = Keystore()
        for name, eui in (("esme", ESME), ("supplier", SUPPLIER), ("acb", ACB)):
            ds, ka = keys[name]
            self.keystore.add(eui, DS, KeyPair(ds.public_key(), ds))
            self.keystore.add(eui, KA, KeyPair(ka.public_key(), ka))
        self.counter = 1000

    def command(self, request, code=ECS17B, signed=False, counter=None) -> bytes:
        if counter is None:
            self.counter += 1
            counter = self.counter
        return build_message(cra=1, originator_counter=counter, originator=SUPPLIER,
                             recipient=ESME, message_code=code, content=encode(request),
                             signer=self.keys["supplier"][0] if signed else None,
                             mac_keys=(self.keys["acb"][1], self.keys["esme"][1].public_key()))

    def send(self, request, code=ECS17B, signed=False):
        """(results, data nodes, the decoded response, alert messages)."""
        out = self.esme.receive(self.command(request, code, signed))
        assert out, self.store.entries(EVENT_LOG) or self.store.entries(SECURITY_LOG)
        msg = decode(out[0], self.keystore, ACB)
        assert msg.mac in ("valid", "absent") and msg.signature in ("valid", "absent")
        dl = next(n for n in msg.tree.walk() if n.name == "dlms")
        results = [r.children[0].value for r in dl["access_response_specification"].children]
        return results, dl["access_response_list_of_data"].children, msg, out[1:]


@pytest.fixture
def lab(keys):
    return Lab(keys)


def get(*items):
    return dlms.get_request(list(items), invoke_id=1)


# -- get / set / errors -----------------------------------------------------------------


def test_register_read_value_and_scaler_unit(lab):
    results, data, msg, _ = lab.send(get((3, IMPORT, 2), (3, IMPORT, 3), (8, CLOCK, 2)))
    assert results == [0, 0, 0]
    assert axdr.data_tag(data[0]) == U32_
    assert axdr_value(data[1]) == [0, 30]  # scaler 0, Wh
    assert parse_datetime(data[2].value) == START
    assert msg.header.originator_counter == lab.counter  # answers the command's counter


def test_set_is_type_checked_and_persisted_as_axdr(lab):
    limit = obis("0-0:94.44.0.1")
    value = data_node("", 900, U16_)
    results, *_ = lab.send(dlms.set_request([(1, limit, 2, value)], invoke_id=2))
    assert results == [0]
    stored = lab.store.get(f"cosem/1/{limit.hex()}/2")
    assert stored == encode(data_node("", 900, U16_))  # raw A-XDR bytes
    results, data, *_ = lab.send(get((1, limit, 2)))
    assert results == [0] and data[0].value == 900


@pytest.mark.parametrize("item, code", [
    ((1, obis("0-0:94.44.0.1"), 2, data_node("", b"x", OS)), TYPE_UNMATCHED),
    ((3, IMPORT, 3, data_node("", 1, axdr.INTEGER)), READ_WRITE_DENIED),
    ((1, obis("0-0:94.44.250.1"), 2, data_node("", 1, U16_)), OBJECT_UNDEFINED),
    ((3, IMPORT, 9, data_node("", 1, U32_)), OBJECT_UNAVAILABLE),
])
def test_set_errors_break_on_error_and_change_nothing_more(lab, item, code):
    tamper = obis("0-0:94.44.0.4")
    before = [(1, tamper, 2, data_node("", True, axdr.BOOLEAN))]
    after = [(1, obis("0-0:94.44.0.2"), 2, data_node("", 7, U16_))]
    request = dlms.set_request(before + [item] + after, invoke_id=3)
    results, data, *_ = lab.send(request)
    assert results == [0, code, OTHER_REASON]
    assert all(axdr.data_tag(d) == axdr.NULL_DATA for d in data)
    # The access before the failure ran (break-on-error does not undo it) ...
    assert lab.send(get((1, tamper, 2)))[1][0].value == 1
    # ... the one after did not.
    assert lab.store.get(f"cosem/1/{obis('0-0:94.44.0.2').hex()}/2") is None


def test_unknown_method_is_object_unavailable_and_bad_params_type_unmatched(lab):
    request = dlms.action_request([(3, IMPORT, 7, data_node("", 0, axdr.INTEGER))], 4)
    assert lab.send(request)[0] == [OBJECT_UNAVAILABLE]
    request = dlms.action_request([(3, IMPORT, 1, data_node("", b"", OS))], 5)
    assert lab.send(request)[0] == [TYPE_UNMATCHED]


def test_hardware_fault_injection(lab):
    lab.esme.faults.add(FaultKey(3, IMPORT, 3))
    results, *_ = lab.send(get((3, IMPORT, 2), (3, IMPORT, 3), (8, CLOCK, 2)))
    assert results == [0, HARDWARE_FAULT, OTHER_REASON]
    lab.esme.faults.clear()
    assert lab.send(get((3, IMPORT, 3)))[0] == [0]


def test_shape_check_names_the_place():
    shape = Arr(s(U32, U32))
    good = axdr.array_node("", [axdr.structure_node("", [data_node("", 1, U32_),
                                                         data_node("", 2, U32_)])])
    check(good, shape)
    bad = axdr.array_node("", [axdr.structure_node("", [data_node("", 1, U32_),
                                                        data_node("", 2, U16_)])])
    with pytest.raises(ShapeError, match=r"data\[0\]\.1: expected double-long-unsigned"):
        check(bad, shape)


def test_access_error_carries_result_code(lab):
    with pytest.raises(AccessError) as err:
        lab.esme.lookup(1, obis("0-0:94.44.250.1"))
    assert err.value.result_code == OBJECT_UNDEFINED and "0000" in err.value.detail


# -- profiles ----------------------------------------------------------------------------


def _range(start, end):
    restricting = axdr.structure_node("", [data_node("", 8, U16_), data_node("", CLOCK, OS),
                                           data_node("", 2, axdr.INTEGER),
                                           data_node("", 0, U16_)])
    return axdr.structure_node("", [restricting, data_node("", to_seconds(start), U32_),
                                    data_node("", to_seconds(end), U32_),
                                    axdr.array_node("", [])])


def _entries(first, last):
    return axdr.structure_node("", [data_node("", first, U32_), data_node("", last, U32_),
                                    data_node("", 1, U16_), data_node("", 0, U16_)])


def test_profile_capture_and_selective_access(lab):
    # Average RMS voltage: a profile the meter captures itself (the energy profiles are
    # the metering engine's, see test_esme_device.py).
    profile = lab.esme.lookup(7, obis("1-0:32.24.0"))
    for slot in range(6):
        lab.sim.run_until(START + _dt.timedelta(minutes=30 * slot))
        profile.capture(lab.esme)
    selection = (1, _range(START + _dt.timedelta(hours=1), START + _dt.timedelta(hours=2)))
    request = dlms.access_request([("get-with-selection", 7, profile.obis, 2, None,
                                    selection)], invoke_id=6)
    results, data, *_ = lab.send(request)
    assert results == [0] and data[0].kind == "axdr.compact-array"
    stamps = [row[0] for row in axdr_value(data[0])]
    assert stamps == [to_seconds(START + _dt.timedelta(minutes=m)) for m in (60, 90, 120)]
    request = dlms.access_request([("get-with-selection", 7, profile.obis, 2, None,
                                    (2, _entries(2, 3)))], invoke_id=7)
    rows = axdr_value(lab.send(request)[1][0])
    assert [r[0] for r in rows] == [to_seconds(START + _dt.timedelta(minutes=m))
                                    for m in (30, 60)]
    # entries_in_use, then reset empties the buffer.
    assert lab.send(get((7, profile.obis, 7)))[1][0].value == 6
    reset = dlms.action_request([(7, profile.obis, 1, data_node("", 0, axdr.INTEGER))], 8)
    assert lab.send(reset)[0] == [0]
    assert lab.send(get((7, profile.obis, 7)))[1][0].value == 0


def test_profile_append_refuses_entries_of_the_wrong_shape(lab):
    # The auxiliary load control switch event log (the event log is the engine's).
    profile = lab.esme.lookup(7, obis("0-17:99.98.2"))
    profile.append(lab.esme, [to_seconds(START), 0x8F1E, 1, 7])
    with pytest.raises(AccessError) as err:
        profile.append(lab.esme, [to_seconds(START), "not a number", 1, 7])
    assert err.value.result_code == TYPE_UNMATCHED


# -- activation in virtual time -------------------------------------------------------


def _day_profiles():
    action = axdr.structure_node("", [data_node("", bytes(4), OS),
                                      data_node("", obis("0-0:10.0.100"), OS),
                                      data_node("", 1, U16_)])
    return axdr.array_node("", [axdr.structure_node("", [data_node("", 1, axdr.UNSIGNED),
                                                         axdr.array_node("", [action])])])


def test_passive_calendar_activates_at_its_time_with_alert_8f66(lab):
    at = START + _dt.timedelta(days=10, hours=9)
    request = dlms.set_request([(20, TARIFF, 9, _day_profiles()),
                                (20, TARIFF, 10, data_node("", datetime_bytes(at), OS))], 9)
    results, _, _, alerts = lab.send(request, code=ECS01A, signed=True)
    assert results == [0, 0] and alerts == []
    counter = lab.counter
    assert axdr_value(lab.send(get((20, TARIFF, 5)))[1][0]) == []  # not yet active
    lab.sim.run_until(at - _dt.timedelta(seconds=1))
    assert lab.esme.take_alerts() == []
    lab.sim.run_until(at)
    (raw,) = lab.esme.take_alerts()
    active = lab.send(get((20, TARIFF, 5)))[1][0]
    assert encode(active) == encode(_day_profiles())
    alert = decode(raw, lab.keystore, ACB)
    assert (alert.header.cra, alert.header.message_code, alert.signature) == (3, 0x00CC,
                                                                             "valid")
    body = next(n for n in alert.tree.walk() if n.name == "notification_body")
    assert body.children[0].value == 0x8F66
    assert parse_datetime(body.children[1].value) == at
    payload = body.children[2].children[0]
    assert payload["message_code"].value == ECS01A
    assert payload["originator_counter"].value == counter
    assert payload["cosem_attribute_descriptor.attribute_id"].value == 10


def test_activation_cancelled_by_never(lab):
    at = START + _dt.timedelta(days=1)
    never = data_node("", b"\xff" * 9 + b"\x80\x00\xff", OS)
    lab.send(dlms.set_request([(20, TARIFF, 9, _day_profiles()),
                               (20, TARIFF, 10, data_node("", datetime_bytes(at), OS))], 1),
             code=ECS01A, signed=True)
    lab.send(dlms.set_request([(20, TARIFF, 10, never)], 2), code=ECS01A, signed=True)
    lab.sim.run_until(at + _dt.timedelta(hours=1))
    assert lab.esme.take_alerts() == []
    assert axdr_value(lab.send(get((20, TARIFF, 5)))[1][0]) == []


def test_extended_data_activation_copies_passive_special_days(lab):
    special = axdr.array_node("", [axdr.structure_node("", [
        data_node("", 1, U16_), data_node("", bytes.fromhex("07DF0C19FF"), OS),
        data_node("", 1, axdr.UNSIGNED)])])
    now = data_node("", bytes(12), OS)  # "now": activate at once, no alert
    request = dlms.set_request([(11, obis("0-1:11.0.0"), 2, special),
                                (9000, obis("0-0:94.44.128.29"), 6, now)], 3)
    assert lab.send(request, code=ECS01A, signed=True)[0] == [0, 0]
    active = lab.send(get((11, obis("0-0:11.0.0"), 2)))[1][0]
    assert encode(active) == encode(special)


# -- data protection ----------------------------------------------------------------


def _protected_read(target_obis, class_id=1):
    restriction = axdr.structure_node("", [data_node("", 0, axdr.ENUM),
                                           data_node("", None, axdr.NULL_DATA)])
    objects = axdr.array_node("", [axdr.structure_node("", [
        data_node("", class_id, U16_), data_node("", target_obis, OS),
        data_node("", 2, axdr.INTEGER), data_node("", 0, U16_), restriction])])
    params = dlms.protection_parameters(0, SUPPLIER, ESME)
    return axdr.structure_node("", [objects, params])


@pytest.mark.parametrize("variant, members", [(Variant.SINGLE_ELEMENT, 4),
                                              (Variant.TWIN_ELEMENT, 5)])
def test_protected_attributes_decrypt_with_the_codec(keys, variant, members):
    lab = Lab(keys, variant)
    request = dlms.action_request([(30, obis("0-0:43.2.8"), 1,
                                    _protected_read(obis("0-0:94.44.34.10")))], 10)
    results, data, msg, _ = lab.send(request)
    assert results == [0] and msg.decryptions == ["decrypted"]
    plaintext = next(n for n in data[0].walk() if n.name == "plaintext").children[0]
    (collection,) = plaintext.children
    assert len(collection.children) == members
    # Someone without the supplier's key sees only ciphertext.
    outsider = Keystore()
    outsider.add(ESME, KA, lab.keystore.keys(ESME, KA)[0])
    assert decode(lab.esme.receive(lab.command(request))[0], outsider, ACB,
                  verify=False).decryptions == ["undecrypted"]


# -- scripts and clock -----------------------------------------------------------------


def test_disconnector_scripts_drive_the_supply_state(lab):
    switch = obis("0-0:96.3.10")

    def run(script_id):
        request = dlms.action_request([(9, obis("0-0:10.0.106"), 1,
                                        data_node("", script_id, U16_))], script_id)
        assert lab.send(request, code=ECS42, signed=True)[0] == [0]
        return [d.value for d in lab.send(get((70, switch, 2), (70, switch, 3)))[1]]

    assert run(52) == [0, 0]   # disabled: disconnected
    assert run(54) == [0, 2]   # armed: ready for reconnection
    assert run(51) == [1, 1]   # enabled: connected
    request = dlms.action_request([(9, obis("0-0:10.0.106"), 1, data_node("", 7, U16_))], 1)
    assert lab.send(request, code=ECS42, signed=True)[0] == [OTHER_REASON]


def test_clock_adjust_to_preset_time(lab):
    target = START + _dt.timedelta(minutes=5)
    window = [data_node("", datetime_bytes(target), OS),
              data_node("", datetime_bytes(START - _dt.timedelta(minutes=1)), OS),
              data_node("", datetime_bytes(START + _dt.timedelta(minutes=1)), OS)]
    request = dlms.action_request([(8, CLOCK, 5, axdr.structure_node("", window)),
                                   (8, CLOCK, 4, data_node("", 0, axdr.INTEGER))], 11)
    assert lab.send(request, code=0x0062, signed=True)[0] == [0, 0]
    assert parse_datetime(lab.send(get((8, CLOCK, 2)))[1][0].value) == target
    assert lab.sim.now() == START  # the board clock is untouched


# -- the pipeline --------------------------------------------------------------------


def test_replayed_counter_rejected_and_logged(lab):
    data = lab.command(get((3, IMPORT, 2)))
    assert len(lab.esme.receive(data)) == 1
    assert lab.esme.receive(data) == []
    entry = lab.store.entries(SECURITY_LOG)[-1].value
    assert entry["reason"] == "replayed" and entry["event_code"] == 0x8F53


def test_failed_execution_rolls_back_counter_and_effects(lab):
    # A well-formed DLMS payload that is no Access-Request: the ESME cannot execute it.
    response = encode(dlms.access_response([data_node("", None, axdr.NULL_DATA)],
                                           [("get", 0)], invoke_id=1))
    data = build_message(cra=1, originator_counter=5000, originator=SUPPLIER, recipient=ESME,
                         message_code=ECS17B, content=response,
                         mac_keys=(lab.keys["acb"][1], lab.keys["esme"][1].public_key()))
    assert lab.esme.receive(data) == []
    assert lab.store.highest(SUPPLIER) == 0  # the counter was not committed
    assert lab.store.entries(EVENT_LOG)[-1].value["event"] == "command_failed"
    assert lab.esme.receive(lab.command(get((3, IMPORT, 2)), counter=5000))  # still fresh


def test_state_and_pending_activation_survive_a_restart(keys, tmp_path):
    path = tmp_path / "esme.db"
    first = Lab(keys, path=str(path))
    at = START + _dt.timedelta(days=2)
    first.send(dlms.set_request([(20, TARIFF, 9, _day_profiles()),
                                 (20, TARIFF, 10, data_node("", datetime_bytes(at), OS))], 1),
               code=ECS01A, signed=True)
    first.send(dlms.set_request([(1, obis("0-0:94.44.0.1"), 2,
                                  data_node("", 321, U16_))], 2))
    first.store.close()
    second = Lab(keys, path=str(path))  # a new process: fresh clock, same store
    assert second.store.highest(SUPPLIER) == 1002
    second.counter = 2000
    assert second.send(get((1, obis("0-0:94.44.0.1"), 2)))[1][0].value == 321
    second.sim.run_until(at)
    assert len(second.esme.take_alerts()) == 1
    assert encode(second.send(get((20, TARIFF, 5)))[1][0]) == encode(_day_profiles())


def test_engine_failure_mid_command_rolls_back_earlier_writes(keys):
    def broken(ctx):
        raise RuntimeError("metrology chip not answering")

    lab = Lab(keys)
    lab.esme = Esme(DeviceCredentials(ESME, *keys["esme"]), lab.anchors, lab.store, lab.sim,
                    Variant.SINGLE_ELEMENT, getters={(3, IMPORT): {2: broken}})
    tamper = obis("0-0:94.44.0.4")
    request = dlms.access_request([("set", 1, tamper, 2, data_node("", True, axdr.BOOLEAN)),
                                   ("get", 3, IMPORT, 2, None)], invoke_id=12)
    assert lab.esme.receive(lab.command(request)) == []
    assert lab.store.get(f"cosem/1/{tamper.hex()}/2") is None
    assert "metrology chip" in lab.store.entries(EVENT_LOG)[-1].value["detail"]


def test_getter_binds_an_attribute_to_the_engine(keys):
    lab = Lab(keys)
    lab.esme = Esme(DeviceCredentials(ESME, *keys["esme"]), lab.anchors, lab.store, lab.sim,
                    Variant.SINGLE_ELEMENT,
                    getters={(3, IMPORT): {2: lambda ctx: data_node("", 4242, U32_)}})
    assert lab.send(get((3, IMPORT, 2)))[1][0].value == 4242
    request = dlms.set_request([(3, IMPORT, 2, data_node("", 1, U32_))], invoke_id=13)
    assert lab.send(request)[0] == [READ_WRITE_DENIED]


def test_security_log_object_reads_the_pipeline_security_log(lab):
    replayed = lab.command(get((3, IMPORT, 2)))
    lab.esme.receive(replayed)
    lab.sim.run_until(START + _dt.timedelta(minutes=3))
    assert lab.esme.receive(replayed) == []
    request = dlms.access_request([("get-with-selection", 7, obis("0-0:99.98.1"), 2, None,
                                    (1, _range(START, START + _dt.timedelta(hours=1))))],
                                  invoke_id=14)
    results, data, *_ = lab.send(request)
    assert results == [0]
    assert axdr_value(data[0]) == [[to_seconds(START + _dt.timedelta(minutes=3)), 0x8F53]]


def test_half_hour_profile_captures_registers_with_data_index(keys):
    lab = Lab(keys, Variant.TWIN_ELEMENT)
    profile = lab.esme.lookup(7, obis("0-0:99.1.0"))
    lab.sim.run_until(START + _dt.timedelta(minutes=30))
    profile.capture(lab.esme)
    capture_objects = axdr_value(lab.send(get((7, profile.obis, 3)))[1][0])
    assert capture_objects[2] == [1, obis("0-0:94.44.34.10"), 2, 5]  # secondary import
    assert axdr_value(lab.send(get((7, profile.obis, 2)))[1][0]) == [
        [to_seconds(START + _dt.timedelta(minutes=30)), 0, 0]]
