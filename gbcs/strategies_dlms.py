"""Hypothesis strategies for DLMS COSEM: A-XDR data trees of every type, compact-array
type descriptions with matching values, and GBCS DLMS APDUs (access-request,
access-response, alert data-notification), for property tests, fuzzing and benchmarks.

Every strategy builds its trees with the codec's own builders (`gbcs.axdr.data_node`,
`gbcs.dlms.access_request`, ...), so `gbcs.node.encode` gives the wire bytes.
Importing this module needs hypothesis (a test dependency).
"""

from __future__ import annotations

from hypothesis import strategies as st

from gbcs import axdr, dlms
from gbcs.alerts import ALERT_CODES
from gbcs.node import Node
from gbcs.obis import OBIS_NAMES

_INT_RANGES = {
    axdr.DOUBLE_LONG: (-(1 << 31), (1 << 31) - 1),
    axdr.DOUBLE_LONG_UNSIGNED: (0, (1 << 32) - 1),
    axdr.BCD: (-128, 127),
    axdr.INTEGER: (-128, 127),
    axdr.LONG: (-(1 << 15), (1 << 15) - 1),
    axdr.UNSIGNED: (0, 255),
    axdr.LONG_UNSIGNED: (0, 0xFFFF),
    axdr.LONG64: (-(1 << 63), (1 << 63) - 1),
    axdr.LONG64_UNSIGNED: (0, (1 << 64) - 1),
    axdr.ENUM: (0, 255),
    axdr.DELTA_INTEGER: (-128, 127),
    axdr.DELTA_LONG: (-(1 << 15), (1 << 15) - 1),
    axdr.DELTA_DOUBLE_LONG: (-(1 << 31), (1 << 31) - 1),
    axdr.DELTA_UNSIGNED: (0, 255),
    axdr.DELTA_LONG_UNSIGNED: (0, 0xFFFF),
    axdr.DELTA_DOUBLE_LONG_UNSIGNED: (0, (1 << 32) - 1),
}
_RAW_SIZES = {axdr.DATE_TIME: 12, axdr.DATE: 5, axdr.TIME: 4}
SIMPLE_TAGS = sorted(set(_INT_RANGES) | set(_RAW_SIZES)
                     | {axdr.BOOLEAN, axdr.FLOAT32, axdr.FLOAT64, axdr.BIT_STRING,
                        axdr.OCTET_STRING, axdr.VISIBLE_STRING, axdr.UTF8_STRING})

_visible_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=24)
_utf8_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
_bits = st.text(alphabet="01", max_size=40)


@st.composite
def _bit_strings(draw) -> str:
    """Bit-string values, some with set unused bits in the last octet (after a '|')."""
    bits = draw(_bits)
    spare = -len(bits) % 8
    unused = draw(st.text(alphabet="01", min_size=spare, max_size=spare))
    return bits + "|" + unused if "1" in unused else bits


# Octet-strings of the lengths GBCS gives meaning to (OBIS codes, date-times) and others.
_octets = st.one_of(st.binary(max_size=20), st.binary(min_size=6, max_size=6),
                    st.binary(min_size=12, max_size=12), st.sampled_from(
                        [bytes.fromhex("0100010800FF"), bytes.fromhex("0000130A00FF"),
                         bytes.fromhex("07E90101FF000000008000FF"), bytes(12)]))


def simple_value(tag: int) -> st.SearchStrategy:
    """Python values `data_node` takes for a non-composite type."""
    if tag in _INT_RANGES:
        lo, hi = _INT_RANGES[tag]
        return st.integers(lo, hi)
    if tag in _RAW_SIZES:
        return st.binary(min_size=_RAW_SIZES[tag], max_size=_RAW_SIZES[tag])
    if tag == axdr.BOOLEAN:
        return st.booleans()
    if tag == axdr.FLOAT32:
        return st.floats(width=32, allow_nan=False)
    if tag == axdr.FLOAT64:
        return st.floats(allow_nan=False)
    if tag == axdr.BIT_STRING:
        return _bit_strings()
    if tag == axdr.VISIBLE_STRING:
        return _visible_text
    if tag == axdr.UTF8_STRING:
        return _utf8_text
    return _octets


@st.composite
def _simple_data(draw, name: str = "data") -> Node:
    tag = draw(st.sampled_from(SIMPLE_TAGS + [axdr.NULL_DATA, axdr.DONT_CARE]))
    value = None if tag in axdr.EMPTY else draw(simple_value(tag))
    return axdr.data_node(name, value, tag)


