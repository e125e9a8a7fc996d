"""The debugger's message trace: every GBCS message crossing the WAN (DCC <-> CHF) and
the HAN (CHF <-> device, through the tunnels), kept with its virtual time and shown as
the codec's decoded tree in short form.

A message for the sleepy GSME is recorded when the hub takes it for the GSME's tunnel
(it crosses at the GSME's next GET). Capture is cheap (the bytes and the message code from the header); decoding, with the
lab's keys so encrypted payloads open, happens only when a message is shown. The short
form leaves out what changes from run to run (ECDSA signatures and the MACs over them)
and byte offsets, so the same session prints the same trace byte for byte.
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from gbcs.errors import GbcsError
from gbcs.message import decode, peek_header
from gbcs.node import Node, display_value
from gbcs.usecases import by_code
from tools.lab.premises import Lab

KEEP = 10_000              # messages kept for `trace N`
TREE_DEPTH = 10            # levels of the content shown under each message
TREE_LINES = 30            # lines of the content shown at most
# Shown without what is under them (framing a reader does not need in short form).
_LEAVES = {"protection_parameters", "cosem_method_descriptor", "cosem_attribute_descriptor"}
# Not shown: they vary from run to run (ECDSA), or say nothing new.
_HIDDEN = {"signature", "mac", "tag", "ciphertext", "length", "security_header",
           "invocation_counter"}


@dataclass(frozen=True)
class Crossing:
    """One message on one link: `link` WAN or HAN, `direction` e.g. dcc->chf."""

    number: int
    at: datetime
    link: str
    direction: str
    message: bytes

    @property
    def use_case(self) -> str:
        """The use case its header names ('?' when the header does not decode)."""
        try:
            uc = by_code(peek_header(self.message).message_code)
        except GbcsError:
            return "?"
        return uc.use_case if uc is not None else "?"

    @property
    def message_code(self) -> int | None:
        try:
            return peek_header(self.message).message_code
        except GbcsError:
            return None


class _WanStream:
    """The lab's WAN trace stream (one JSON line a message) turned into crossings."""

    def __init__(self, on_message: Callable[[str, bytes], None]) -> None:
        self.on_message = on_message
        self.pending = ""

    def write(self, text: str) -> int:
        self.pending += text
        while "\n" in self.pending:
            line, self.pending = self.pending.split("\n", 1)
            record = json.loads(line)
            self.on_message(record["direction"], bytes.fromhex(record["hex"]))
        return len(text)


class MessageTrace:
    """The crossings of one lab, newest last; `listeners` see each as it happens."""

    def __init__(self) -> None:
        self.crossings: deque[Crossing] = deque(maxlen=KEEP)
        self.count = 0
        self.listeners: list[Callable[[Crossing], None]] = []
        self.lab: Lab | None = None
        self.wan_stream = _WanStream(lambda direction, message:
                                     self._add("WAN", direction, message))

    def attach(self, lab: Lab) -> None:
        """Tap `lab`'s HAN: what the CHF hands each device, and what devices send up
        (the WAN comes through `wan_stream`, given to the lab as its trace)."""
        self.lab = lab
        han = lab.han
        names = {b.eui: b.name for b in lab.premises.boards}
        to_device, to_dcc = han.send_to_device, han.to_dcc

        def down(eui: bytes, message: bytes, *args: object, **kwargs: object) -> bool:
            sent = to_device(eui, message, *args, **kwargs)
            if sent:
                self._add("HAN", f"chf->{names.get(eui, eui.hex())}", message)
            return sent

        def up(eui: bytes, message: bytes) -> None:
            self._add("HAN", f"{names.get(eui, eui.hex())}->chf", message)
            to_dcc(eui, message)

        han.send_to_device = down
        han.to_dcc = up

    def _add(self, link: str, direction: str, message: bytes) -> None:
        assert self.lab is not None
        self.count += 1
        crossing = Crossing(self.count, self.lab.sim.now(), link, direction, bytes(message))
        self.crossings.append(crossing)
        for listener in self.listeners:
            listener(crossing)

    def last(self, n: int) -> list[Crossing]:
        return list(self.crossings)[-n:] if n else []

    def lines(self, crossing: Crossing) -> list[str]:
        """A crossing in short form: a heading line, then the content's decoded tree."""
        assert self.lab is not None
        head = (f"#{crossing.number} {crossing.at.isoformat()} {crossing.link} "
                f"{crossing.direction} {len(crossing.message)} bytes")
        try:
            msg = decode(crossing.message, self.lab.pki.keystore(), self.lab.pki.acb.eui,
                         verify=False)
        except GbcsError as exc:
            return [f"{head}: undecodable ({exc})"]
        s = msg.summary()
        out = [f"{head}: {s['use_case'] or '?'} {s['use_case_name'] or ''} "
               f"[{s['message_code']} {s['cra']}] counter {s['originator_counter']}"]
        content = next((n for n in msg.tree.walk() if n.name == "content"), None)
        body = [] if content is None else _short(content)
        out += body[:TREE_LINES]
        if len(body) > TREE_LINES:
            out.append(f"    ... {len(body) - TREE_LINES} more lines")
        return out

    def digest(self) -> str:
        """SHA-256 over every kept crossing in short form: two traces are equal byte for
        byte when their digests are."""
        h = hashlib.sha256()
        for crossing in self.crossings:
            for line in self.lines(crossing):
                h.update(line.encode() + b"\n")
        return h.hexdigest()


def _short(node: Node, depth: int = 0) -> list[str]:
    """The subtree under `node`, `TREE_DEPTH` levels deep, without what varies per run."""
    out = []
    for child in node.children or ():
        if child.name in _HIDDEN:
            continue
        value = display_value(child)
        out.append(f"    {'  ' * depth}{child.name}" + (f": {value}" if value else ""))
        if depth + 1 < TREE_DEPTH and child.name not in _LEAVES:
            out += _short(child, depth + 1)
    return out
