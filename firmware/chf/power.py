"""The CHF's mains supply: the outage notice and the restoration notice, with the
3-minute rule.

On losing mains the hub persists the outage start and rides on its stored energy. An
outage shorter than 3 minutes is only recorded in its event log, so a flickering supply
does not flood the DCC; once it has lasted 3 minutes the hub sends its last gasp, a
Power Outage notice over the WAN (`confirm_outage`, which the CHF's clock calls), and
on restoration after that a Power Restored notice with the duration. Both go to the
injected WAN sink (the lab's DCC); they are CHF-to-DCC notices, not GBCS messages to a
remote party.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass

from firmware.core.hal import NonVolatileStore

OUTAGE_KEY = "chf/power/outage_since"
NOTIFIED_KEY = "chf/power/outage_notified"
RESTORATION_THRESHOLD = _dt.timedelta(minutes=3)
POWER_OUTAGE, POWER_RESTORED = "power_outage", "power_restored"


@dataclass(frozen=True)
class WanNotice:
    """A notice the CHF sends the DCC over the WAN."""

    kind: str
    at: _dt.datetime
    outage_start: _dt.datetime
    outage_duration: _dt.timedelta | None = None


WanSink = Callable[[WanNotice], None]


class PowerSupply:
    """Tracks the hub's mains state in the store (an outage survives the restart it
    causes)."""

    def __init__(self, store: NonVolatileStore, log: Callable[[dict], None],
                 wan: WanSink | None) -> None:
        self.store, self.log, self.wan = store, log, wan

    @property
    def powered(self) -> bool:
        return self.store.get(OUTAGE_KEY) is None

    def lost(self, at: _dt.datetime) -> bool:
        """Mains gone: persist when (True), or False when it already was."""
        if not self.powered:
            return False
        self.store.put(OUTAGE_KEY, at.isoformat())
        self.log({"at": at.isoformat(), "event": POWER_OUTAGE})
        return True

    def confirm_outage(self, at: _dt.datetime) -> WanNotice | None:
        """Called RESTORATION_THRESHOLD after the loss: still out, so the last gasp goes
        (once)."""
        since = self.store.get(OUTAGE_KEY)
        if since is None or self.store.get(NOTIFIED_KEY):
            return None
        self.store.put(NOTIFIED_KEY, True)
        notice = WanNotice(POWER_OUTAGE, at, _dt.datetime.fromisoformat(since))
        if self.wan is not None:
            self.wan(notice)
        return notice

    def restored(self, at: _dt.datetime) -> WanNotice | None:
        """Mains back: the restoration notice when the DCC heard of the outage (it
        lasted 3 minutes or more), else None and only the event log records it."""
        since = self.store.get(OUTAGE_KEY)
        if since is None:
            return None
        start = _dt.datetime.fromisoformat(since)
        duration = at - start
        long_outage = duration >= RESTORATION_THRESHOLD
        if long_outage and not self.store.get(NOTIFIED_KEY):
            self.confirm_outage(start + RESTORATION_THRESHOLD)   # its timer did not run
        self.store.delete(OUTAGE_KEY)
        self.store.delete(NOTIFIED_KEY)
        self.log({"at": at.isoformat(), "event": POWER_RESTORED,
                  "outage_seconds": int(duration.total_seconds()),
                  "notified": long_outage})
        if not long_outage:
            return None
        notice = WanNotice(POWER_RESTORED, at, start, duration)
        if self.wan is not None:
            self.wan(notice)
        return notice
