"""Assembly of a lab premises from its board files: keys, one SQLite store per device,
one simulator for all, the HAN, the devices' firmware and the DCC.

Firmware the lab runs: the CHF (WAN side, device log, routing), the GPF beside it in
the hub, the ESME (DLMS device and metering engine) and the GSME (a sleepy device: at
each 30-minute wake it syncs the GPF and pulls its queued commands) and the PPMID
(`tools.lab.ppmid`: joined to the meters, it reads their credit and sends top-ups).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import TextIO

from boards.board import Board, BoardError, DeviceType, Premises
from boards.nvm import MEMORY, SqliteStore
from boards.simulator import Simulator
from firmware.gpf.gpf import Gpf
from tools.lab import zse
from tools.lab.esme import EsmeBoard, build_esme
from tools.lab.gas import GsmeBoard, build_gsme
from tools.lab.han import Han, Report
from tools.lab.hub import Hub
from tools.lab.pki import LabPki, build_pki
from tools.lab.ppmid import attach_ppmids
from tools.lab.radio import RadioSession
from tools.lab.wan import Trace, Wan

DCC_DB = "dcc.sqlite"
ALERT_POLL = timedelta(seconds=10)   # how often the lab collects alerts raised by timers


def store_name(board: Board) -> str:
    """The file of a device's store in a state folder."""
    return f"{board.eui_hex}.sqlite"


