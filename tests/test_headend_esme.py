"""The ESME transforms of esme_alerts (ECS25), esme_calendars (ECS46c/d) and the
ECS34 thresholds: the facts behind them and how they refuse bad requests.

Byte-exact checks against the RTDS are in test_headend.py, end-to-end runs on the lab's
ESME in test_headend_srv.py."""

from __future__ import annotations

import dataclasses

import pytest
from conftest import REFERENCE, RTDS, need

from gbcs.message import decode
from tools.headend import duis, esme_alerts, transform
from tools.headend.access import COMMISSIONED, Device

TEMPLATES = REFERENCE / "duis-templates"


def _request(name: str, *edits: tuple[str, str]) -> duis.ServiceRequest:
    text = (need(TEMPLATES) / name).read_text()
    for old, new in edits:
        assert old in text
        text = text.replace(old, new)
    return duis.parse_xml(text.encode())


def _device(req: duis.ServiceRequest, variant: str = "") -> Device:
    return Device(req.request_id.target, "ESME", COMMISSIONED, variant=variant)


def _set_values(cmd: transform.Command) -> list:
    msg = decode(cmd.apdu, verify=False)
    data = next(n for n in msg.tree.walk() if n.name == "access_request_list_of_data")
    return [n.value if not n.children else [c.value for c in n.children]
            for n in data.children]


def _alert_request(group: str, *settings: tuple[str, str]) -> duis.ServiceRequest:
    """A 6.22 request with these settings, past the schema (the transform's own checks)."""
    req = _request("ECS25a1_6.22_SUCCESS_REQUEST_DUIS.XML")
    body = duis.Element("ConfigureAlertBehaviour", children=(duis.Element(
        "ElectricitySupplierHANAlertSettings", children=(duis.Element(group, children=tuple(
            duis.Element(code, state) for code, state in settings)),)),))
    return dataclasses.replace(req, body=body)


def test_alarm_filter_bits_match_the_rtds_ecs25a_command():
    """The RTDS ECS25a command was made from a request that enables 810D and disables
    810E, 81C4 and 81C5 (its template names others): the same rule gives its bits."""
    path = need(RTDS) / "6.22_ECS25a" / "ECS25a_6.22_SUCCESS_COMMAND_GBCS.HEX"
    msg = decode(bytes.fromhex(path.read_text().strip()), verify=False)
    data = next(n for n in msg.tree.walk() if n.name == "access_request_list_of_data")
    want = data.children[0].value
    assert esme_alerts.filter_configuration(
        {0x810D: True, 0x810E: False, 0x81C4: False, 0x81C5: False}) == want


def test_a_polyphase_group_applies_to_a_polyphase_meter_only():
    req = _request("ECS25b_6.22_SUCCESS_REQUEST_DUIS.XML")
    single = transform.transform(req, _device(req))
    poly = transform.transform(req, _device(req, "polyphase"))
    (single_bits,), (poly_bits,) = _set_values(single), _set_values(poly)
    assert single_bits == esme_alerts.filter_configuration({0x8014: True, 0x8015: False})
    assert poly_bits == esme_alerts.filter_configuration(
        {0x8014: True, 0x8015: False, 0x8003: True})


@pytest.mark.parametrize("settings, where", [
    ((("x810D", "On"),), "SupplierESMECommon/x810D"),
    ((("x8014", "Enable"),), "SupplierESMECommon/x8014"),     # a network operator's code
    ((("x81FF", "Enable"),), "SupplierESMECommon/x81FF"),     # no such alert
    ((), "ElectricitySupplierHANAlertSettings"),
])
def test_a_bad_alert_setting_is_refused_naming_it(settings, where):
    req = _alert_request("SupplierESMECommon", *settings)
    with pytest.raises(duis.DuisError) as info:
        transform.transform(req, _device(req))
    assert info.value.path.endswith(where)


def test_the_schema_refuses_an_alert_code_of_another_group_first():
    with pytest.raises(duis.DuisError) as info:
        _request("ECS25a1_6.22_SUCCESS_REQUEST_DUIS.XML",
                 ("<sr:x810D>Enable</sr:x810D>", "<sr:x8014>Enable</sr:x8014>"))
    assert info.value.path.endswith("SupplierESMECommon")


def test_a_forced_use_case_must_match_the_behaviour():
    req = _request("ECS25a1_6.22_SUCCESS_REQUEST_DUIS.XML")
    with pytest.raises(duis.DuisError) as info:
        transform.transform(req, _device(req), "ECS25a3")
    assert "ECS25a1" in str(info.value)


def test_power_thresholds_are_written_in_order_and_checked():
    req = _request("ECS34_6.12_SUCCESS_REQUEST_DUIS.XML")
    assert _set_values(transform.transform(req, _device(req))) == [[2300, 4600]]
    bad = _request("ECS34_6.12_SUCCESS_REQUEST_DUIS.XML",
                   (">2300<", ">4601<"))
    with pytest.raises(duis.DuisError) as info:
        transform.transform(bad, _device(bad))
    assert info.value.path.endswith("LowMediumPowerThreshold")


def test_a_schedule_naming_an_undefined_special_day_is_refused():
    req = _request("ECS46d_6.14.3_IMMEDIATE_APC_INPUT_SUCCESS_REQUEST_DUIS.XML",
                   ('<sr:SpecialDaysApplicability identifier="2"/>',
                    '<sr:SpecialDaysApplicability identifier="9"/>'))
    with pytest.raises(duis.DuisError) as info:
        transform.transform(req, _device(req))
    assert "[9]" in str(info.value) and "SpecialDaysApplicability" in info.value.path


def test_a_switch_type_must_name_an_eui():
    req = _request("ECS46c_6.14.2_IMMEDIATE_SOME_OPTIONALS_SUCCESS_REQUEST_DUIS.XML")
    switches = tuple(c if c.name != "SwitchTypeAndId" or c.attribute("index") != "2" else
                     dataclasses.replace(c, children=(duis.Element("HCALCS", "00-DB-12"),))
                     for c in req.body.children)
    req = dataclasses.replace(req, body=dataclasses.replace(req.body, children=switches))
    with pytest.raises(duis.DuisError) as info:
        transform.transform(req, _device(req))
    assert info.value.path.endswith("SwitchTypeAndId[2]/HCALCS")


def test_a_quarterly_billing_calendar_bills_on_each_quarter_from_its_start_month():
    req = _request("ECS30a_6.8_SUCCESS_REQUEST_DUIS.XML",
                   ("<sr:BillingPeriodStartMonth>1<", "<sr:BillingPeriodStartMonth>11<"))
    cmd = transform.transform(req, _device(req))
    assert cmd.use_case.use_case == "ECS30a"
    (entries,) = _set_values(cmd)
    msg = decode(cmd.apdu, verify=False)
    dates = [n.value for n in msg.tree.walk() if n.kind == "axdr.octet-string"
             and isinstance(n.value, bytes) and len(n.value) == 5]
    assert len(entries) == 4
    assert dates == [bytes.fromhex(f"FFFF{m:02X}01FF") for m in (2, 5, 8, 11)]


def test_a_monthly_billing_calendar_stays_ecs30():
    req = _request("ECS30_6.8_SUCCESS_REQUEST_DUIS.XML")
    assert transform.choose_use_case(req, _device(req)) == "ECS30"
