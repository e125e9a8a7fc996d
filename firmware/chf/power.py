"""The CHF's mains supply: last gasp on power loss, restoration with the 3-minute rule.

On losing mains the hub has just enough stored energy to persist the outage start and
send a last-gasp Power Outage notice over the WAN. On restoration it sends a Power
Restored notice only when the outage lasted 3 minutes or more (shorter dips are logged
in its event log only, so a flickering supply does not flood the DCC). Both notices
go to the injected WAN sink (the lab's DCC); they are CHF-to-DCC notices, not GBCS
messages to a remote party.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass

from firmware.core.hal import NonVolatileStore

OUTAGE_KEY = "chf/power/outage_since"
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

    def lost(self, at: _dt.datetime) -> None:
        """Mains gone: persist when, send the last gasp."""
        if not self.powered:
            return
        self.store.put(OUTAGE_KEY, at.isoformat())
        self.log({"at": at.isoformat(), "event": POWER_OUTAGE})
        if self.wan is not None:
            self.wan(WanNotice(POWER_OUTAGE, at, at))

    def restored(self, at: _dt.datetime) -> WanNotice | None:
        """Mains back: the restoration notice, sent when the outage lasted 3 minutes or
        more (else None, and only the event log records it)."""
        since = self.store.get(OUTAGE_KEY)
        if since is None:
            return None
        start = _dt.datetime.fromisoformat(since)
        self.store.delete(OUTAGE_KEY)
        duration = at - start
        long_outage = duration >= RESTORATION_THRESHOLD
        self.log({"at": at.isoformat(), "event": POWER_RESTORED,
                  "outage_seconds": int(duration.total_seconds()),
                  "notified": long_outage})
        if not long_outage:
            return None
        notice = WanNotice(POWER_RESTORED, at, start, duration)
        if self.wan is not None:
            self.wan(notice)
        return notice
