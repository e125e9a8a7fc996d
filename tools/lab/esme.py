"""The lab's ESME: the DLMS device (`firmware.esme.Esme`) and its metering engine on one
board, and the ZSE Metering attributes its HAN endpoint serves from the engine.

The ESME owns its engine (the firmware binds its COSEM objects to it); the board gives
it the load it measures, the contactor, the buttons and the random source. A new meter
leaves the lab's factory on a single-rate credit tariff, so the IHD has a cost to show.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from boards.board import Board, LoadProfile
from boards.nvm import SqliteStore
from boards.peripherals import VirtualButtons, VirtualContactor
from boards.simulator import Simulator
from firmware.core.credentials import DeviceCredentials, TrustAnchors
from firmware.esme.engine import (BUTTON_BOOST, BUTTON_EMERGENCY_CREDIT, BUTTON_ENABLE,
                                  LoadModel, MeterEngine, SupplyState, single_rate)
from firmware.esme.esme import Esme
from firmware.esme.objects import Variant

PRICE_PER_KWH = 27_000           # currency units (1000 to the penny): 27 p/kWh
STANDING_CHARGE = 55_000         # 55 p a day
DEFAULT_LOAD = LoadProfile((0.4,))
DAY_START_KEY = "lab/day_start"  # [date, import Wh] at the start of the device's day

# ZSE Metering (0x0702) attribute ids the ESME serves.
CURRENT_SUMMATION_DELIVERED = 0x0000
SUPPLY_STATUS = 0x0014
STATUS = 0x0200
UNIT_OF_MEASURE = 0x0300
MULTIPLIER = 0x0301
DIVISOR = 0x0302
SUMMATION_FORMATTING = 0x0303
DEMAND_FORMATTING = 0x0304
METERING_DEVICE_TYPE = 0x0306
INSTANTANEOUS_DEMAND = 0x0400
CURRENT_DAY_CONSUMPTION_DELIVERED = 0x0401
BILL_TO_DATE_DELIVERED = 0x0A00
KWH, ELECTRIC_METERING = 0x00, 0x00
WH_DIVISOR = 1000                # values in Wh / W with divisor 1000 read as kWh / kW
FORMATTING = 0xBB                # 7 digits left, 3 right, leading zeros suppressed
# ZSE supply status: 0 off, 1 off/armed, 2 on.
_ZSE_SUPPLY = {SupplyState.DISABLED: 0, SupplyState.ARMED: 1, SupplyState.ENABLED: 2}


@dataclass
class EsmeBoard:
    """An ESME on its board: the device, its engine and the hardware they drive."""

    board: Board
    esme: Esme
    contactor: VirtualContactor
    buttons: VirtualButtons
    load: LoadProfile
    sim: Simulator

    @property
    def engine(self) -> MeterEngine:
        return self.esme.engine

    def power_kw(self) -> float:
        """The load drawn now (nothing while the supply is off)."""
        if self.engine.supply_state is not SupplyState.ENABLED:
            return 0.0
        return self.load.active_power_kw(self.sim.now())

    def day_start(self) -> int:
        """The import register (Wh) at the start of today (UTC), as captured at midnight
        or when the meter was installed."""
        today = self.sim.now().date().isoformat()
        saved = self.esme.store.get(DAY_START_KEY)
        if saved is None or saved[0] != today:
            saved = [today, self.engine.active_import_wh]
            self.esme.store.put(DAY_START_KEY, saved)
        return saved[1]

    def _midnight(self) -> None:
        self.day_start()
        self._schedule_midnight()

    def _schedule_midnight(self) -> None:
        now = self.sim.now()
        midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
        self.sim.schedule(self._midnight, "esme day start", at=midnight)


def build_esme(board: Board, credentials: DeviceCredentials, anchors: TrustAnchors,
               store: SqliteStore, sim: Simulator, top_up_key: bytes) -> EsmeBoard:
    """The ESME of `board`, resuming from `store` when it already holds a meter;
    `top_up_key` checks the UTRNs its supplier issues."""
    load = board.load or DEFAULT_LOAD
    contactor = VirtualContactor(sim)
    buttons = VirtualButtons(sim, [BUTTON_ENABLE, BUTTON_EMERGENCY_CREDIT, BUTTON_BOOST])
    new = MeterEngine.committed_time(store) is None
    esme = Esme(credentials, anchors, store, sim, Variant(board.variant.value),
                load=LoadModel(load, daily_periodic=True, peak_kw=max(load.slots_kw)),
                contactor=contactor,
                buttons=buttons, rng=sim.random, top_up_key=top_up_key)
    if new:
        esme.engine.set_tariff(single_rate(PRICE_PER_KWH, STANDING_CHARGE))
    unit = EsmeBoard(board, esme, contactor, buttons, load, sim)
    unit.day_start()
    unit._schedule_midnight()
    return unit


class MeteringAttributes(MutableMapping[int, Any]):
    """The Metering server's attribute store, read live from the ESME (the IHD's reads
    always see the current registers); nothing here is writable."""

    def __init__(self, unit: EsmeBoard) -> None:
        self.unit = unit
        self._fixed = {STATUS: 0, UNIT_OF_MEASURE: KWH, MULTIPLIER: 1,
                       DIVISOR: WH_DIVISOR, SUMMATION_FORMATTING: FORMATTING,
                       DEMAND_FORMATTING: FORMATTING,
                       METERING_DEVICE_TYPE: ELECTRIC_METERING}
        self._live = {
            CURRENT_SUMMATION_DELIVERED: lambda: unit.engine.active_import_wh,
            SUPPLY_STATUS: lambda: _ZSE_SUPPLY[unit.engine.supply_state],
            INSTANTANEOUS_DEMAND: lambda: round(unit.power_kw() * 1000),
            CURRENT_DAY_CONSUMPTION_DELIVERED:
                lambda: unit.engine.active_import_wh - unit.day_start(),
            # Bill to date in pence (the cost register is in 1/1000 p).
            BILL_TO_DATE_DELIVERED: lambda: unit.engine.billing_period_cost // 1000,
        }

    def __getitem__(self, attr: int) -> Any:
        if attr in self._live:
            return self._live[attr]()
        return self._fixed[attr]

    def __contains__(self, attr: object) -> bool:
        return attr in self._live or attr in self._fixed

    def __iter__(self) -> Iterator[int]:
        return iter([*self._fixed, *self._live])

    def __len__(self) -> int:
        return len(self._fixed) + len(self._live)

    def __setitem__(self, attr: int, value: Any) -> None:
        raise KeyError(f"Metering attribute 0x{attr:04X} is read only")

    def __delitem__(self, attr: int) -> None:
        raise KeyError(f"Metering attribute 0x{attr:04X} cannot be removed")
