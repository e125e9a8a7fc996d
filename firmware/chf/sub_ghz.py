"""The CHF's sub GHz (868 MHz) radio state: configuration, operating channel, channel log.

DBCH03 reads and DBCH04 writes the configuration (a structure of 15: four channel
masks and the duty-cycle and frequency agility parameters), which raises DBCH09
(0x8F2A, with the new configuration). DBCH01 reads the operating channel (a 32-bit
channel mask). Each channel change the radio makes is logged (capture time in seconds
since 2000, the duty cycle at the change, and the new channel mask with the reason
octets the radio reports) for DBCH02, and raises DBCH07 (0x8F26).
"""

from __future__ import annotations

import datetime as _dt

from firmware.chf.cosem import SUB_GHZ_CONFIGURATION_SPEC, expect, unix2000
from firmware.core.hal import NonVolatileStore
from gbcs.axdr import (BIT_STRING, DOUBLE_LONG_UNSIGNED, LONG_UNSIGNED, OCTET_STRING, STRUCTURE,
                       data_node, decode_axdr)
from gbcs.node import Node, encode
from gbcs.reader import Reader

CONFIG_KEY = "chf/sub_ghz/configuration"
CHANNEL_KEY = "chf/sub_ghz/channel"
LOG_KEY = "chf/sub_ghz/channel_log"
LOG_CAPACITY = 100
CHANNEL_BITS = 32
LOG_COLUMNS = ("structure", (DOUBLE_LONG_UNSIGNED, LONG_UNSIGNED, OCTET_STRING))


def single_band() -> Node:
    """The configuration of a 2.4 GHz-only hub: no sub GHz channel masks set and no
    sub GHz parameters."""
    members = SUB_GHZ_CONFIGURATION_SPEC[1]
    return data_node("", [data_node("", "0" * CHANNEL_BITS if m == BIT_STRING else 0, m)
                          for m in members], STRUCTURE)


class SubGhz:
    def __init__(self, store: NonVolatileStore, configuration: Node) -> None:
        expect(configuration, SUB_GHZ_CONFIGURATION_SPEC, "sub GHz configuration")
        self.store = store
        if store.get(CONFIG_KEY) is None:
            store.put(CONFIG_KEY, encode(configuration))

    def configuration(self) -> Node:
        return decode_axdr(Reader(self.store.get(CONFIG_KEY)), "value")

    def configure(self, value: Node) -> None:
        expect(value, SUB_GHZ_CONFIGURATION_SPEC, "sub GHz configuration")
        self.store.put(CONFIG_KEY, encode(value))

    def channel(self) -> str:
        """The operating channel mask as '0'/'1' text (all zero before the first)."""
        return self.store.get(CHANNEL_KEY, "0" * CHANNEL_BITS)

    def change_channel(self, at: _dt.datetime, mask: str, duty_cycle: int,
                       reason: bytes) -> None:
        if len(mask) != CHANNEL_BITS or set(mask) - {"0", "1"}:
            raise ValueError(f"a sub GHz channel is a {CHANNEL_BITS}-bit mask, got {mask!r}")
        self.store.put(CHANNEL_KEY, mask)
        record = bytes(int(mask[i:i + 8], 2) for i in range(0, CHANNEL_BITS, 8)) + reason
        entries = list(self.store.get(LOG_KEY) or [])[-(LOG_CAPACITY - 1):]
        self.store.put(LOG_KEY, entries + [[unix2000(at), duty_cycle, record]])

    def log(self, start: int | None = None, end: int | None = None) -> list[list]:
        """Channel log entries with capture time in [start, end] (seconds since 2000)."""
        return [e for e in self.store.get(LOG_KEY) or []
                if (start is None or e[0] >= start) and (end is None or e[0] <= end)]

