"""Metrology: the energy an ESME measures between two instants, from its load model.

The hardware front end (`firmware.core.hal.Metrology`, e.g. the board's `LoadProfile`)
gives active import energy. An ESME also measures export (a second `Metrology`, e.g. a
PV generation shape), reactive energy (from the power factor: varh = Wh x tan(phi),
lagging on import and export alike), the secondary element of a twin element meter
(its own `Metrology`) and, on a polyphase meter, each phase (fixed shares of the total).

Energies are integers in mWh / mvarh so registers never drift; the engine shows Wh.
A load model that repeats every day (`daily_periodic`, true of `LoadProfile`) is
integrated from midnight to each second of the day it is asked about, once, and an
interval's energy is the difference of two such cumulative values: so how a day is
cut into intervals (reads, commands, tariff switches) never changes its sums, and a
simulated year takes a fraction of a second. Other models are integrated interval by
interval (each rounded to the mWh).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from firmware.core.hal import Metrology
from firmware.esme.engine.errors import EngineError

DAY_S = 86_400

# An interval's energies: active import, active export, reactive import, reactive
# export, secondary element active import, active import on phases L1, L2, L3 (all
# mWh / mvarh; the phases are 0 unless the meter is polyphase).
Energy = tuple[int, int, int, int, int, int, int, int]
NO_ENERGY: Energy = (0,) * 8


@dataclass(frozen=True)
class LoadModel:
    """What the meter measures. `phase_shares` has one entry per phase (1 or 3) and
    sums to 1; `secondary` is only for a twin element meter."""

    active_import: Metrology
    active_export: Metrology | None = None
    secondary: Metrology | None = None
    power_factor: float = 1.0
    phase_shares: tuple[float, ...] = (1.0,)
    daily_periodic: bool = False
    # An upper bound of the active import power (kW) the load can draw, None when
    # unknown: while the load-limit threshold is above it the limiter need not wake.
    peak_kw: float | None = None

    def validate(self) -> None:
        if not 0.0 < self.power_factor <= 1.0:
            raise EngineError("load.power_factor", f"{self.power_factor} is not in (0, 1]")
        if len(self.phase_shares) not in (1, 3) or any(s < 0 for s in self.phase_shares) \
                or not math.isclose(sum(self.phase_shares), 1.0):
            raise EngineError("load.phase_shares", "1 or 3 non-negative shares summing to 1")


class MeasuringElement:
    """Integrates a `LoadModel` over intervals given in POSIX seconds."""

    def __init__(self, model: LoadModel) -> None:
        model.validate()
        self.model = model
        self._tan_phi = math.tan(math.acos(model.power_factor))
        self._shares = model.phase_shares if len(model.phase_shares) == 3 else ()
        self._cache: dict[tuple[int, int], Energy] = {}
        self._from_midnight: dict[int, Energy] = {}

    def energy(self, t0: int, t1: int) -> Energy:
        """Energies measured in [t0, t1)."""
        if not self.model.daily_periodic:
            return self._round(*self._integrate(t0, t1))
        key = (t0 % DAY_S, t1 - t0)
        found = self._cache.get(key)
        if found is None:
            days, end = divmod(key[0] + key[1], DAY_S)
            a, b = self._cumulative(key[0]), self._cumulative(end)
            whole = self._cumulative(DAY_S)
            found = self._cache[key] = tuple(days * w + y - x
                                             for w, x, y in zip(whole, a, b))
        return found

    def power_w(self, t: int) -> float:
        """Instantaneous active import power (W)."""
        return self.model.active_import.active_power_kw(_dt(t)) * 1000.0

    def _cumulative(self, second: int) -> Energy:
        """Energies from midnight to `second` of the day (0..86,400), rounded once."""
        found = self._from_midnight.get(second)
        if found is None:
            found = self._from_midnight[second] = self._round(*self._integrate(0, second))
        return found

    def _integrate(self, t0: int, t1: int) -> tuple[float, float, float]:
        start, end = _dt(t0), _dt(t1)
        m = self.model
        return (m.active_import.energy_kwh(start, end) * 1e6,
                m.active_export.energy_kwh(start, end) * 1e6 if m.active_export else 0.0,
                m.secondary.energy_kwh(start, end) * 1e6 if m.secondary else 0.0)

    def _round(self, imp: float, exp: float, sec: float) -> Energy:
        phases = tuple(round(imp * share) for share in self._shares) or (0, 0, 0)
        return (round(imp), round(exp), round(imp * self._tan_phi),
                round(exp * self._tan_phi), round(sec), *phases)


def _dt(t: int) -> datetime:
    return datetime.fromtimestamp(t, UTC)
