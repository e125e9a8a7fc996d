"""`smetslab fuzz codec`: the GBCS codec under mutated messages.

Invariants, for every input:
- it decodes, or raises `GbcsDecodeError` (anything else, or no answer within the time
  budget, is a crash); so does it with its encrypted parts taken as plaintext in place
  (a decryptor that only drops the tag), which takes mutants into the decoders of
  decrypted payloads with no crypto on the way;
- a decoded message's tree re-encodes to the very same bytes;
- so does the tree after a trip through its JSON form (`to_json`, text, `from_json`),
  which is what `smetslab decode --json | smetslab encode` relies on;
- its summary (what `decode --json` prints) is JSON;
- a rejection names its field and a byte offset inside the input.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from random import Random
from typing import Hashable, Iterator, Sequence

from gbcs.content import Decryptor
from gbcs.errors import GbcsDecodeError, GbcsEncodeError
from gbcs.frames import MAC_LEN, Header, decode_frame
from gbcs.message import DecodedMessage, decode
from gbcs.node import Node, display_value, encode
from gbcs.payload import decode_content
from tools.fuzz import campaign, mutate
from tools.fuzz import corpus as corpora
from tools.fuzz.target import Violation, register

GENERATED_EVERY = 8  # one generated message after this many corpus messages
_NUMBERS = re.compile(r"0x[0-9A-Fa-f]+|\d+")


class CodecTarget:
    """The codec as a fuzz target: seeds from a corpus folder and the strategies."""

    name = "codec"
    rejections = (GbcsDecodeError,)

    def __init__(self, corpus_dir: Path | None = None, generate: bool = True,
                 keystore: Path | None = None) -> None:
        self.corpus_dir = corpus_dir
        self.generate = generate
        self.keystore = keystore

    def seeds(self, rng: Random) -> Iterator[bytes]:
        messages = corpora.load(self.corpus_dir or corpora.default_corpus())
        messages += corpora.opened_in_place(messages, self.keystore or
                                            corpora.default_keystore())
        rng.shuffle(messages)
        extra = corpora.generated(Random(rng.getrandbits(64))) if self.generate else iter(())
        return corpora.interleave(messages, extra, GENERATED_EVERY)

    def mutate(self, data: bytes, rng: Random, pool: Sequence[bytes]) -> bytes:
        """Maybe one field-level mutation, then zero to three byte-level ones. Only pool
        inputs are decoded here (they ran clean), never a half-made mutant."""
        out = None
        if rng.random() < 0.6:
            tree = _tree(data)
            if tree is not None:
                donor = _tree(rng.choice(pool)) if pool and rng.random() < 0.3 else None
                out = mutate.structural(mutate.Subject(data, tree, donor, write_opened), rng)
        if out is None or rng.random() < 0.3:
            for _ in range(rng.choice((1, 1, 1, 2, 3))):
                out = mutate.byte_level(data if out is None else out, rng, pool)
        return out

    def execute(self, data: bytes) -> Decoded:
        msg = decode(data)
        json.dumps(msg.summary())
        for node in msg.tree.walk():
            display_value(node)
        opened = None
        if msg.decryptions:
            try:
                opened, _ = decode_frame(data, decode_content, _in_place)
            except GbcsDecodeError:
                pass  # the "plaintext" is not a payload: the real decode stands
        return Decoded(msg, opened)

    def check(self, data: bytes, result: Decoded | GbcsDecodeError) -> Violation | None:
        if isinstance(result, GbcsDecodeError):
            return _check_error(data, result)
        violation = _check_tree(data, result.msg.tree, "")
        if violation is None and result.opened is not None:
            violation = _check_tree(data, result.opened, "-opened")
        return violation

    def feedback(self, data: bytes, result: Decoded | GbcsDecodeError) -> Hashable:
        """The field and kind of error a rejection names, or the form and the set of
        field names a decoded message has: a cheap stand-in for code coverage."""
        if isinstance(result, GbcsDecodeError):
            return ("rejected", _shape(result.field), _NUMBERS.sub("#", result.message))
        trees = (result.msg.tree,) if result.opened is None else (result.msg.tree,
                                                                   result.opened)
        return ("ok", result.msg.header.form,
                frozenset(_shape(n.name) for tree in trees for n in tree.walk()))

    def reductions(self, data: bytes) -> Iterator[bytes]:
        """The message with one element of one structure dropped, or one byte string
        emptied, lengths kept right; the largest cuts first."""
        tree = _tree(data)
        if tree is None:
            return
        cuts = []
        for at, node in enumerate(tree.walk()):
            if node.kind == "view":
                continue
            if node.children:
                first = node.value + 1 if node.kind in ("lv", "count") and \
                    isinstance(node.value, int) else 0
                cuts += [(child.size, at, i) for i, child in enumerate(node.children)
                         if i >= first]
            elif isinstance(node.value, (bytes, bytearray)) and node.value:
                cuts.append((len(node.value), at, -1))
        for _, at, child in sorted(cuts, key=lambda cut: -cut[0]):
            fresh = _tree(data)
            node = next(itertools.islice(fresh.walk(), at, None))
            if child >= 0:
                del node.children[child]
            else:
                node.value, node.size = b"", 0
            try:
                yield write_opened(fresh)
            except GbcsEncodeError:
                continue


@dataclass(frozen=True, slots=True)
class Decoded:
    """A decoded input: as it is, and with its encrypted parts opened in place."""

    msg: DecodedMessage
    opened: Node | None


def _in_place(header: Header) -> Decryptor:
    return lambda ciphertext_and_tag: ciphertext_and_tag[:-MAC_LEN]


def _check_tree(data: bytes, tree: Node, variant: str) -> Violation | None:
    """Re-encoding, directly and through JSON text, gives the input's bytes back
    (`variant` names the tree: "" as decoded, "-opened" with encryption opened)."""
    try:
        again = encode(tree)
    except GbcsEncodeError as err:
        return Violation("re-encode" + variant, f"the decoded tree does not encode: {err}",
                         err.field)
    if again != data:
        return _differs("re-encode" + variant, data, again, tree)
    try:
        text = json.dumps(tree.to_json())
    except (TypeError, ValueError) as err:
        return Violation("json-round-trip" + variant, f"the tree is not JSON: {err}")
    try:
        back = encode(Node.from_json(json.loads(text)))
    except GbcsEncodeError as err:
        return Violation("json-round-trip" + variant,
                         f"the tree from JSON does not encode: {err}", err.field)
    if back != data:
        return _differs("json-round-trip" + variant, data, back, tree)
    return None


def _check_error(data: bytes, err: GbcsDecodeError) -> Violation | None:
    """A rejection names what is wrong, the field, and a byte offset inside the input."""
    if not isinstance(err.offset, int) or not 0 <= err.offset <= len(data):
        return Violation("error-location", f"offset {err.offset!r} outside the "
                                           f"{len(data)}-byte input: {err}", err.field)
    if not err.message or not err.field:
        return Violation("error-location", f"error without message or field: {err!r}",
                         err.field)
    return None


def _tree(data: bytes) -> Node | None:
    """The tree to mutate: with encrypted parts opened in place where they decode so,
    so that field-level mutations reach into decrypted payloads too."""
    for decryptors in (_in_place, None):
        try:
            return decode_frame(data, decode_content, decryptors)[0]
        except Exception:  # noqa: BLE001 - a failing input, being minimised
            continue
    return None


def write_opened(tree: Node) -> bytes:
    """`encode`, after writing each decrypted view back over its ciphertext (in place,
    as `_in_place` reads it), so edits inside a decrypted payload reach the bytes."""
    for node in tree.walk():
        children = node.children or ()
        view = next((c for c in children if c.kind == "view" and c.children), None)
        cipher = next((c for c in children if c.name == "ciphertext"), None)
        if view is not None and cipher is not None:
            cipher.value = encode(view.children[0])
    return encode(tree)


def _shape(name: str) -> str:
    return _NUMBERS.sub("#", name)


def _differs(invariant: str, want: bytes, got: bytes, tree: Node) -> Violation:
    at = next((i for i, (a, b) in enumerate(zip(want, got)) if a != b), min(len(want), len(got)))
    where = field_at(tree, at)
    return Violation(invariant, f"{len(got)} bytes back for {len(want)}, first difference at "
                                f"byte {at} in {where or '?'}", where)


def field_at(tree: Node, offset: int) -> str:
    """The dotted path of the deepest field whose bytes cover `offset`."""
    path, node = [tree.name], tree
    while True:
        inner = next((c for c in node.children or ()
                      if c.kind != "view" and c.offset <= offset < c.offset + c.size), None)
        if inner is None:
            return ".".join(path)
        path.append(inner.name)
        node = inner


register("codec", CodecTarget)


def run_codec(seconds: float, seed: int, corpus: Path | None, *,
              max_inputs: int | None = None, findings_dir: Path | None = None) -> dict:
    """Fuzz the codec; `{"inputs", "crashes", "invariant_violations", "findings",
    "inputs_per_second", ...}`. `corpus` replaces the RTDS as the seed folder."""
    return campaign.run(CodecTarget(corpus), seconds, seed, max_inputs=max_inputs,
                        findings_dir=findings_dir)
