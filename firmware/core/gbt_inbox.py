"""Putting a device's inbound GBT transfers back together before the command pipeline.

A command too long for one HAN message arrives as General Block Transfer blocks under
one routing header (originator, recipient, originator counter). The device keeps the
blocks of a few transfers in RAM (lost on a power cut, as a real meter's would be: the
sender times out and sends again), hands the whole message to the GBCS checks when the
last gap is filled, and drops, with a security-log entry, what it cannot take: a block
that does not decode, one that contradicts its transfer, and transfers larger than it
has room for. Blocks for another device are dropped without a trace, as GBCS has
whole messages for another device dropped.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from gbcs.errors import GbcsDecodeError
from gbcs.frames import GENERAL_CIPHERING
from gbcs.gbt import Reassembler

GBT_ROUTING = 0x09          # second byte of a GBT message: its routing header follows
MAX_TRANSFER_BYTES = 16 * 1024
MAX_BLOCKS = 256
MAX_OPEN_TRANSFERS = 4

TransferKey = tuple[bytes, bytes, int]      # originator, recipient, originator counter
Log = Callable[[str, str, TransferKey | None], None]   # reason, detail, transfer


def is_gbt(data: bytes) -> bool:
    """Whether `data` is framed as a GBT block message (its first two bytes say so)."""
    return len(data) > 1 and data[0] == GENERAL_CIPHERING and data[1] == GBT_ROUTING


class GbtInbox:
    """The open inbound transfers of one device (`eui`); `log(reason, detail, key)`
    records what is dropped."""

    def __init__(self, eui: bytes, log: Log) -> None:
        self.eui, self.log = eui, log
        self._open: OrderedDict[TransferKey, Reassembler] = OrderedDict()

    def clear(self) -> None:
        """Forget every open transfer (the RAM a reset or power cut loses)."""
        self._open.clear()

    def add(self, data: bytes) -> bytes | None:
        """Take one GBT block message: the whole message once its transfer is complete,
        else None (more blocks to come, or the block was dropped)."""
        try:
            probe = Reassembler()
            header = probe.add(data)
        except GbcsDecodeError as err:
            self.log("gbt_malformed", str(err), None)
            return None
        key = (header.originator, header.recipient, header.originator_counter)
        if header.recipient != self.eui:
            return None
        transfer = self._open.get(key)
        if transfer is None:
            if len(self._open) >= MAX_OPEN_TRANSFERS:
                oldest, _ = self._open.popitem(last=False)
                self.log("gbt_abandoned", f"more than {MAX_OPEN_TRANSFERS} transfers open",
                         oldest)
            transfer = self._open[key] = probe
        else:
            try:
                transfer.add(data)
            except GbcsDecodeError as err:
                del self._open[key]
                self.log("gbt_inconsistent", str(err), key)
                return None
        top = max(transfer.blocks, default=0)
        size = sum(len(b) for b in transfer.blocks.values())
        if top > MAX_BLOCKS or size > MAX_TRANSFER_BYTES:
            del self._open[key]
            self.log("gbt_oversized", f"block {top}, {size} bytes: the limit is "
                     f"{MAX_BLOCKS} blocks and {MAX_TRANSFER_BYTES} bytes", key)
            return None
        if not transfer.complete:
            return None
        del self._open[key]
        return transfer.message()
