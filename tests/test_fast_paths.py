"""The codec's fast paths say what the slow ones say.

- `peek_header`: the outer layers alone, as routing needs them: what the full decoder
  says of every header it accepts, refused only where the decoder refuses;
- `Node.walk` (a stack, not nested generators): the same nodes in the same order, and a
  visit may still edit the visited node's children;
- `data_node` (integers and octet-strings built directly): the same nodes and errors;
- the ECDH cache: bounded, and what it gives is the exchange itself.
"""

from __future__ import annotations

import random
from dataclasses import fields
from functools import lru_cache

import pytest
from hypothesis import HealthCheck, given, settings

from gbcs import crypto, gbt
from gbcs.axdr import data_node, decode_axdr, structure_node
from gbcs.errors import GbcsDecodeError, GbcsEncodeError
from gbcs.frames import Header
from gbcs.keystore import Keystore
from gbcs.message import decode, peek_header
from gbcs.node import Node, encode
from gbcs.reader import Reader
from gbcs.strategies import messages
from tests.conftest import KEYSTORE
from tests.conftest import RTDS, need, rtds_files

_COMPARED = [f.name for f in fields(Header) if f.name != "decryptions"]


@lru_cache(maxsize=1)
def _messages() -> list[tuple[str, bytes]]:
    need(RTDS)
    return [(p.name, bytes.fromhex(p.read_text().strip())) for p in rtds_files()]


def _same(a: Header, b: Header) -> list[str]:
    return [name for name in _COMPARED if getattr(a, name) != getattr(b, name)]


def test_every_rtds_header_is_the_decoders():
    differ = []
    for name, raw in _messages():
        full = decode(raw, verify=False).header
        if diff := _same(peek_header(raw), full):
            differ.append(f"{name}: {diff}")
    assert not differ, "\n".join(differ[:20])
    assert len(_messages()) > 1000


def test_gbt_blocks_peek_like_they_decode():
    name, raw = next((n, r) for n, r in _messages() if len(r) > 300)
    h = decode(raw, verify=False).header
    blocks = gbt.split(raw, 128, cra=h.cra, originator_counter=h.originator_counter,
                       originator=h.originator, recipient=h.recipient,
                       message_code=h.message_code)
    assert len(blocks) > 1, name
    for block in blocks:
        peeked = peek_header(block)
        assert peeked.form == "gbt" and not _same(peeked, decode(block, verify=False).header)


def _mutations(raw: bytes, rnd: random.Random):
    yield raw[: rnd.randrange(len(raw))]
    flipped = bytearray(raw)
    flipped[rnd.randrange(min(len(raw), 80))] ^= 1 << rnd.randrange(8)  # mostly header
    yield bytes(flipped)
    at = rnd.randrange(len(raw))
    yield raw[:at] + bytes([rnd.randrange(256)]) + raw[at:]
    at = rnd.randrange(len(raw))
    yield raw[:at] + raw[at + 1:]


def test_mutations_are_refused_only_where_the_decoder_refuses_them():
    """Whatever decodes peeks to the same header; whatever the peek refuses (a typed
    error naming a field), the decoder refuses too. (A bad content only the decoder
    sees: the peek does not read it.)"""
    rnd = random.Random(6)
    checked = refused = 0
    for name, raw in _messages()[::2]:
        for mutated in _mutations(raw, rnd):
            try:
                full = decode(mutated, verify=False).header
            except GbcsDecodeError:
                full = None
            try:
                peeked = peek_header(mutated)
            except GbcsDecodeError as err:
                assert full is None, f"{name}: peek refused what decodes: {err}"
                assert err.offset >= 0 and err.field, name
                refused += 1
                continue
            if full is not None:
                assert not _same(peeked, full), name
                checked += 1
    assert checked > 300 and refused > 300, (checked, refused)


