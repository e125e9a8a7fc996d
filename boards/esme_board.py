"""A running ESME on the virtual board: the firmware (`Esme`, its COSEM objects bound to
the metering engine) wired to the board's hardware as a board file describes it.

The board gives the store (SQLite, a file for a meter that must survive a kill), the
simulator's clock and seeded random source, the load (the board's `LoadProfile`, a
daily shape), the supply contactor, the buttons and the auxiliary load control
switches, and the key UTRNs are checked with. Started on a store that already holds a
meter, the simulator starts where the store's last commit left the meter's clock, so
the meter carries on from there (`restart`).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from pathlib import Path

from boards.board import Board, BoardError, DeviceType
from boards.nvm import MEMORY, SqliteStore
from boards.peripherals import VirtualButtons, VirtualContactor
from boards.simulator import Simulator
from firmware.core.credentials import DeviceCredentials, TrustAnchors
from firmware.esme.engine import (BUTTON_BOOST, BUTTON_EMERGENCY_CREDIT, BUTTON_ENABLE,
                                  LoadModel, MeterEngine)
from firmware.esme.esme import Esme
from firmware.esme.objects import Variant

ALCS_SWITCHES = 5


@dataclass
class EsmeBoard:
    """One ESME and its virtual hardware (inspect `contactor.history`, `buttons.presses`)."""

    board: Board
    sim: Simulator
    store: SqliteStore
    contactor: VirtualContactor
    buttons: VirtualButtons
    alcs: tuple[VirtualContactor, ...]
    esme: Esme

    def press(self, button: str) -> None:
        """Press a meter button now (A: enable when armed, B: emergency credit, boost)
        and run the press."""
        self.buttons.press(button)
        self.sim.run_until(self.sim.now())

    def close(self) -> None:
        self.store.close()


def build_esme(board: Board, credentials: DeviceCredentials, anchors: TrustAnchors, *,
               start: _dt.datetime, store: str | Path = MEMORY, seed: int = 0,
               top_up_key: bytes = b"", commit_every: str = "day") -> EsmeBoard:
    """The ESME of `board` on a fresh simulator from `start` (or, for a store that holds
    a meter, from the time of its last commit)."""
    if board.type is not DeviceType.ESME:
        raise BoardError(board.source or board.name, "type",
                         f"a {board.type.value} board cannot run ESME firmware")
    if credentials.eui != board.eui:
        raise BoardError(board.source or board.name, "eui",
                         f"credentials are for {credentials.eui.hex().upper()}, not "
                         f"{board.eui_hex.upper()}")
    nvm = SqliteStore(store)
    committed = MeterEngine.committed_time(nvm)
    sim = Simulator(committed or start, seed, keep_trace=False)
    contactor = VirtualContactor(sim)
    buttons = VirtualButtons(sim, (BUTTON_ENABLE, BUTTON_EMERGENCY_CREDIT, BUTTON_BOOST))
    alcs = tuple(VirtualContactor(sim, closed=False) for _ in range(ALCS_SWITCHES))
    load = (LoadModel(board.load, daily_periodic=True, peak_kw=max(board.load.slots_kw))
            if board.load is not None else None)
    variant = Variant((board.variant.value if board.variant else "single_element"))
    esme = Esme(credentials, anchors, nvm, sim, variant, load=load, contactor=contactor,
                buttons=buttons, alcs=alcs, rng=sim.random, top_up_key=top_up_key,
                commit_every=commit_every)
    return EsmeBoard(board, sim, nvm, contactor, buttons, alcs, esme)
