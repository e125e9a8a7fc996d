"""ECS46c (SRV 6.14.2, the auxiliary load control switch calendar) and ECS46d (6.14.3,
the auxiliary controller calendar): the DUIS schedules -> the passive auxiliary load
control calendar (0-1:12.0.2) and its special days (0-1:11.0.3), activated at the
request's execution date-time (now, a future time, or cancelled for DUIS's 3000-12-31).

Each schedule entry runs the set output signals script table (0-0:10.0.103) at its
switch time on its days of the week and special days, between its start and end dates.
ECS46c's script is the switch (high byte) and 1 activate / 2 deactivate (low byte), and
it first writes each named switch's type and identifier (zero for an ALCS, the EUI-64
of an HCALCS); ECS46d's is the controller with 0x10 (or 0x20 for input from the
controlled load) in the high byte and 0x80 | the commanded level in the low byte.
(Checked byte for byte against the RTDS ECS46c and ECS46d pre-commands.)
"""

from __future__ import annotations

from typing import Callable

from gbcs.axdr import array_node, data_node, structure_node
from gbcs.node import Node
from tools.headend.context import (NO_WINDOW, Context, activation_time, date_element,
                                   obis, xs_time)
from tools.headend.duis import DuisError, Element

_SCRIPTS = "0-0:10.0.103.255"          # set output signals script table
_CALENDAR = "0-1:12.0.2.255"           # auxiliary load control calendar (passive)
_SPECIAL_DAYS = "0-1:11.0.3.255"       # its special days (passive)
# The activation times (class 9000, attribute 6) of the calendar and its special days.
_ACTIVATIONS = ("0-0:94.44.128.26", "0-0:94.44.128.35")
_ACTIVATE_PASSIVE_TIME = 6
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_ACTIVATE, _DEACTIVATE = 1, 2
_OUTPUT, _INPUT_FROM_LOAD, _LEVEL_FLAG = 0x10, 0x20, 0x80


def _index(element: Element, attribute: str, lo: int, hi: int, path: str) -> int:
    text = element.attribute(attribute) or ""
    if not text.isdigit() or not lo <= int(text) <= hi:
        raise DuisError(None, f"{attribute} {text!r} is not in {lo}..{hi}", path)
    return int(text)


def _special_days(days: list[Element], attribute: str, path: str) -> tuple[Node, list[int]]:
    """The special days table's entries (index, date, day id) and the indexes in order."""
    entries, indexes = [], []
    for day in days:
        n = _index(day, attribute, 1, 20, path)
        entries.append(structure_node("", [
            data_node("", n, "long-unsigned"),
            data_node("", date_element(day, f"{path}[{n}]"), "octet-string"),
            data_node("", n, "unsigned")]))
        indexes.append(n)
    if len(set(indexes)) != len(indexes):
        raise DuisError(None, "a special day is defined twice", path)
    return array_node("", entries), indexes


def _entry(n: int, schedule: Element, script: int, times: Element | None,
           special: list[int], attribute: str, path: str) -> Node:
    """One schedule entry of the calendar."""
    if times is None:
        raise DuisError(None, "missing the schedule's switch time and dates", path)
    weekdays = {d.value("DayOfWeekID") for d in (
        schedule.find("DaysOfWeekApplicability") or Element("")).find_all(
        "DayOfWeekApplicability")}
    applies = {_index(s, attribute, 1, 20, f"{path}/SpecialDaysApplicability")
               for s in schedule.find_all("SpecialDaysApplicability")}
    if not applies <= set(special):
        raise DuisError(None, f"special days {sorted(applies - set(special))} are not "
                        "defined", f"{path}/SpecialDaysApplicability")
    start, end = times.find("StartDate"), times.find("EndDate")
    if start is None or end is None:
        raise DuisError(None, "missing StartDate or EndDate", path)
    return structure_node("", [
        data_node("", n, "long-unsigned"), data_node("", 0xFF, "boolean"),
        data_node("", obis(_SCRIPTS), "octet-string"),
        data_node("", script, "long-unsigned"),
        data_node("", xs_time(times.value("SwitchTime") or "", f"{path}/SwitchTime"),
                  "octet-string"),
        data_node("", NO_WINDOW, "long-unsigned"),
        data_node("", "".join("1" if d in weekdays else "0" for d in _WEEKDAYS),
                  "bit-string"),
        data_node("", "".join("1" if i in applies else "0" for i in special), "bit-string"),
        data_node("", date_element(start, f"{path}/StartDate"), "octet-string"),
        data_node("", date_element(end, f"{path}/EndDate"), "octet-string")])


