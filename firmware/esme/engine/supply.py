"""The supply side of an ESME: contactor states, load limiting and voltage quality
settings (what the engine acts on; the engine does the acting)."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass

from firmware.esme.engine.errors import EngineError, check_int


class SupplyState(enum.IntEnum):
    """The DLMS disconnect control states: disconnected, connected, ready for reconnection."""

    DISABLED = 0
    ENABLED = 1
    ARMED = 2


class DisableReason(enum.IntEnum):
    NONE = 0
    REMOTE = 1
    CREDIT = 2
    LOAD_LIMIT = 3


@dataclass(frozen=True)
class LoadLimitConfig:
    """Active import above `threshold_w` averaged over `period_s` counts a load limit
    event; with `disable` the supply is disabled then armed, and re-enabled after
    `restoration_s`. A threshold of 0 turns load limiting off."""

    threshold_w: int = 0
    period_s: int = 60
    disable: bool = False
    restoration_s: int = 1800

    def validate(self) -> None:
        check_int("load_limit.threshold_w", self.threshold_w, 0)
        check_int("load_limit.period_s", self.period_s, 1, 86_400)
        check_int("load_limit.restoration_s", self.restoration_s, 0)

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class VoltageConfig:
    """RMS voltage thresholds (volts) and the time a voltage must stay beyond one
    before it counts (`period_s`); averages are over the measuring period (the tick).
    Nominal 230 V; the defaults are the usual GB settings (+10% / -6%, swell, sag)."""

    sag_v: float = 200.0
    swell_v: float = 264.0
    period_s: int = 30
    average_over_v: float = 253.0
    average_under_v: float = 216.2

    def validate(self) -> None:
        check_int("voltage.period_s", self.period_s, 0, 86_400)
        if not 0 < self.sag_v < self.average_under_v < self.average_over_v < self.swell_v:
            raise EngineError("voltage", "needs 0 < sag < average under < average over "
                                         "< swell")

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class AlcsSchedule:
    """When an auxiliary load control switch is on: (seconds after midnight, on?) points,
    each day, moved later by the randomised offset like tariff switches."""

    points: tuple[tuple[int, bool], ...] = ()

    def validate(self, where: str) -> None:
        last = -1
        for i, (at, _) in enumerate(self.points):
            check_int(f"{where}[{i}].time", at, last + 1, 86_399)
            last = at
