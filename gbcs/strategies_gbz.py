"""Hypothesis strategies for GBZ: field values for any `gbcs.zcl_tables` layout, ZCL
frames (cluster-specific commands from the tables, attribute reads and their answers,
default responses, unknown commands), GBZ components (plain, dated, encrypted) and whole
GBZ payloads and alerts, shared by property tests, fuzzing and benchmarks.

Encrypted components use `toy_seal` / `toy_open`, a reversible stand-in for the GBCS
AES-GCM payload cipher (NOT encryption) so a decoder given ``decrypt=toy_open`` shows
the plaintext again. Imports hypothesis, so only tests and tools import this module.
"""

from __future__ import annotations

import hashlib
from typing import Any

from hypothesis import strategies as st

from gbcs import gbz, zcl
from gbcs.alerts import ALERT_CODES
from gbcs.content import CRA_ALERT, CRA_COMMAND, CRA_RESPONSE
from gbcs.node import Node
from gbcs.zcl_tables import ATTRIBUTES, COMMANDS, ENUMS
from gbcs.zcl_types import ARRAY_TYPES, DATA_TYPES, NODATA, STRUCT_TYPE

MAX_ITEMS = 4
MAX_TEXT = 24
_TAG_KEY = b"smetslab toy tag"

# A GBZ message code with no fixed alert layout, for plain payloads.
PLAIN_MESSAGE_CODE = 0x0074  # GCS13a Read GSME Consumption Register


def toy_seal(plaintext: bytes) -> bytes:
    """Plaintext XOR 0x5A plus a 12-byte SHA-256 tag: reversible, not secret."""
    body = bytes(b ^ 0x5A for b in plaintext)
    return body + hashlib.sha256(_TAG_KEY + body).digest()[:gbz.MAC_LEN]


def toy_open(sealed: bytes) -> bytes | None:
    """The inverse of `toy_seal`, or None when the tag does not match."""
    if len(sealed) < gbz.MAC_LEN:
        return None
    body, tag = sealed[:-gbz.MAC_LEN], sealed[-gbz.MAC_LEN:]
    if hashlib.sha256(_TAG_KEY + body).digest()[:gbz.MAC_LEN] != tag:
        return None
    return bytes(b ^ 0x5A for b in body)


# -- scalar values -------------------------------------------------------------------------


def _int_range(token: str) -> tuple[int, int] | None:
    for prefix in ("data", "u", "b", "e", "i"):
        if token.startswith(prefix) and token[len(prefix):].isdigit():
            bits = int(token[len(prefix):])
            if prefix == "i":
                return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
            return 0, (1 << bits) - 1
    return None


_FIXED = {"utc": 4, "eui64": 8, "clusterid": 2, "attrid": 2, "bacnet": 4, "semi": 2,
          "single": 4, "double": 8, "bool": 1}
_BYTES = {"date": 4, "tod": 4, "key128": 16, "nodata": 0}
_LATIN1 = st.characters(min_codepoint=0, max_codepoint=255)


def scalar_values(token: str) -> st.SearchStrategy[Any]:
    """Values a field of type `token` (a `gbcs.zcl_tables` type) can be built from."""
    bounds = _int_range(token)
    if bounds is not None:
        return st.integers(*bounds)
    if token in _FIXED:
        return st.integers(0, (1 << (8 * _FIXED[token])) - 1)
    if token in _BYTES:
        return st.binary(min_size=_BYTES[token], max_size=_BYTES[token])
    if token.startswith("fixed"):
        size = int(token[5:])
        return st.binary(min_size=size, max_size=size)
    if token in ("octstr", "loctstr"):
        return st.binary(max_size=MAX_TEXT)
    if token in ("charstr", "lcharstr"):
        return st.text(_LATIN1, max_size=MAX_TEXT)
    if token == "bytes":
        return st.binary(max_size=MAX_TEXT)
    raise KeyError(f"no strategy for field type {token!r}")


# -- table layouts -------------------------------------------------------------------------


def _item_values(item: Any) -> st.SearchStrategy[Any]:
    if isinstance(item, str):
        return scalar_values(item.partition(" ")[0])
    return layout_values(item)