def _calendar(ctx: Context, entries: list[Node], days: Node) -> list[tuple]:
    when = data_node("", activation_time(ctx.request.execution_datetime), "octet-string")
    return [("set", 11, obis(_SPECIAL_DAYS), 2, days),
            ("set", 10, obis(_CALENDAR), 2, array_node("", entries)),
            *(("set", 9000, obis(ln), _ACTIVATE_PASSIVE_TIME, when) for ln in _ACTIVATIONS)]


def switch_calendar(ctx: Context) -> list[tuple]:
    """ECS46c: the switches' types and identifiers, then the calendar."""
    body, base = ctx.request.body, f"Request/Body/{ctx.request.service}"
    types = []
    for switch in body.find_all("SwitchTypeAndId"):
        n = _index(switch, "index", 1, 5, f"{base}/SwitchTypeAndId")
        hcalcs = switch.find("HCALCS")
        if hcalcs is not None:
            try:
                eui = bytes.fromhex(hcalcs.text.replace("-", ""))
            except ValueError:
                eui = b""
            if len(eui) != 8:
                raise DuisError(None, f"HCALCS {hcalcs.text!r} is not an EUI-64",
                                f"{base}/SwitchTypeAndId[{n}]/HCALCS")
        elif switch.find("ALCS") is not None:
            eui = bytes(8)
        else:
            raise DuisError(None, "SwitchTypeAndId is neither ALCS nor HCALCS",
                            f"{base}/SwitchTypeAndId[{n}]")
        types.append(("set", 1, obis(f"0-0:94.44.0.{20 + n}"), 2,
                      data_node("", eui, "octet-string")))
    days_path = f"{base}/ALCSHCALCSSpecialDays/ALCSHCALCSSpecialDay"
    days, special = _special_days(
        (body.find("ALCSHCALCSSpecialDays") or Element("")).find_all("ALCSHCALCSSpecialDay"),
        "index", days_path)
    entries = []
    schedules = body.find_all("ALCSHCALCSConnectionSchedule")
    if not schedules:
        raise DuisError(None, "no ALCSHCALCSConnectionSchedule", base)
    for n, schedule in enumerate(schedules, 1):
        path = f"{base}/ALCSHCALCSConnectionSchedule[{n}]"
        action = schedule.find("ActivateDeactivateSwitch")
        if action is None or not action.children:
            raise DuisError(None, "missing ActivateDeactivateSwitch", path)
        switch = _index(action, "index", 1, 5, f"{path}/ActivateDeactivateSwitch")
        what = {"ActivateSwitch": _ACTIVATE, "DeactivateSwitch": _DEACTIVATE}.get(
            action.children[0].name)
        if what is None:
            raise DuisError(None, f"{action.children[0].name} is not Activate or "
                            "DeactivateSwitch", f"{path}/ActivateDeactivateSwitch")
        entries.append(_entry(n, schedule, switch << 8 | what,
                              schedule.find("ALCSScheduleDatesAndTime"), special, "index",
                              path))
    return types + _calendar(ctx, entries, days)


def controller_calendar(ctx: Context) -> list[tuple]:
    """ECS46d: the calendar of the auxiliary controllers' commanded levels."""
    body, base = ctx.request.body, f"Request/Body/{ctx.request.service}"
    days_path = (f"{base}/AuxiliaryControllerSpecialDayDefinitions/"
                 "AuxiliaryControllerSpecialDayDefinition")
    days, special = _special_days(
        (body.find("AuxiliaryControllerSpecialDayDefinitions") or Element("")).find_all(
            "AuxiliaryControllerSpecialDayDefinition"), "identifier", days_path)
    entries = []
    for n, schedule in enumerate(body.find_all("AuxiliaryControllerSchedule"), 1):
        path = f"{base}/AuxiliaryControllerSchedule[{n}]"
        action = schedule.find("AuxiliaryControllerAction")
        if action is None:
            raise DuisError(None, "missing AuxiliaryControllerAction", path)
        where = f"{path}/AuxiliaryControllerAction"
        controller = _index(action, "auxiliaryControllerN", 1, 5, where)
        level_text = action.value("CommandedStateLevel") or ""
        if not level_text.isdigit() or int(level_text) > 100:
            raise DuisError(None, f"CommandedStateLevel {level_text!r} is not 0..100",
                            f"{where}/CommandedStateLevel")
        kind = _INPUT_FROM_LOAD if action.find("InputFromControlledLoad") is not None \
            else _OUTPUT
        script = (kind | controller) << 8 | _LEVEL_FLAG | int(level_text)
        entries.append(_entry(n, schedule, script,
                              schedule.find("AuxiliaryControllerSchedulePeriodAndTime"),
                              special, "identifier", path))
    return _calendar(ctx, entries, days)


BUILDERS: dict[str, Callable[[Context], list[tuple]]] = {
    "ECS46c": switch_calendar, "ECS46d": controller_calendar}