def type_specs(max_depth: int = 2) -> st.SearchStrategy:
    """Compact-array type descriptions in builder form whose elements take bytes."""
    simple = st.sampled_from(SIMPLE_TAGS)
    if max_depth <= 0:
        return simple
    inner = type_specs(max_depth - 1)
    return st.one_of(
        simple,
        st.tuples(st.just("array"), st.integers(1, 3), inner),
        st.tuples(st.just("structure"), st.lists(inner, min_size=1, max_size=3)),
    )


def values_for(spec) -> st.SearchStrategy:
    """Values for one compact-array entry laid out by a builder-form description."""
    if isinstance(spec, tuple) and spec[0] == "array":
        return st.lists(values_for(spec[2]), min_size=spec[1], max_size=spec[1])
    if isinstance(spec, tuple) and spec[0] == "structure":
        return st.tuples(*[values_for(m) for m in spec[1]]).map(list)
    return simple_value(spec)


@st.composite
def compact_arrays(draw, name: str = "data") -> Node:
    spec = draw(type_specs())
    values = draw(st.lists(values_for(spec), max_size=4))
    return axdr.compact_array_node(name, spec, values)


def axdr_data(max_depth: int = 3, name: str = "data") -> st.SearchStrategy[Node]:
    """Tagged A-XDR data trees of every DLMS type, nested up to `max_depth`."""
    leaves = st.one_of(_simple_data(name), compact_arrays(name))
    if max_depth <= 0:
        return leaves
    inner = axdr_data(max_depth - 1)
    return st.one_of(
        leaves,
        st.lists(inner, max_size=4).map(lambda items: axdr.data_node(name, items, "array")),
        st.lists(inner, max_size=4).map(
            lambda items: axdr.data_node(name, items, "structure")),
    )


_obis_codes = st.one_of(st.binary(min_size=6, max_size=6), st.sampled_from(sorted(OBIS_NAMES)))
_class_ids = st.sampled_from([1, 3, 4, 7, 8, 9, 11, 20, 21, 22, 30, 70, 71, 104, 111, 112,
                              113, 115, 9000])
_invoke_ids = st.integers(0, 0xFFFFFF)
_date_times = st.one_of(st.none(), st.binary(min_size=12, max_size=12))


@st.composite
def _request_item(draw) -> tuple:
    choice = draw(st.sampled_from(["get", "set", "action", "get-with-selection"]))
    class_id, obis = draw(_class_ids), draw(_obis_codes)
    ident = draw(st.integers(1, 20))
    if choice == "get":
        return (choice, class_id, obis, ident, None)
    if choice == "get-with-selection":
        params = draw(axdr_data(2, "access_parameters"))
        return (choice, class_id, obis, ident, None, (draw(st.integers(1, 2)), params))
    value = draw(st.one_of(st.none(), axdr_data(2))) if choice == "action" \
        else draw(axdr_data(2))
    return (choice, class_id, obis, ident, value)


@st.composite
def access_requests(draw) -> Node:
    items = draw(st.lists(_request_item(), min_size=1, max_size=4))
    return dlms.access_request(items, draw(_invoke_ids), draw(_date_times))


@st.composite
def access_responses(draw) -> Node:
    n = draw(st.integers(1, 4))
    data = draw(st.lists(axdr_data(2), min_size=n, max_size=n))
    results = draw(st.lists(st.tuples(st.sampled_from(["get", "set", "action"]),
                                      st.sampled_from(sorted(dlms.DATA_ACCESS_RESULTS))),
                            min_size=n, max_size=n))
    return dlms.access_response(data, results, draw(_invoke_ids), draw(_date_times))


@st.composite
def alert_notifications(draw) -> Node:
    code = draw(st.one_of(st.sampled_from(sorted(ALERT_CODES)), st.integers(0, 0xFFFF)))
    payload = draw(st.lists(axdr_data(2), max_size=3))
    stamp = draw(st.binary(min_size=12, max_size=12))
    return dlms.alert_notification(code, stamp, payload, draw(_invoke_ids), draw(_date_times))


def dlms_apdus() -> st.SearchStrategy[Node]:
    """Any GBCS DLMS APDU tree: access-request, access-response or alert."""
    return st.one_of(access_requests(), access_responses(), alert_notifications())