def layout_values(specs: tuple) -> st.SearchStrategy[dict[str, Any]]:
    """A dict of field values for a table layout (optional trailing fields may stop
    anywhere; a switch selector usually takes one of its cases)."""
    selectors = {spec[2]: spec[3] for spec in specs if len(spec) > 3 and spec[1] == "switch"}

    @st.composite
    def values(draw: st.DrawFn) -> dict[str, Any]:
        out: dict[str, Any] = {}
        stop_optional = draw(st.booleans())
        for spec in specs:
            name, kind = spec[0], spec[1]
            optional = len(spec) > 2 and isinstance(spec[2], str) and "opt" in spec[2].split()
            if optional and stop_optional and draw(st.booleans()):
                break
            if kind in ("rest", "count"):
                item = spec[3] if kind == "rest" else spec[5]
                out[name] = draw(st.lists(_item_values(item), max_size=MAX_ITEMS))
            elif kind == "nibbles":
                out[name] = draw(st.lists(_item_values(spec[4]), max_size=MAX_ITEMS))
            elif kind == "switch":
                case = spec[3].get(out.get(spec[2]))
                out[name] = draw(layout_values(case)) if case is not None else draw(
                    st.binary(max_size=MAX_TEXT))
            elif name in selectors:
                out[name] = draw(st.one_of(st.sampled_from(sorted(selectors[name])),
                                           scalar_values(kind)))
            else:
                out[name] = draw(scalar_values(kind))
        return out
    return values()


# -- ZCL frames ----------------------------------------------------------------------------

_SIMPLE_TYPES = sorted(t for t in DATA_TYPES if t not in ARRAY_TYPES and t != STRUCT_TYPE)
_ELEMENT_TYPES = [t for t in _SIMPLE_TYPES if t != NODATA]


@st.composite
def typed_values(draw: st.DrawFn, depth: int = 0) -> tuple[int, Any]:
    """A ZCL data type id and a value of that type (arrays and structures nest)."""
    choices = _SIMPLE_TYPES + ([0x48, 0x50, 0x51, STRUCT_TYPE] if depth < 2 else [])
    type_id = draw(st.sampled_from(choices))
    if type_id in ARRAY_TYPES:
        element = draw(st.sampled_from(_ELEMENT_TYPES))
        token = DATA_TYPES[element][1]
        return type_id, (element, draw(st.lists(scalar_values(token), max_size=MAX_ITEMS)))
    if type_id == STRUCT_TYPE:
        return type_id, draw(st.lists(typed_values(depth + 1), max_size=MAX_ITEMS))
    return type_id, draw(scalar_values(DATA_TYPES[type_id][1]))


def _attribute_ids(cluster_id: int) -> st.SearchStrategy[int]:
    known = sorted(ATTRIBUTES.get(cluster_id, {}))
    return st.one_of(st.sampled_from(known), st.integers(0, 0xFFFF)) if known else \
        st.integers(0, 0xFFFF)


_COMMAND_KEYS = sorted(COMMANDS)
_CLUSTERS = sorted({key[0] for key in COMMANDS})


@st.composite
def cluster_commands(draw: st.DrawFn) -> tuple[int, Node]:
    """(cluster id, ``zcl`` node) of a table command with table-valid field values."""
    cluster_id, direction, command_id = draw(st.sampled_from(_COMMAND_KEYS))
    fields = draw(layout_values(COMMANDS[(cluster_id, direction, command_id)][1]))
    return cluster_id, zcl.zcl_command(
        cluster_id, command_id, direction, transaction_sequence=draw(st.integers(0, 255)),
        disable_default_response=draw(st.booleans()), **fields)


@st.composite
def attribute_frames(draw: st.DrawFn) -> tuple[int, Node]:
    """(cluster id, ``zcl`` node): Read Attributes, its response, or Write Attributes."""
    cluster_id = draw(st.sampled_from(_CLUSTERS + [0x0000, 0x000A, 0x0019]))
    ids = st.lists(_attribute_ids(cluster_id), max_size=MAX_ITEMS)
    tsn = draw(st.integers(0, 255))
    which = draw(st.sampled_from(("read", "response", "write")))
    if which == "read":
        return cluster_id, zcl.zcl_read_attributes(cluster_id, draw(ids),
                                                   transaction_sequence=tsn)
    if which == "write":
        records = [(a,) + draw(typed_values()) for a in draw(ids)]
        return cluster_id, zcl.zcl_write_attributes(cluster_id, records,
                                                    transaction_sequence=tsn)
    records = []
    for attribute in draw(ids):
        status = draw(st.sampled_from(sorted(ENUMS["ZclStatus"])))
        records.append((attribute, status) + (draw(typed_values()) if status == 0 else ()))
    return cluster_id, zcl.zcl_read_attributes_response(cluster_id, records,
                                                        transaction_sequence=tsn)


@st.composite
def default_responses(draw: st.DrawFn) -> tuple[int, Node]:
    cluster_id = draw(st.sampled_from(_CLUSTERS))
    return cluster_id, zcl.zcl_default_response(
        cluster_id, draw(st.integers(0, 255)), draw(st.integers(0, 255)),
        draw(st.integers(0, 1)), transaction_sequence=draw(st.integers(0, 255)))


