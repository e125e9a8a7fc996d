"""ECS25a/a1/a2/a3/b/b3 (SRV 6.22 configure alert behaviour on an ESME): the DUIS
alert settings -> a SET of one alarm filter configuration object.

The DUIS body names one behaviour (alerts, HAN alerts, alarms or logging, of the
supplier or of the network operator) and, per alert code, Enable or Disable. GBCS
writes it as a 512-bit bit-string to that behaviour's alarm filter (0-30:97.98.n for
the supplier, 0-33:97.98.n for the network operator): counting bits from the last one,
bit 256 + (code & 0xFF) marks the code as changed by this command and bit (code & 0xFF)
is its new state (1 enabled). The supplier's codes are 0x81xx, the network operator's
0x80xx, so the filter's owner supplies the high byte. (Checked bit for bit against the
RTDS ECS25a1, ECS25a3, ECS25b and ECS25b3 commands.) A device's variant decides which
phase groups apply: the DCC leaves out a polyphase group for a single phase meter and a
single phase group for a polyphase one, as the RTDS ECS25b command does.
"""

from __future__ import annotations

from gbcs.alerts import ALERT_CODES
from gbcs.axdr import data_node
from gbcs.node import Node
from tools.headend.context import Context, obis
from tools.headend.duis import DuisError, Element

# DUIS behaviour element -> (use case, alarm filter, the alert code's high byte).
BEHAVIOURS: dict[str, tuple[str, str, int]] = {
    "ElectricitySupplierAlerts": ("ECS25a", "0-30:97.98.11.255", 0x81),
    "ElectricitySupplierHANAlertSettings": ("ECS25a1", "0-30:97.98.12.255", 0x81),
    "ElectricitySupplierAlarmSettings": ("ECS25a2", "0-30:97.98.13.255", 0x81),
    "ElectricitySupplierLoggingSettings": ("ECS25a3", "0-30:97.98.14.255", 0x81),
    "ElectricityNetworkOperatorAlerts": ("ECS25b", "0-33:97.98.11.255", 0x80),
    "ElectricityNetworkOperatorLoggingSettings": ("ECS25b3", "0-33:97.98.14.255", 0x80),
}
USE_CASES = frozenset(uc for uc, _, _ in BEHAVIOURS.values())

# The code groups inside a behaviour, and whether each applies to a polyphase meter
# (True), a single phase one (False) or both (None).
_GROUPS = {"SupplierESMECommon": None, "SupplierESMEPolyPhase": True,
           "NetworkOperatorESMECommon": None, "NetworkOperatorESMESinglePhase": False,
           "NetworkOperatorESMEPolyPhase": True}
_STATES = {"Enable": 1, "Disable": 0}
_FILTER_BITS = 512
_CHANGED = 256   # offset of the "changed" half, counted from the last bit


def behaviour(body: Element) -> Element | None:
    """The one behaviour element the body configures."""
    return next((c for c in body.children if c.name in BEHAVIOURS), None)


def use_case(body: Element) -> str | None:
    found = behaviour(body)
    return BEHAVIOURS[found.name][0] if found is not None else None


def settings(ctx: Context) -> dict[int, bool]:
    """alert code -> enabled, for the groups that apply to the device's variant."""
    base = f"Request/Body/{ctx.request.service}"
    found = behaviour(ctx.request.body)
    if found is None:
        raise DuisError(None, "no alert behaviour to configure", base)
    high = BEHAVIOURS[found.name][2]
    poly = ctx.device.variant == "polyphase"
    out: dict[int, bool] = {}
    for group in found.children:
        path = f"{base}/{found.name}/{group.name}"
        if group.name not in _GROUPS:
            raise DuisError(None, f"{group.name} is not an ESME alert group", path)
        if _GROUPS[group.name] not in (None, poly):
            continue
        for setting in group.children:
            try:
                code = int(setting.name.removeprefix("x"), 16)
            except ValueError:
                code = -1
            if not setting.name.startswith("x") or code >> 8 != high \
                    or code not in ALERT_CODES:
                raise DuisError(None, f"{setting.name} is not an alert code of {found.name}",
                                f"{path}/{setting.name}")
            if setting.text not in _STATES:
                raise DuisError(None, f"{setting.name} {setting.text!r} is not Enable or "
                                "Disable", f"{path}/{setting.name}")
            out[code] = bool(_STATES[setting.text])
    if not out:
        raise DuisError(None, f"no alert code of {found.name} applies to this meter",
                        f"{base}/{found.name}")
    return out


def filter_configuration(codes: dict[int, bool]) -> str:
    """The 512-bit alarm filter configuration for `codes` ('0'/'1' per bit)."""
    bits = ["0"] * _FILTER_BITS
    for code, enabled in codes.items():
        low = code & 0xFF
        bits[_FILTER_BITS - 1 - (_CHANGED + low)] = "1"
        if enabled:
            bits[_FILTER_BITS - 1 - low] = "1"
    return "".join(bits)


def _configure(uc: str):
    def build(ctx: Context) -> list[tuple]:
        """The SET of the behaviour's alarm filter."""
        codes = settings(ctx)
        found = behaviour(ctx.request.body)
        if BEHAVIOURS[found.name][0] != uc:
            raise DuisError(None, f"{found.name} is configured by "
                            f"{BEHAVIOURS[found.name][0]}, not {uc}",
                            f"Request/Body/{ctx.request.service}/{found.name}")
        value: Node = data_node("", filter_configuration(codes), "bit-string")
        return [("set", 1, obis(BEHAVIOURS[found.name][1]), 2, value)]
    return build


BUILDERS = {uc: _configure(uc) for uc in USE_CASES}