class Lab:
    """One premises running in virtual time (drive it through `sim`)."""

    def __init__(self, premises: Premises, *, start: datetime, seed: int = 0,
                 state: Path | None = None, zaz1: Path | None = None,
                 report: Report = lambda kind, text: None,
                 trace: TextIO | None = None, radio: RadioSession | None = None) -> None:
        if len(premises.of_type(DeviceType.CHF)) != 1:
            raise BoardError(premises.source or premises.name, "boards",
                             "the lab needs one CHF: it forms the HAN and faces the WAN")
        self.premises = premises
        self.rng = random.Random(seed)
        if radio is not None:            # a stick: the clock is the wall clock
            radio.check(premises)
            self.sim: Simulator = radio.simulator(start, seed)
        else:
            self.sim = Simulator(start, seed, keep_trace=False)
        self.radio = radio
        self.report = report
        self.pki: LabPki = build_pki(premises, self.rng, zaz1)
        self.stores: dict[bytes, SqliteStore] = {}
        for board in premises.boards:
            path = state / store_name(board) if state is not None else MEMORY
            self.stores[board.eui] = SqliteStore(path)
        self.han = Han(self.sim, self.pki, premises, self.rng, report, radio)
        self.esmes: dict[bytes, EsmeBoard] = {}
        anchors = self.pki.anchors()
        for board in premises.of_type(DeviceType.ESME):
            unit = build_esme(board, self.pki.devices[board.eui], anchors,
                              self.stores[board.eui], self.sim,
                              self.pki.top_up_keys[board.eui])
            self.esmes[board.eui] = unit
            zse.serve(self.han.devices[board.eui].endpoint, zse.esme_clusters(unit))
            self.han.devices[board.eui].on_message = \
                lambda message, unit=unit: self._esme_receive(unit, message)
        self.gsmes: dict[bytes, GsmeBoard] = {}
        self.gsme_woke: dict[bytes, datetime] = {}   # each GSME's last wake
        for board in premises.of_type(DeviceType.GSME):
            gas = build_gsme(board, self.pki.devices[board.eui], anchors,
                             self.stores[board.eui], self.sim)
            self.gsmes[board.eui] = gas
            gas.gsme.on_sync = lambda update, eui=board.eui: self._gsme_wake(eui, update)
            if board.eui in self.han.devices:      # not with a real stick
                self.han.devices[board.eui].on_message = \
                    lambda message, gas=gas: self._gsme_receive(gas, message)
        gpf_board = next(iter(premises.of_type(DeviceType.GPF)), None)
        self.gpf = None if gpf_board is None else Gpf(
            self.pki.devices[gpf_board.eui], anchors, self.stores[gpf_board.eui], self.sim)
        if self.gpf is not None and self.han.gpf_endpoint is not None:
            zse.serve(self.han.gpf_endpoint, zse.gpf_clusters(self.gpf))
        chf, = premises.of_type(DeviceType.CHF)
        self.hub = Hub(chf, premises, self.pki.devices[chf.eui], anchors,
                       self.stores[chf.eui], self.sim, self.han, self.pki.install_codes,
                       report, self.gpf)
        self.han.to_gpf = self.hub.gsme_synced
        # The hub acknowledges each GSME sync (so the meter stops resending it), is its
        # time source on the HAN and hands it firmware images.
        self.han.sync_confirmed = lambda eui, update: \
            self.gsmes[eui].gsme.sync_acknowledged(update["marks"])
        for eui, gas in self.gsmes.items():
            gas.gsme.time_source = self.hub.han_time
            self.hub.image_receivers[eui] = gas.gsme.firmware_received
        self.trace = Trace(trace)
        self.wan = Wan(self.sim, self.pki, premises,
                       state / DCC_DB if state is not None else MEMORY, report, self.trace)
        self.wan.to_chf = self.hub.deliver
        self.hub.to_dcc = self.han.to_dcc = self.wan.up
        # SRV 11.1: the DCC hands images to the hub, which sends them to the meters.
        self.wan.dcc.distribute_firmware = self.hub.distribute_firmware
        for eui, unit in self.esmes.items():
            self.hub.image_receivers[eui] = unit.esme.firmware_received
        self.ppmids = attach_ppmids(self)

    def start(self) -> None:
        """Commission the HAN and start the DCC User's periodic reads."""
        self.han.start()
        for eui in self.esmes:
            self.wan.start_user_job(eui)
        self.sim.schedule(self._collect_alerts, "lab alerts", after=ALERT_POLL)

    def _collect_alerts(self) -> None:
        """Alerts a device raised outside a command (its engine, an activation) go up
        its tunnel like any other message."""
        for eui, unit in self.esmes.items():
            for alert in unit.esme.take_alerts():
                self.han.reply(eui, alert)
        self.hub.collect_alerts()
        self.sim.schedule(self._collect_alerts, "lab alerts", after=ALERT_POLL)

    def _esme_receive(self, unit: EsmeBoard, message: bytes) -> None:
        answers = unit.esme.receive(message)
        if not answers:
            self.report("error", f"{unit.board.name}: command rejected or failed (see its "
                                 "security and event logs)")
        for answer in answers:
            self.han.reply(unit.board.eui, answer)

    def _gsme_wake(self, eui: bytes, update: dict) -> None:
        """At each wake the GSME syncs the GPF, pulls its commands and sends the alerts
        it raised while asleep."""
        self.gsme_woke[eui] = self.sim.now()
        if not self.han.gsme_wake(eui, update):
            self.report("han", f"{self.gsmes[eui].board.name} woke before its tunnel was "
                               "open; its registers reach the GPF at the next sync")
            return
        for alert in self.gsmes[eui].gsme.take_alerts():
            self.han.reply(eui, alert)

    def _gsme_receive(self, unit: GsmeBoard, message: bytes) -> None:
        answers = unit.gsme.receive(message)
        if not answers:
            self.report("error", f"{unit.board.name}: command rejected or failed (see its "
                                 "security and event logs)")
        for answer in answers:
            self.han.reply(unit.board.eui, answer)

    @property
    def ready(self) -> bool:
        """Every device has joined (and, for Type 1, done CBKE and opened its tunnel)."""
        return all(d.state == "ready" for d in self.han.devices.values())

    def close(self) -> None:
        for store in self.stores.values():
            store.close()
        self.wan.dcc.db.close()