@st.composite
def unknown_commands(draw: st.DrawFn) -> tuple[int, Node]:
    """(cluster id, ``zcl`` node) of a command the tables do not know: its payload is
    carried as bytes."""
    cluster_id = draw(st.integers(0, 0xFFFF))
    direction = draw(st.integers(0, 1))
    command_id = draw(st.integers(0, 255).filter(
        lambda c: (cluster_id, direction, c) not in COMMANDS))
    frame_control = zcl.CLUSTER_SPECIFIC | (zcl.SERVER_TO_CLIENT if direction else 0)
    manufacturer = draw(st.none() | st.integers(0, 0xFFFF))
    payload = Node("payload", "bytes", draw(st.binary(max_size=MAX_TEXT)))
    return cluster_id, zcl.zcl_frame(frame_control, command_id, payload,
                                     transaction_sequence=draw(st.integers(0, 255)),
                                     manufacturer_code=manufacturer)


def zcl_frames() -> st.SearchStrategy[tuple[int, Node]]:
    """(cluster id, ``zcl`` node) of any frame kind GBCS carries."""
    return st.one_of(cluster_commands(), attribute_frames(), default_responses(),
                     unknown_commands())


# -- GBZ -----------------------------------------------------------------------------------


@st.composite
def gbz_components(draw: st.DrawFn) -> Node:
    """One GBZ component: any ZCL frame, maybe dated, maybe (toy-)encrypted."""
    cluster_id, frame = draw(zcl_frames())
    encrypted = draw(st.booleans())
    return gbz.component(
        cluster_id, frame,
        from_date_time=draw(st.none() | st.integers(0, 0xFFFFFFFF)),
        encrypt=toy_seal if encrypted else None,
        additional_header_control=draw(st.integers(0, 255)),
        additional_frame_counter=draw(st.integers(0, 255)),
        invocation_counter=draw(st.integers(0, 0xFFFFFFFF)))


_GENERIC_ALERTS = sorted(set(ALERT_CODES) - gbz.ALERT_PAYLOAD_CODES)


@st.composite
def gbz_alerts(draw: st.DrawFn) -> tuple[int, int, Node]:
    """(message code, CRA 3, ``gbz`` node) for each GBZ alert layout."""
    when = draw(st.integers(0, 0xFFFFFFFF))
    kind = draw(st.sampled_from(("generic", "gcs53", "future", "firmware", "integrity")))
    if kind == "gcs53":
        comps = draw(st.lists(gbz_components(), min_size=1, max_size=2))
        return gbz.GCS53_ALERT, CRA_ALERT, gbz.gbz_payload(comps, gbz.GbzAlert(0x8F0A, when))
    if kind == "future":
        extra = gbz.future_dated_alert(
            draw(st.integers(0, 0xFFFF)), draw(st.integers(0, 2 ** 64 - 1)),
            draw(st.integers(0, 0xFFFF)), draw(st.integers(0, 255)), draw(st.integers(0, 255)))
        code = draw(st.sampled_from((0x8F66, 0x8F67)))
        return gbz.FUTURE_DATED_ALERT, CRA_ALERT, gbz.gbz_payload(
            [], gbz.GbzAlert(code, when, [extra]))
    if kind == "firmware":
        extra = gbz.firmware_hash(draw(st.binary(min_size=32, max_size=32)))
        return gbz.FIRMWARE_RECEIPT_ALERT, CRA_ALERT, gbz.gbz_payload(
            [], gbz.GbzAlert(0x8F72, when, [extra]))
    if kind == "integrity":
        extra = gbz.integrity_warning(draw(st.integers(0, 0xFFFF)))
        return gbz.METER_INTEGRITY_ALERT, CRA_ALERT, gbz.gbz_payload(
            [], gbz.GbzAlert(0x81A0, when, [extra]))
    code = draw(st.sampled_from(_GENERIC_ALERTS))
    return draw(st.sampled_from((0x1000, 0x1001))), CRA_ALERT, gbz.gbz_payload(
        [], gbz.GbzAlert(code, when))


@st.composite
def gbz_commands(draw: st.DrawFn) -> tuple[int, int, Node]:
    """(message code, CRA 1 or 2, ``gbz`` node) with one to four components."""
    comps = draw(st.lists(gbz_components(), min_size=1, max_size=4))
    cra = draw(st.sampled_from((CRA_COMMAND, CRA_RESPONSE)))
    return PLAIN_MESSAGE_CODE, cra, gbz.gbz_payload(comps)


def gbz_payloads() -> st.SearchStrategy[tuple[int, int, Node]]:
    """(message code, CRA flag, ``gbz`` node) of any valid GBZ content; decode it with
    ``ContentContext(message_code, cra, decrypt=toy_open)``."""
    return st.one_of(gbz_commands(), gbz_alerts())
