"""General Block Transfer: splitting a long GBCS message into GBT blocks behind a
routing header, and reassembling blocks that arrive out of order, twice, or not at all.

Blocks are numbered from 1; the last carries the last-block flag. The receiver reports
duplicates as they come and, once the last block is in, the numbers still missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gbcs.build import addressing, lv_node, octets_node, other_information
from gbcs.errors import GbcsDecodeError, GbcsEncodeError
from gbcs.frames import GBT_BLOCK, GENERAL_CIPHERING, SECURITY_HEADER, Header, decode_gbt
from gbcs.node import Node, encode
from gbcs.reader import Reader

MAX_BLOCKS = 0xFFFF


def block_control(last: bool, streaming: bool, window: int) -> int:
    if not 0 <= window <= 0x3F:
        raise GbcsEncodeError(f"GBT window {window} outside 0..63", "block_control")
    return (0x80 if last else 0) | (0x40 if streaming else 0) | window


def gbt_block_message(*, cra: int, originator_counter: int, originator: bytes,
                      recipient: bytes, message_code: int, block_number: int, data: bytes,
                      last: bool, acknowledged: int = 0, streaming: bool = False,
                      window: int = 1, date_time: bytes | None = None,
                      invocation_counter: int = 0) -> bytes:
    """One GBT message: routing header and one block (no data and not last: an
    acknowledgement of block `acknowledged`)."""
    tree = Node("gbt", "seq", None, [
        Node("tag", "u8", GENERAL_CIPHERING),
        *addressing(cra=cra, originator_counter=originator_counter, originator=originator,
                    recipient=recipient, date_time=date_time,
                    other_info=other_information(message_code)),
        Node("key_info", "u8", 0),
        lv_node("ciphered_content", [
            Node("security_control", "u8", SECURITY_HEADER),
            Node("invocation_counter", "u32", invocation_counter),
            Node("block", "seq", None, [
                Node("tag", "u8", GBT_BLOCK),
                Node("block_control", "u8", block_control(last, streaming, window)),
                Node("block_number", "u16", block_number),
                Node("acknowledged_block_number", "u16", acknowledged),
                octets_node("block_data", data),
            ]),
        ]),
    ])
    return encode(tree)


def split(message: bytes, block_size: int, *, cra: int, originator_counter: int,
          originator: bytes, recipient: bytes, message_code: int, window: int = 1,
          streaming: bool = False) -> list[bytes]:
    """`message` cut into GBT block messages carrying at most `block_size` bytes each."""
    if block_size < 1:
        raise GbcsEncodeError("GBT block size must be at least 1", "block_size")
    chunks = [message[i:i + block_size] for i in range(0, len(message), block_size)] or [b""]
    if len(chunks) > MAX_BLOCKS:
        raise GbcsEncodeError(f"{len(chunks)} blocks exceed the GBT limit", "block_number")
    return [gbt_block_message(cra=cra, originator_counter=originator_counter,
                              originator=originator, recipient=recipient,
                              message_code=message_code, block_number=n, data=chunk,
                              last=n == len(chunks), streaming=streaming, window=window)
            for n, chunk in enumerate(chunks, 1)]


def decode_block(data: bytes) -> Header:
    """The header facts of one GBT block message (block fields in `header.gbt`)."""
    r = Reader(bytes(data))
    header = Header("gbt")
    decode_gbt(r, header)
    r.expect_end("gbt")
    return header


@dataclass
class Reassembler:
    """Collects the blocks of one transfer (same originator, recipient and counter)."""

    blocks: dict[int, bytes] = field(default_factory=dict)
    duplicates: list[int] = field(default_factory=list)
    last_block: int | None = None
    acknowledged: int = 0  # highest block number the peer acknowledged
    key: tuple[bytes, bytes, int] | None = None

    def add(self, message: bytes) -> Header:
        """Take one GBT block message; raises GbcsDecodeError if malformed or foreign."""
        header = decode_block(message)
        key = (header.originator, header.recipient, header.originator_counter)
        if self.key is None:
            self.key = key
        elif key != self.key:
            raise GbcsDecodeError("GBT block belongs to another transfer", 0, "transaction_id")
        number = header.gbt["block_number"]
        if not header.gbt["data"] and not header.gbt["last"]:
            self.acknowledged = max(self.acknowledged, header.gbt["acknowledged"])
            return header
        if number < 1:
            raise GbcsDecodeError("GBT block numbers start at 1", 0, "block.block_number")
        if number in self.blocks:
            self.duplicates.append(number)
            return header
        if header.gbt["last"]:
            if self.last_block is not None and self.last_block != number:
                raise GbcsDecodeError(f"two last blocks: {self.last_block} and {number}", 0,
                                      "block.block_control")
            self.last_block = number
        if self.last_block is not None and number > self.last_block:
            raise GbcsDecodeError(f"block {number} after last block {self.last_block}", 0,
                                  "block.block_number")
        self.blocks[number] = header.gbt["data"]
        return header

    def gaps(self) -> list[int]:
        """Block numbers not yet received, up to the last block (or highest seen)."""
        top = self.last_block or max(self.blocks, default=0)
        return [n for n in range(1, top + 1) if n not in self.blocks]

    @property
    def complete(self) -> bool:
        return self.last_block is not None and not self.gaps()

    def message(self) -> bytes:
        if not self.complete:
            raise GbcsDecodeError(f"GBT transfer incomplete: missing blocks {self.gaps()}", 0,
                                  "block.block_number")
        return b"".join(self.blocks[n] for n in range(1, self.last_block + 1))
