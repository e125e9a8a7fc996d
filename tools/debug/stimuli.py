"""Physical stimuli the debugger applies to the premises' hardware, as an engineer at
the meter board would: the load, a button, the mains, the tamper switch, the battery.
Each acts at the current virtual instant through what the board or firmware offers
(the ESME's metering engine, the GSME's button and battery, the hub's mains), and
returns the line the debugger prints.
"""

from __future__ import annotations

from boards.board import DeviceType, LoadProfile
from boards.peripherals import PeripheralError
from firmware.esme.engine import LoadModel
from firmware.esme.engine.errors import EngineError
from tools.debug import state
from tools.lab.esme import EsmeBoard
from tools.lab.premises import Lab

MAX_KW = 100.0
GSME_BUTTON = "A"
TAMPER_DETECT = 0x8F3F     # Unauthorised Physical Access - Tamper Detect


class StimulusError(Exception):
    """A stimulus the device cannot take (or refused): says which and why."""


def set_load(unit: EsmeBoard, kw: float) -> None:
    """From now on the ESME measures a constant `kw`: what it measured so far is
    committed first, so the change takes effect at this instant."""
    profile = LoadProfile((kw,))
    unit.load = profile
    unit.engine.set_load(LoadModel(profile, daily_periodic=True, peak_kw=kw))


def load(lab: Lab, device: str, kw_text: str) -> str:
    unit = state.esme(lab, device)
    try:
        kw = float(kw_text)
    except ValueError:
        kw = -1.0
    if not 0 <= kw <= MAX_KW:
        raise StimulusError(f"load {device} {kw_text!r}: expected kW from 0 to {MAX_KW:g}")
    set_load(unit, kw)
    return f"{unit.board.name} load {kw:g} kW from {lab.sim.now().isoformat()}"


def press(lab: Lab, device: str, button: str) -> str:
    kind = state.device_kind(lab, device)
    now = lab.sim.now().isoformat()
    if kind is DeviceType.ESME:
        unit = state.esme(lab, device)
        try:
            unit.buttons.press(button)
        except PeripheralError as exc:
            raise StimulusError(str(exc)) from None
        return f"{unit.board.name} button {button} pressed at {now}"
    if kind is DeviceType.GSME:
        if button != GSME_BUTTON:
            raise StimulusError(f"press {device} {button!r}: the GSME has one button, "
                                f"{GSME_BUTTON}")
        gas = state.gsme(lab, device)
        acted = gas.gsme.press_button()
        return f"{gas.board.name} button {button} pressed at {now}: " + \
            ("valve opened" if acted else "not armed, nothing done")
    raise StimulusError(f"press {device}: only ESME and GSME buttons are emulated")


def power(lab: Lab, device: str, how: str) -> str:
    if how not in ("on", "off"):
        raise StimulusError(f"power {device} {how!r}: expected on or off")
    kind = state.device_kind(lab, device)
    now = lab.sim.now().isoformat()
    if kind is DeviceType.ESME:
        unit = state.esme(lab, device)
        try:
            unit.engine.power_fail() if how == "off" else unit.engine.power_restore()
        except EngineError as exc:
            raise StimulusError(f"power {device} {how}: {exc}") from None
        return f"{unit.board.name} mains {how} at {now}"
    if kind is DeviceType.CHF:
        hub = lab.hub
        if not hasattr(hub, "power_cut"):
            raise StimulusError("power chf: this lab's hub has no mains control")
        if how == "off":
            if not hub.powered:
                raise StimulusError("power chf off: the hub is already off")
            hub.power_cut()
            return f"chf mains off at {now} (the DCC hears of it if it lasts 3 minutes)"
        if hub.powered:
            raise StimulusError("power chf on: the hub is not off")
        notice = hub.power_restored()
        told = "restoration notice sent" if notice is not None else \
            "under 3 minutes: logged only"
        return f"chf mains on at {now} ({told})"
    raise StimulusError(f"power {device}: only the ESME and the CHF are mains powered "
                        "in the lab")


def tamper(lab: Lab, device: str) -> str:
    kind = state.device_kind(lab, device)
    now = lab.sim.now().isoformat()
    if kind is DeviceType.ESME:
        unit = state.esme(lab, device)
        unit.engine.tamper_detected()
        return f"{unit.board.name} tamper switch opened at {now} (alert 0x8F3F)"
    if kind is DeviceType.GSME:
        gas = state.gsme(lab, device)
        gas.gsme.event(TAMPER_DETECT, security=True)
        gas.gsme.alert_event(TAMPER_DETECT)
        return (f"{gas.board.name} tamper switch opened at {now} (alert 0x8F3F, sent at "
                "its next wake)")
    raise StimulusError(f"tamper {device}: only the ESME and the GSME have tamper switches")


def battery(lab: Lab, device: str, percent_text: str) -> str:
    if state.device_kind(lab, device) is not DeviceType.GSME:
        raise StimulusError(f"battery {device}: only the GSME runs on a battery in the lab")
    gas = state.gsme(lab, device)
    try:
        target = float(percent_text) / 100
    except ValueError:
        target = -1.0
    level = gas.battery.level()
    if not 0 <= target <= 1:
        raise StimulusError(f"battery {device} {percent_text!r}: expected a percentage "
                            "from 0 to 100")
    if target > level:
        raise StimulusError(f"battery {device} {percent_text}: the cell is at "
                            f"{level * 100:.1f} % and only discharges")
    gas.battery.consume(level - target)
    low = " (low: alerted at its next wake)" if target <= state.LOW_BATTERY else ""
    return f"{gas.board.name} battery {target * 100:.1f} % at {lab.sim.now().isoformat()}{low}"

