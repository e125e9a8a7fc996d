"""Future-dated commands a device accepted and runs at their execution date-time.

The queue is in non-volatile memory (the command's bytes, its originator and when), so a
restart re-arms the timers; a command whose time passed while the device was off runs
at once. A later command of the same use case dated 9999-12-31T23:59:59 cancels the
queued ones (GBCS's cancellation of a future-dated command).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable

from firmware.core.credentials import Role, TrustAnchor, TrustAnchors
from firmware.core.hal import Clock, NonVolatileStore, Timer
from firmware.core.security import Accepted
from gbcs.message import decode
from gbcs.usecases import by_code

QUEUE_KEY = "device/future_dated"
Runner = Callable[[Accepted, _dt.datetime, _dt.datetime], None]


class FutureDated:
    """The queue; `run(accepted, when, received)` carries out a command at its time
    (`received`: when the device accepted it, the time its certificates were checked
    against)."""

    def __init__(self, store: NonVolatileStore, clock: Clock, anchors: TrustAnchors,
                 run: Runner) -> None:
        self.store, self.clock, self.anchors, self.run = store, clock, anchors, run
        self._timers: dict[int, Timer] = {}
        self.rearm()

    def rearm(self) -> None:
        """Timers for exactly the queued commands the store holds."""
        for timer in self._timers.values():
            self.clock.cancel(timer)
        self._timers = {}
        for entry in self._entries():
            self._arm(entry)

    def _entries(self) -> list[dict]:
        return list(self.store.get(QUEUE_KEY) or [])

    def add(self, accepted: Accepted, when: _dt.datetime) -> None:
        entries = self._entries()
        entry = {"id": max((e["id"] for e in entries), default=0) + 1,
                 "at": when.isoformat(), "received": self.clock.now().isoformat(),
                 "use_case": accepted.use_case.use_case,
                 "raw": accepted.message.raw, "role": accepted.originator.role.value,
                 "originator": accepted.originator.eui, "signed": accepted.signed}
        self.store.put(QUEUE_KEY, entries + [entry])
        self._arm(entry)

    def cancel(self, use_case: str) -> int:
        """Drop the queued commands of `use_case`; how many there were."""
        keep, dropped = [], 0
        for entry in self._entries():
            if entry["use_case"] == use_case:
                dropped += 1
                timer = self._timers.pop(entry["id"], None)
                if timer is not None:
                    self.clock.cancel(timer)
            else:
                keep.append(entry)
        self.store.put(QUEUE_KEY, keep)
        return dropped

    def pending(self) -> list[tuple[str, _dt.datetime]]:
        return [(e["use_case"], _dt.datetime.fromisoformat(e["at"])) for e in self._entries()]

    def _arm(self, entry: dict) -> None:
        at = _dt.datetime.fromisoformat(entry["at"])
        at = max(at, self.clock.now())
        self._timers[entry["id"]] = self.clock.schedule(
            lambda: self._fire(entry["id"]), f"future-dated {entry['use_case']}", at=at)

    def _fire(self, ident: int) -> None:
        self._timers.pop(ident, None)
        entries = self._entries()
        entry = next((e for e in entries if e["id"] == ident), None)
        if entry is None:
            return
        self.store.put(QUEUE_KEY, [e for e in entries if e["id"] != ident])
        msg = decode(entry["raw"], verify=False)
        role = Role(entry["role"])
        anchor = self.anchors.get(role)
        if anchor is None or anchor.eui != entry["originator"]:
            anchor = TrustAnchor(role, entry["originator"])
        use_case = by_code(msg.header.message_code)
        if use_case is None:
            return
        self.run(Accepted(msg, use_case, anchor, msg.header.originator_counter,
                          entry["signed"]), _dt.datetime.fromisoformat(entry["at"]),
                 _dt.datetime.fromisoformat(entry["received"]))
