"""The lab's ESME: the DLMS device (`firmware.esme.Esme`) and its metering engine on one
board, and what the board adds for the ZSE clusters its HAN endpoint publishes
(`tools.lab.zse`): the registers at the start of the day, the tenancy in force and the
supplier's message.

The ESME owns its engine (the firmware binds its COSEM objects to it); the board gives
it the load it measures, the contactor, the buttons and the random source. A new meter
leaves the lab's factory on a single-rate credit tariff, so the IHD has a cost to show.

Change of tenancy (ECS12) writes the restrict-data date-time (0-0:94.44.3.2). From that
instant the HAN must not show the previous tenant's data: the board marks the import
and cost registers when the date-time comes (at once when it is already past: what
came before cannot be told apart any more, so it is all hidden), and today's figures
count from the mark.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from boards.board import Board, LoadProfile
from boards.nvm import SqliteStore
from boards.peripherals import VirtualButtons, VirtualContactor
from boards.simulator import Simulator
from firmware.core.credentials import DeviceCredentials, TrustAnchors
from firmware.esme.cosem import AccessError
from firmware.esme.engine import (BUTTON_BOOST, BUTTON_EMERGENCY_CREDIT, BUTTON_ENABLE,
                                  LoadModel, MeterEngine, SupplyState, single_rate)
from firmware.esme.esme import Esme
from firmware.esme.objects import Variant, obis
from gbcs.cosem import parse_datetime

PRICE_PER_KWH = 27_000           # currency units (1000 to the penny): 27 p/kWh
STANDING_CHARGE = 55_000         # 55 p a day
DEFAULT_LOAD = LoadProfile((0.4,))
DAY_START_KEY = "lab/day_start"  # [date, import Wh, cost] at the start of the device's day
TENANCY_KEY = "lab/tenancy"      # the registers when the tenancy in force began
MESSAGE_KEY = "lab/message"      # the supplier message as published on the HAN
RESTRICT_DATA = obis("0-0:94.44.3.2")     # restrict data date-time (ECS12)
SUPPLIER_MESSAGE = obis("0-2:96.13.1")    # supplier message for the display (ECS10)
DATA = 1                                  # COSEM Data class


@dataclass(frozen=True)
class Tenancy:
    """The tenancy in force: when it began and the registers then (Wh, currency units)."""

    start: datetime
    import_wh: int
    cost: int


@dataclass(frozen=True)
class SupplierMessage:
    """The supplier's message as the HAN publishes it: a new id for each new text."""

    id: int
    text: str
    since: datetime
    confirmed: datetime | None = None


@dataclass
class EsmeBoard:
    """An ESME on its board: the device, its engine and the hardware they drive."""

    board: Board
    esme: Esme
    contactor: VirtualContactor
    buttons: VirtualButtons
    load: LoadProfile
    sim: Simulator
    _armed: set[str] = field(default_factory=set)   # tenancy starts with a timer set

    @property
    def engine(self) -> MeterEngine:
        return self.esme.engine

    @property
    def store(self) -> SqliteStore:
        return self.esme.store

    def power_kw(self) -> float:
        """The load drawn now (nothing while the supply is off)."""
        if self.engine.supply_state is not SupplyState.ENABLED:
            return 0.0
        return self.load.active_power_kw(self.sim.now())

    def _day(self) -> list:
        """[date, import Wh, cost] at the start of today (UTC), as captured at midnight
        or when the meter was installed."""
        today = self.sim.now().date().isoformat()
        saved = self.store.get(DAY_START_KEY)
        if saved is None or saved[0] != today:
            saved = [today, self.engine.active_import_wh, self.engine.cost_total]
            self.store.put(DAY_START_KEY, saved)
        elif len(saved) < 3:                    # a store from before costs were kept
            saved = [*saved, self.engine.cost_total]
            self.store.put(DAY_START_KEY, saved)
        return saved

    def day_start(self) -> int:
        """The import register (Wh) at the start of today."""
        return self._day()[1]

    def day_start_cost(self) -> int:
        """The cost register (currency units) at the start of today."""
        return self._day()[2]

    def midnight(self) -> datetime:
        now = self.sim.now()
        return datetime.combine(now.date(), datetime.min.time(), UTC)

    def _midnight(self) -> None:
        self._day()
        self.tenancy()
        self._schedule_midnight()

    def _schedule_midnight(self) -> None:
        self.sim.schedule(self._midnight, "esme day start",
                          at=self.midnight() + timedelta(days=1))

    # -- change of tenancy --------------------------------------------------------------

    def restrict_from(self) -> datetime | None:
        """The restrict-data date-time ECS12 set, or None (never set, or not a full
        date-time)."""
        try:
            value = self.esme.lookup(DATA, RESTRICT_DATA).load(self.esme, 2).value
        except AccessError:
            return None
        return parse_datetime(value) if isinstance(value, bytes) else None

    def tenancy(self) -> Tenancy | None:
        """The tenancy in force (None: no change of tenancy has taken effect). A
        restrict-data date-time still to come arms a timer that marks it when it comes."""
        start = self.restrict_from()
        saved = self.store.get(TENANCY_KEY)
        if start is None:
            return _tenancy(saved)
        if saved is not None and saved["start"] == start.isoformat():
            return _tenancy(saved)
        if start > self.sim.now():
            if start.isoformat() not in self._armed:
                self._armed.add(start.isoformat())
                self.sim.schedule(self.tenancy, "esme tenancy start", at=start)
            return _tenancy(saved)
        saved = {"start": start.isoformat(), "import_wh": self.engine.active_import_wh,
                 "cost": self.engine.cost_total}
        self.store.put(TENANCY_KEY, saved)
        return _tenancy(saved)

    # -- the supplier's message ---------------------------------------------------------

    def supplier_message(self) -> SupplierMessage | None:
        """The message ECS10 wrote for the display (None: none, or an empty one)."""
        try:
            value = self.esme.lookup(DATA, SUPPLIER_MESSAGE).load(self.esme, 2).value
        except AccessError:
            return None
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        text = value.strip() if isinstance(value, str) else ""
        saved = self.store.get(MESSAGE_KEY)
        if not text:
            return None
        if saved is None or saved["text"] != text:
            saved = {"id": (saved["id"] + 1) if saved else 1, "text": text,
                     "since": self.sim.now().isoformat(), "confirmed": None}
            self.store.put(MESSAGE_KEY, saved)
        return _message(saved)

    def confirm_message(self, message_id: int, at: datetime) -> bool:
        """A display confirmed message `message_id`; False when it is not the current one."""
        saved = self.store.get(MESSAGE_KEY)
        if saved is None or saved["id"] != message_id:
            return False
        if saved["confirmed"] is None:
            saved = {**saved, "confirmed": at.isoformat()}
            self.store.put(MESSAGE_KEY, saved)
        return True


def _tenancy(saved: dict | None) -> Tenancy | None:
    if saved is None:
        return None
    return Tenancy(datetime.fromisoformat(saved["start"]), saved["import_wh"], saved["cost"])


def _message(saved: dict) -> SupplierMessage:
    confirmed = saved["confirmed"]
    return SupplierMessage(saved["id"], saved["text"], datetime.fromisoformat(saved["since"]),
                           datetime.fromisoformat(confirmed) if confirmed else None)


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
    unit.tenancy()
    unit._schedule_midnight()
    return unit