@pytest.mark.parametrize("data, field", [
    (b"", "tag"),
    (bytes.fromhex("AB"), "tag"),
    (bytes.fromhex("DD05"), "transaction_id"),
    (bytes.fromhex("DF0801"), "transaction_id"),
    (bytes.fromhex("DF0904"), "transaction_id.cra_flag"),
    (bytes.fromhex("DD000000000001"), "empty_fields"),
])
def test_malformed_headers_raise_typed_errors(data, field):
    with pytest.raises(GbcsDecodeError) as peeked:
        peek_header(data)
    assert peeked.value.field == field
    with pytest.raises(GbcsDecodeError):
        decode(data, verify=False)


def _walked(node: Node) -> list[Node]:
    """The definition: the node, then each child's walk in order."""
    out = [node]
    for child in node.children or ():
        out += _walked(child)
    return out


def test_walk_visits_what_the_recursive_definition_visits():
    store = Keystore.from_dir(need(KEYSTORE))
    for _, raw in _messages()[::10]:
        tree = decode(raw, store).tree
        assert [id(n) for n in tree.walk()] == [id(n) for n in _walked(tree)]


def test_a_visit_may_edit_the_children_of_the_node_it_visits():
    tree = Node("root", "seq", None, [Node("a", "seq", None, [Node("x", "u8", 1)]),
                                      Node("b", "u8", 2)])
    seen = []
    for node in tree.walk():
        seen.append(node.name)
        if node.name == "a":
            node.children = [Node("y", "u8", 3)]
    assert seen == ["root", "a", "y", "b"]


@pytest.mark.parametrize("value, type_, raw", [
    (0, "long-unsigned", "120000"), (65535, "long-unsigned", "12FFFF"),
    (-128, "integer", "0F80"),
    (127, "integer", "0F7F"), (2, "enum", "1602"), (True, "unsigned", "1101"),
    (-1, "double-long", "05FFFFFFFF"), (2**64 - 1, "long64-unsigned", "15FFFFFFFFFFFFFFFF"),
    (7, 0x12, "120007"), (b"\x00\x00\x5e\x2c\x22\x0a", "octet-string", "0906 00005E2C220A"),
    (bytearray(b"ab"), "octet-string", "0902 6162"), (b"", "octet_string", "0900"),
])
def test_data_nodes_from_python_values(value, type_, raw):
    node = data_node("v", value, type_)
    assert encode(node) == bytes.fromhex(raw.replace(" ", ""))
    assert type(node.value) is (bytes if isinstance(value, (bytes, bytearray)) else int)
    assert node.human == (str(int(value)) if isinstance(value, int) else node.human)
    assert decode_axdr(Reader(encode(node)), "v").human == node.human   # as decoded


@pytest.mark.parametrize("value, type_", [
    (65536, "long-unsigned"), (-1, "long-unsigned"), (128, "integer"), ("1", "unsigned"),
    (1.5, "long"), ("ab", "octet-string"), (3, "no-such-type"),
])
def test_data_nodes_refuse_what_does_not_fit(value, type_):
    with pytest.raises(GbcsEncodeError):
        data_node("v", value, type_)


def test_structures_still_name_their_elements():
    node = structure_node("s", [data_node("", 3, "long-unsigned"),
                                data_node("", bytes(6), "octet-string")])
    assert [c.name for c in node.children] == ["element[0]", "element[1]"]


def test_the_ecdh_cache_is_bounded_and_gives_the_exchange(monkeypatch):
    monkeypatch.setattr(crypto, "SECRETS_KEPT", 3)
    monkeypatch.setattr(crypto, "_SECRETS", {})
    keys = [crypto.generate_private_key() for _ in range(4)]
    for private in keys:
        for public in (k.public_key() for k in keys):
            z = crypto.shared_secret(private, public)
            assert z == private.exchange(crypto.ec.ECDH(), public)
            assert crypto.shared_secret(private, public) == z
            assert len(crypto._SECRETS) <= 3


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages())
def test_generated_messages_peek_to_their_decoded_header(drawn):
    """Every other-information variant, date-time, signature and MAC header form."""
    _, raw = drawn
    assert not _same(peek_header(raw), decode(raw, verify=False).header)
