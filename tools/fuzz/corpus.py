"""Seed inputs: a folder of messages (the RTDS by default), the same messages with their
encrypted parts opened in place, and valid messages of every message code drawn from the
codec's hypothesis strategies.

A corpus folder holds one message per file, searched recursively in name order: hex text
(the RTDS `.HEX` files, whitespace ignored), a reproducer file (its input), or raw bytes.
"""

from __future__ import annotations

import json
import os
import string
from pathlib import Path
from random import Random
from typing import Iterator

from gbcs.errors import GbcsError
from gbcs.keystore import Keystore
from gbcs.message import decode
from gbcs.node import encode
from tools.bench.codec import default_shared

_HEX = frozenset(string.hexdigits)


class CorpusError(ValueError):
    """A corpus file that cannot be read: which one and why."""


def default_corpus() -> Path:
    """The RTDS messages beside the project ($SMETSLAB_RTDS or ../shared)."""
    env = os.environ.get("SMETSLAB_RTDS")
    return Path(env) if env else default_shared() / "vectors" / "rtds" / "RTDS-4.5.0"


def default_keystore() -> Path:
    """The RTDS key store ($SMETSLAB_KEYSTORE or ../shared)."""
    env = os.environ.get("SMETSLAB_KEYSTORE")
    return Path(env) if env else default_shared() / "vectors" / "rtds" / "keystore"


def load(folder: Path) -> list[bytes]:
    """Every message under `folder` (empty list if there is no such folder)."""
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        try:
            data = parse(path.read_bytes())
        except OSError as exc:
            raise CorpusError(f"{path}: {exc.strerror or exc}") from None
        if data:
            out.append(data)
    return out


def parse(content: bytes) -> bytes:
    """One corpus file's message: hex text, a reproducer's input, or the raw bytes."""
    stripped = b"".join(content.split())
    if stripped and len(stripped) % 2 == 0 and set(stripped.decode("latin-1")) <= _HEX:
        return bytes.fromhex(stripped.decode("ascii"))
    if stripped.startswith(b"{"):
        try:
            obj = json.loads(content)
            return bytes.fromhex(obj["input"])
        except (ValueError, KeyError, TypeError):
            pass
    return content


def opened_in_place(messages: list[bytes], keystore: Path) -> list[bytes]:
    """Each message with encrypted parts that `keystore` opens, its ciphertexts replaced
    by their plaintexts (GCM keeps lengths), for a decoder whose decryptor passes the
    ciphertext through: mutants then reach the plaintext decoders without any crypto."""
    try:
        store = Keystore.from_dir(keystore) if keystore.is_dir() else None
    except (GbcsError, OSError, ValueError):
        store = None
    if store is None:
        return []
    out = []
    for data in messages:
        try:
            msg = decode(data, store, verify=False)
        except GbcsError:
            continue
        if "decrypted" not in msg.decryptions:
            continue
        opened = bytearray(data)
        for node in msg.tree.walk():
            children = node.children or ()
            view = next((c for c in children if c.kind == "view" and c.children), None)
            cipher = next((c for c in children if c.name == "ciphertext"), None)
            if view is not None and cipher is not None:
                plaintext = encode(view.children[0])
                if len(plaintext) == cipher.size:
                    opened[cipher.offset:cipher.offset + cipher.size] = plaintext
        if opened != data:
            out.append(bytes(opened))
    return out


def generated(rng: Random) -> Iterator[bytes]:
    """One valid message per GBCS-framed message code, in a seeded order, each drawn
    from `gbcs.strategies.messages` with a seed from `rng` (same rng, same messages).

    Hypothesis is a test dependency: without it this yields nothing."""
    try:
        from hypothesis import HealthCheck, Phase, given, seed, settings

        from gbcs.strategies import encodable_use_cases, messages
    except ImportError:
        return
    use_cases = encodable_use_cases()
    rng.shuffle(use_cases)
    for uc in use_cases:
        drawn: list[bytes] = []

        # The second example of a fresh seed: the first is always the simplest one.
        @seed(rng.getrandbits(64))
        @settings(max_examples=2, database=None, phases=[Phase.generate], deadline=None,
                  suppress_health_check=list(HealthCheck))
        @given(messages(uc))
        def draw(pair: tuple) -> None:
            drawn.append(pair[1])

        draw()
        if drawn:
            yield drawn[-1]


def interleave(corpus: list[bytes], extra: Iterator[bytes], every: int) -> Iterator[bytes]:
    """The corpus with one item of `extra` after every `every` of its items, then the
    rest of `extra`."""
    for i, data in enumerate(corpus, 1):
        yield data
        if i % every == 0:
            item = next(extra, None)
            if item is not None:
                yield item
    yield from extra
