"""The DLMS COSEM payloads of GBCS (GBCS section 19 and the ESME use cases): the ACCESS
service (Access-Request 0xD9, Access-Response 0xDA) and Data-Notification (0x0F) alerts,
decoded into named fields over A-XDR `Data` (`gbcs.axdr`), and builders for commands.

Beyond the generic APDUs, GBCS puts use-case meaning into the data: every COSEM
attribute or method descriptor is named from the interface class and OBIS tables
(`gbcs.obis`); alert bodies are a structure of alert code, timestamp and payload; some
alerts carry fixed octet-string layouts (future-dated execution, firmware distribution
receipt, meter integrity issue, failure to deliver a remote party message); and
sensitive data travels as Data Protection "protected attributes" (AES-GCM, AAD 0x31)
that are opened with `ctx.decrypt` and shown as a ``view``.

Tree shapes: a CHOICE tag is the kind of the node it selects, as for A-XDR data (the
APDU, ``dlms.access-request`` .. ``dlms.data-notification``; each access specification
and result, ``dlms.get`` .. ``dlms.set-with-selection``), and the lists are
``axdr.sequence-of`` nodes whose children are the items, so no node holds only a tag or
a count.
"""

from __future__ import annotations

from typing import Callable

from gbcs.alerts import alert_name
from gbcs.axdr import (
    ARRAY,
    DATA_KINDS,
    DOUBLE_LONG,
    DOUBLE_LONG_UNSIGNED,
    ENUM,
    INTEGER,
    LONG,
    LONG64,
    LONG64_UNSIGNED,
    LONG_UNSIGNED,
    MAX_DEPTH,
    NULL_DATA,
    OCTET_FIELDS_KIND,
    OCTET_STRING,
    OPTIONAL_KIND,
    SEQUENCE_OF_KIND,
    STRUCTURE,
    UNSIGNED,
    array_node,
    compact_array_node,
    data_node,
    data_tag,
    decode_axdr,
    format_date_time,
    item_names,
    octets_of,
    structure_node,
)
from gbcs.content import ContentContext
from gbcs.errors import GbcsDecodeError
from gbcs.node import Node, composite_kind
from gbcs.obis import (
    attribute_name,
    class_name,
    describe_obis,
    method_name,
    scaled,
    unit_name,
)
from gbcs.reader import Reader

__all__ = [
    "SPECIAL_CODES", "decode_dlms", "decode_axdr", "data_node", "array_node",
    "structure_node", "compact_array_node", "access_request", "get_request", "set_request",
    "action_request", "access_response", "alert_notification", "descriptor_node",
    "specification_node", "long_invoke_id",
]

ACCESS_REQUEST = 0xD9
ACCESS_RESPONSE = 0xDA
DATA_NOTIFICATION = 0x0F
APDU_NAMES = {ACCESS_REQUEST: "access-request", ACCESS_RESPONSE: "access-response",
              DATA_NOTIFICATION: "data-notification"}

# Message codes whose content is DLMS whatever its first byte, each with a fixed alert
# payload layout.
FUTURE_DATED_ALERT = 0x00CC
FIRMWARE_RECEIPT_ALERT = 0x00CE
BILLING_DATA_LOG_ALERT = 0x0061
FAILURE_TO_DELIVER_ALERT = 0x00D5
METER_INTEGRITY_ALERT = 0x00F0
SPECIAL_CODES: frozenset[int] = frozenset((FUTURE_DATED_ALERT, FIRMWARE_RECEIPT_ALERT,
                                           BILLING_DATA_LOG_ALERT, FAILURE_TO_DELIVER_ALERT,
                                           METER_INTEGRITY_ALERT))

GET, SET, ACTION, GET_WITH_SELECTION, SET_WITH_SELECTION = 1, 2, 3, 4, 5
REQUEST_CHOICES = {GET: "get", SET: "set", ACTION: "action",
                   GET_WITH_SELECTION: "get-with-selection",
                   SET_WITH_SELECTION: "set-with-selection"}
RESPONSE_CHOICES = {GET: "get", SET: "set", ACTION: "action"}


def _choice_kind(kind: str, tag: int) -> str:
    """Register a composite written as its CHOICE tag, then its children."""
    head = bytes((tag,))
    composite_kind(kind, lambda node, body, count: head)
    return kind


APDU_KINDS = {tag: _choice_kind(f"dlms.{name}", tag) for tag, name in APDU_NAMES.items()}
CHOICE_KINDS = {choice: _choice_kind(f"dlms.{name}", choice)
                for choice, name in REQUEST_CHOICES.items()}

DATA_ACCESS_RESULTS = {
    0: "success", 1: "hardware-fault", 2: "temporary-failure", 3: "read-write-denied",
    4: "object-undefined", 9: "object-class-inconsistent", 11: "object-unavailable",
    12: "type-unmatched", 13: "scope-of-access-violated", 14: "data-block-unavailable",
    15: "long-get-aborted", 16: "no-long-get-in-progress", 17: "long-set-aborted",
    18: "no-long-set-in-progress", 19: "data-block-number-invalid", 250: "other-reason",
}
ACTION_RESULTS = {
    0: "success", 1: "hardware-fault", 2: "temporary-failure", 3: "read-write-denied",
    4: "object-undefined", 9: "object-class-inconsistent", 11: "object-unavailable",
    12: "type-unmatched", 13: "scope-of-access-violated", 14: "data-block-unavailable",
    15: "long-action-aborted", 16: "no-long-action-in-progress", 250: "other-reason",
}
METER_INTEGRITY_ISSUES = {
    0: "Other", 1: "Error Non Volatile Memory", 2: "Error Program Execution",
    3: "Error Program Storage", 4: "Error RAM", 5: "Error Unexpected Hardware Reset",
    6: "Error Watchdog", 7: "Error Metrology Firmware Verification Failure",
    8: "Error Measurement Fault", 9: "Unspecified Smart Meter Operational Integrity Error",
}
CRA_NAMES = {1: "command", 2: "response", 3: "alert", 4: "payload encryption"}
# Alerts whose payload is a remote party message (originator, target, CRA, counter).
REMOTE_PARTY_MESSAGE_ALERTS = frozenset((0x8F2C, 0x8F84))

# GBCS sets processing-option "break on error" (bit 29) in every long-invoke-id.
GBCS_INVOKE_FLAGS = 0x20000000
SECURITY_HEADER = 0x31
TAG_LEN = 12


# -- small pieces ---------------------------------------------------------------------


_INVOKE_FLAGS = ((31, "high-priority"), (30, "confirmed"), (29, "break-on-error"),
                 (28, "self-descriptive"))
# The flags' text for each value of the top four bits.
_INVOKE_FLAGS_TEXT = tuple("".join(f", {name}" for bit, name in _INVOKE_FLAGS
                                   if top << 28 >> bit & 1) for top in range(16))


def invoke_id_human(value: int) -> str:
    return f"invoke-id {value & 0xFFFFFF}{_INVOKE_FLAGS_TEXT[value >> 28 & 0xF]}"


def _date_time_human(raw: bytes) -> str | None:
    return format_date_time(raw) if len(raw) == 12 else "absent" if not raw else None


def _date_time(r: Reader) -> Node:
    """The APDU's optional date-time: an A-XDR octet-string, empty (as GBCS sends it)
    or 12 octets."""
    pos = r.pos
    if pos < r.end and r.buf[pos] == 0:
        r.pos = pos + 1
        return Node("date_time", "ber_octets", b"", None, pos, 1, "absent")
    node = r.leaf_ber_octets("date_time")
    node.human = _date_time_human(node.value)
    return node


_DescriptorText = tuple[int, bytes, int, str, str, str, str]
# Descriptor octets -> class id, OBIS, id and their readable forms, for attributes and
# for methods: a device meets the same few hundred descriptors over and over (bounded).
_DESCRIPTOR_TEXT: tuple[dict[bytes, _DescriptorText], dict[bytes, _DescriptorText]] = ({}, {})
_DESCRIPTOR_NAMES = (("cosem_attribute_descriptor", "attribute_id"),
                     ("cosem_method_descriptor", "method_id"))


def _descriptor_text(raw: bytes, method: bool) -> _DescriptorText:
    class_id, obis = int.from_bytes(raw[:2], "big"), raw[2:8]
    ident = raw[8] - 256 if raw[8] > 127 else raw[8]
    cls_h, obis_h = class_name(class_id), describe_obis(obis)
    id_h = (method_name if method else attribute_name)(class_id, ident)
    text = (class_id, obis, ident, cls_h, obis_h, id_h, f"{cls_h} {obis_h}: {id_h}")
    if len(_DESCRIPTOR_TEXT[method]) < 4096:
        _DESCRIPTOR_TEXT[method][raw] = text
    return text


def _descriptor(r: Reader, method: bool) -> Node:
    """A COSEM attribute or method descriptor: class id, instance id (OBIS), id."""
    name, id_name = _DESCRIPTOR_NAMES[method]
    start = r.pos
    raw = r.take(9, name)
    class_id, obis, ident, cls_h, obis_h, id_h, human = (
        _DESCRIPTOR_TEXT[method].get(raw) or _descriptor_text(raw, method))
    return Node(name, "seq", None,
                [Node("class_id", "u16", class_id, None, start, 2, cls_h),
                 Node("instance_id", "bytes", obis, None, start + 2, 6, obis_h),
                 Node(id_name, "i8", ident, None, start + 8, 1, id_h)], start, 9, human)


_SPEC_NAMES = tuple(f"specification[{i}]" for i in range(256))
_RESULT_NAMES = tuple(f"result[{i}]" for i in range(256))
_DATA_NAMES = tuple(f"data[{i}]" for i in range(256))


def _sequence_of(r: Reader, name: str, item: Callable[[Reader, str], Node],
                 names: tuple[str, ...], what: str) -> Node:
    """An A-XDR SEQUENCE OF: a quantity then that many items, `item(r, names[i])` each."""
    start = r.pos
    children = []
    append = children.append
    try:
        count = r.ber_length("count")[0]
        for item_name in names[:count] if count <= 256 else item_names(names, count):
            append(item(r, item_name))
    except GbcsDecodeError as err:
        raise err.within(name) from None
    return Node(name, SEQUENCE_OF_KIND, None, children, start, r.pos - start,
                f"{count} {what}")


# -- access-request -------------------------------------------------------------------


def _request_spec(r: Reader, name: str) -> Node:
    start = r.pos
    choice = r.u8("choice")
    kind = REQUEST_CHOICES.get(choice)
    if kind is None:
        raise r.fail(f"unknown access-request-specification choice {choice}", name, start)
    desc = _descriptor(r, choice == ACTION)
    children = [desc]
    if choice == GET_WITH_SELECTION or choice == SET_WITH_SELECTION:
        s_start = r.pos
        selector = r.leaf_u8("access_selector")
        selector.human = {1: "range descriptor", 2: "entry descriptor"}.get(selector.value)
        params = decode_axdr(r, "access_parameters")
        children.append(Node("access_selection", "seq", None, [selector, params], s_start,
                             r.pos - s_start))
    return Node(name, CHOICE_KINDS[choice], None, children, start, r.pos - start,
                f"{kind} {desc.human}")


def _access_request(r: Reader, ctx: ContentContext) -> list[Node]:
    specs = _sequence_of(r, "access_request_specification", _request_spec, _SPEC_NAMES,
                         "specifications")
    data = _sequence_of(r, "access_request_list_of_data", decode_axdr, _DATA_NAMES, "data")
    for spec, item in zip(specs.children, data.children):
        _annotate_data(spec, item)
    return [specs, data]


def _annotate_data(spec: Node, item: Node) -> None:
    """Name a list-of-data entry after the attribute or method it goes with (the
    request's specifications, or a response's when it echoes them)."""
    if item.kind == _NULL_KIND:
        return
    cls, _obis, ident = spec.children[0].children
    _annotate_value(item, cls.value, ident.value, ident.name == "method_id")
    item.human = f"{ident.human} = {item.human}"


# -- access-response ------------------------------------------------------------------


def _response_spec(r: Reader, name: str) -> Node:
    start = r.pos
    choice = r.u8("choice")
    kind = RESPONSE_CHOICES.get(choice)
    if kind is None:
        raise r.fail(f"unknown access-response-specification choice {choice}", name, start)
    result_name, table = (("action_result", ACTION_RESULTS) if choice == ACTION
                          else ("data_access_result", DATA_ACCESS_RESULTS))
    result = r.u8(result_name)
    human = table.get(result) or f"result {result}"
    return Node(name, CHOICE_KINDS[choice], None,
                [Node(result_name, "u8", result, None, start + 1, 1, human)], start, 2,
                f"{kind} {human}")


def _access_response(r: Reader, ctx: ContentContext) -> list[Node]:
    start = r.pos
    present = r.u8("access_request_specification")
    if present not in (0, 1):
        raise r.fail(f"access-request-specification presence flag must be 0 or 1, got "
                     f"{present}", "access_request_specification", start)
    specs = None
    if present:
        try:
            specs = _sequence_of(r, "specifications", _request_spec, _SPEC_NAMES,
                                 "specifications")
        except GbcsDecodeError as err:
            raise err.within("access_request_specification") from None
    echoed = Node("access_request_specification", OPTIONAL_KIND, None,
                  [] if specs is None else [specs], start, r.pos - start,
                  "absent" if specs is None else "present")
    data = _sequence_of(r, "access_response_list_of_data", decode_axdr, _DATA_NAMES, "data")
    results = _sequence_of(r, "access_response_specification", _response_spec,
                           _RESULT_NAMES, "results")
    items = data.children
    for item in items:
        _open_protected(item, ctx)
    _scale_register_reads(items, results.children)
    if specs is not None:
        for spec, item in zip(specs.children, items):
            _annotate_data(spec, item)
    return [echoed, data, results]


def _is_scaler_unit(node: Node) -> bool:
    children = node.children
    return (node.kind == _STRUCTURE_KIND and len(children) == 2
            and children[0].kind == _INTEGER_KIND and children[1].kind == _ENUM_KIND)


def _scale_register_reads(items: list[Node], results: list[Node]) -> None:
    """A register read returns value then scaler_unit (GBCS reads both in one request,
    and its register collections hold them in that order): show the scaled value with
    its unit next to the raw one."""
    for i in range(len(items) - 1):
        value, unit = items[i], items[i + 1]
        if not _is_scaler_unit(unit) or data_tag(value) not in _NUMERIC:
            continue
        if i + 1 < len(results) and results[i + 1].kind != _GET_KIND:
            continue
        scaler, code = unit.children[0].value, unit.children[1].value
        _label_scaler_unit(unit)
        value.human = f"{value.human} ({scaled(value.value, scaler, code)})"


def _scale_collections(node: Node, depth: int = 0) -> None:
    """Value / scaler_unit pairs inside the structures of decrypted register data."""
    if data_tag(node) not in (ARRAY, STRUCTURE) or depth > MAX_DEPTH:
        return
    elements = node.children
    _scale_register_reads(elements, [])
    for child in elements:
        _scale_collections(child, depth + 1)


_NUMERIC = frozenset((DOUBLE_LONG, DOUBLE_LONG_UNSIGNED, INTEGER, LONG, UNSIGNED,
                      LONG_UNSIGNED, LONG64, LONG64_UNSIGNED))
_STRUCTURE_KIND = DATA_KINDS[STRUCTURE]
_NULL_KIND = DATA_KINDS[NULL_DATA]
_GET_KIND = CHOICE_KINDS[GET]
_INTEGER_KIND = DATA_KINDS[INTEGER]
_ENUM_KIND = DATA_KINDS[ENUM]


def _label_scaler_unit(node: Node) -> None:
    scaler, unit = node.children
    scaler.name, unit.name = "scaler", "unit"
    unit.human = unit_name(unit.value)
    node.human = f"scaler {scaler.value}, unit {unit.human}"


# -- meaning of values ----------------------------------------------------------------

_SCALER_UNIT_ATTRIBUTES = {(3, 3), (4, 3), (5, 4), (9000, 3), (9000, 5)}
_ENUMS = {
    (70, 3): {0: "disconnected", 1: "connected", 2: "ready_for_reconnection"},
    (8, 9): {0: "not defined", 1: "internal crystal", 2: "mains frequency 50 Hz",
             3: "mains frequency 60 Hz", 4: "GPS", 5: "radio controlled"},
}
_ACCOUNT_MODES = {1: "credit mode", 2: "prepayment mode"}
_ACCOUNT_STATUS = {1: "new (inactive) account", 2: "account active", 3: "account closed"}


def _annotate_value(item: Node, cls: int, ident: int, is_method: bool) -> None:
    """Readable forms for the data of attributes whose meaning COSEM or GBCS fixes."""
    if is_method:
        return
    key = (cls, ident)
    if key in _SCALER_UNIT_ATTRIBUTES and _is_scaler_unit(item):
        _label_scaler_unit(item)
    elif key in _ENUMS and data_tag(item) == ENUM:
        item.human = _ENUMS[key].get(item.value, item.human)
    elif key == (111, 2) and data_tag(item) == STRUCTURE and len(item.children) == 2:
        mode, status = item.children
        if data_tag(mode) == ENUM and data_tag(status) == ENUM:
            mode.name, status.name = "account_mode", "account_status"
            mode.human = _ACCOUNT_MODES.get(mode.value, mode.human)
            status.human = _ACCOUNT_STATUS.get(status.value, status.human)
            item.human = f"{mode.human}, {status.human}"
    elif cls == 113 and ident in (5, 6):
        _annotate_unit_charge(item)


def _annotate_unit_charge(item: Node) -> None:
    """unit_charge: {scaling {commodity_scale, price_scale}, commodity reference,
    charge_table [{index, charge_per_unit}]}; show each charge with its price scale."""
    c = item.children
    if data_tag(item) != STRUCTURE or len(c) != 3 or data_tag(c[0]) != STRUCTURE \
            or len(c[0].children) != 2 or data_tag(c[2]) != ARRAY:
        return
    commodity_scale, price_scale = c[0].children
    if data_tag(price_scale) != INTEGER:
        return
    scale = price_scale.value
    c[0].name, c[1].name, c[2].name = "charge_per_unit_scaling", "commodity_reference", \
        "charge_table"
    commodity_scale.name, price_scale.name = "commodity_scale", "price_scale"
    for entry in c[2].children:
        parts = entry.children
        if data_tag(entry) == STRUCTURE and len(parts) == 2 and data_tag(parts[1]) in _NUMERIC:
            parts[0].name, parts[1].name = "index", "charge_per_unit"
            raw = parts[1].value
            parts[1].human = f"{raw} ({scaled(raw, scale, 255)} currency units)"


# -- protected data (GBCS section 8) ----------------------------------------------------


def _protected_parts(node: Node) -> tuple[Node, Node] | None:
    """(protection parameters, protected attributes) if `node` is GBCS protected data:
    structure {protection parameters, octet-string 0x31 || IC || ciphertext || tag}."""
    if node.kind != _STRUCTURE_KIND or len(node.children) != 2:
        return None
    params, protected = node.children
    if data_tag(params) not in (ARRAY, STRUCTURE):
        return None
    raw = octets_of(protected)
    if raw is None or len(raw) < 5 + TAG_LEN or raw[0] != SECURITY_HEADER:
        return None
    return params, protected


def _lay_out(node: Node, value: Node) -> None:
    """Show the octets of an octet-string node as named sub-fields (`value`, one node);
    it still encodes as it came."""
    node.kind, node.value, node.children = OCTET_FIELDS_KIND, None, [value]


def _octets_at(node: Node) -> int:
    """Where the octets of a decoded octet-string node start."""
    return node.offset + node.size - len(node.value)


def _open_protected(node: Node, ctx: ContentContext) -> bool:
    parts = _protected_parts(node)
    if parts is None:
        return False
    params, protected = parts
    params.name, protected.name = "protection_parameters", "protected_attributes"
    _annotate_protection_parameters(params)
    raw = protected.value
    pos = _octets_at(protected)
    header = Node("security_header", "u8", raw[0], None, pos, 1, "encrypted and authenticated")
    ic = Node("invocation_counter", "u32", int.from_bytes(raw[1:5], "big"), None, pos + 1, 4)
    body = raw[5:]
    cipher = Node("ciphertext", "bytes", body[:-TAG_LEN], None, pos + 5,
                  len(body) - TAG_LEN)
    tag = Node("tag", "bytes", body[-TAG_LEN:], None, pos + len(raw) - TAG_LEN, TAG_LEN)
    children = [header, ic, cipher, tag]
    plaintext = ctx.decrypt(body) if ctx.decrypt is not None else None
    if plaintext is None:
        ctx.decryptions.append("undecrypted")
        protected.human = f"encrypted ({len(body) - TAG_LEN} bytes)"
    else:
        ctx.decryptions.append("decrypted")
        children.append(_plaintext_view(plaintext))
        protected.human = f"decrypted ({len(plaintext)} bytes)"
    _lay_out(protected, Node("value", "seq", None, children, pos, len(raw)))
    node.human = "protected data"
    return True


def _plaintext_view(plaintext: bytes) -> Node:
    r = Reader(plaintext)
    try:
        data = decode_axdr(r, "data")
        r.expect_end("plaintext")
    except GbcsDecodeError as err:
        raw = Node("raw", "bytes", plaintext, None, 0, len(plaintext))
        return Node("plaintext", "view", None, [raw], 0, len(plaintext),
                    f"not A-XDR data: {err}")
    _scale_collections(data)
    return Node("plaintext", "view", None, [data], 0, len(plaintext), data.human)


def _annotate_protection_parameters(params: Node) -> None:
    """Name the protection parameters: type, then options {transaction id
    (CRA || originator counter), originator and recipient system titles, other
    information, key info}."""
    entry = params
    if data_tag(params) == ARRAY and len(params.children) == 1:
        entry = params.children[0]
    if data_tag(entry) != STRUCTURE or len(entry.children) != 2:
        return
    ptype, options = entry.children
    ptype.name, options.name = "protection_type", "protection_options"
    if data_tag(ptype) == ENUM:
        ptype.human = {1: "authentication", 2: "authentication and encryption"}.get(
            ptype.value, ptype.human)
    fields = options.children
    if data_tag(options) != STRUCTURE or len(fields) != 5:
        return
    names = ("transaction_id", "originator_system_title", "recipient_system_title",
             "other_information", "key_info")
    for field, name in zip(fields, names):
        field.name = name
    tid = fields[0]
    raw = octets_of(tid)
    if raw is not None and len(raw) == 9:
        tid.human = (f"{CRA_NAMES.get(raw[0], raw[0])}, originator counter "
                     f"{int.from_bytes(raw[1:], 'big')}")
    key_info = fields[4]
    if data_tag(key_info) == STRUCTURE and len(key_info.children) == 2:
        kind, options = key_info.children
        kind.name, options.name = "key_info_type", "agreed_key_info_options"
        if data_tag(kind) == ENUM:
            kind.human = {0: "identified key", 1: "wrapped key", 2: "agreed key"}.get(
                kind.value, kind.human)
        if data_tag(options) == STRUCTURE and len(options.children) == 2:
            key_params, ciphered = options.children
            key_params.name, ciphered.name = "key_parameters", "key_ciphered_data"
            if octets_of(key_params) == b"\x02":
                key_params.human = "C(0e, 2s ECC CDH) static-static key agreement"


# -- data-notification (alerts) --------------------------------------------------------


def _data_notification(r: Reader, ctx: ContentContext) -> list[Node]:
    buf, pos = r.buf, r.pos
    if r.remaining >= 4 and buf[pos] == STRUCTURE and buf[pos + 1] < 0x80 \
            and buf[pos + 2] == LONG_UNSIGNED:
        body = _alert_body(r, ctx)
    else:
        body = decode_axdr(r, "notification_body")
    return [body]


def _alert_body(r: Reader, ctx: ContentContext) -> Node:
    """A GBCS alert: structure {alert code, timestamp, payload...}."""
    start = r.pos
    count = r.buf[start + 1]  # the caller checked the structure tag and short count
    if count < 2:
        raise r.fail("an alert needs an alert code and a timestamp", "notification_body",
                     start)
    r.pos = start + 2
    code = decode_axdr(r, "alert_code")
    alert = code.value
    code.human = f"0x{alert:04X} {alert_name(alert)}"
    stamp = decode_axdr(r, "timestamp")
    children = [code, stamp]
    n = count - 2
    for i in range(n):
        name = "payload" if n == 1 else f"payload[{i}]"
        try:
            if ctx.message_code == FAILURE_TO_DELIVER_ALERT and r.peek(name) == 0x30:
                children.append(_der_remote_party_message(r, name))
            else:
                children.append(_alert_payload(decode_axdr(r, name), ctx, alert, r.buf))
        except GbcsDecodeError as err:
            raise err.within("notification_body") from None
    return Node("notification_body", _STRUCTURE_KIND, None, children, start, r.pos - start,
                f"alert {code.human}")


def _alert_payload(node: Node, ctx: ContentContext, alert: int, buf: bytes) -> Node:
    """Lay out the octet-string payloads whose structure GBCS fixes."""
    code = ctx.message_code
    raw = octets_of(node)
    if raw is None:
        _open_protected(node, ctx)
        return node
    pos = _octets_at(node)
    if code == FUTURE_DATED_ALERT and len(raw) == 19:
        _lay_out(node, _future_dated_payload(Reader(buf, pos, pos + len(raw))))
        node.human = node.children[0].human
    elif code == FIRMWARE_RECEIPT_ALERT:
        node.name = "calculated_manufacturer_hash"
        node.human = raw.hex().upper()
    elif code == METER_INTEGRITY_ALERT and len(raw) == 2:
        issue = int.from_bytes(raw, "big")
        text = METER_INTEGRITY_ISSUES.get(issue, f"issue {issue}")
        _lay_out(node, Node("other_information", "u16", issue, None, pos, 2, text))
        node.human = text
    elif (code == FAILURE_TO_DELIVER_ALERT or alert in REMOTE_PARTY_MESSAGE_ALERTS) \
            and len(raw) == 25:
        _lay_out(node, _remote_party_fields(Reader(buf, pos, pos + len(raw))))
        node.human = node.children[0].human
    return node


def _future_dated_payload(r: Reader) -> Node:
    """Message code, originator counter and the attribute the future-dated command
    wrote (GBCS future dated execution of instruction alert); `r` spans 19 octets."""
    start = r.pos
    code = r.leaf_uint("message_code", 2)
    counter = r.leaf_uint("originator_counter", 8)
    desc = _descriptor(r, False)
    code.human = f"0x{code.value:04X}"
    return Node("value", "seq", None, [code, counter, desc], start, r.pos - start,
                f"message code 0x{code.value:04X}, originator counter {counter.value}, "
                f"{desc.human}")


def _remote_party_fields(r: Reader) -> Node:
    """Business originator and target ids, CRA flag and originator counter (25 octets)."""
    start = r.pos
    children = [r.leaf_bytes("business_originator_id", 8),
                r.leaf_bytes("business_target_id", 8), r.leaf_u8("cra_flag"),
                r.leaf_uint("originator_counter", 8)]
    children[0].human = children[0].value.hex().upper()
    children[1].human = children[1].value.hex().upper()
    children[2].human = CRA_NAMES.get(children[2].value)
    return Node("value", "seq", None, children, start, r.pos - start,
                f"{children[0].human} -> {children[1].human} {children[2].human} "
                f"counter {children[3].value}")


def _der_remote_party_message(r: Reader, name: str) -> Node:
    """The remote party message of a failure-to-deliver alert when sent as a DER
    SEQUENCE of the same four fields."""
    start = r.pos
    tag = r.leaf_u8("tag", "SEQUENCE")
    length = r.leaf_ber_len()
    body = r.sub(length.value, name)
    if length.value != 25:
        raise body.fail("remote party message must be 25 octets", name, start)
    fields = _remote_party_fields(body)
    return Node(name, "lv", 1, [tag, length, fields], start, r.pos - start, fields.human)


# -- the APDU ---------------------------------------------------------------------------


def decode_dlms(r: Reader, ctx: ContentContext) -> Node:
    """A GBCS DLMS COSEM content; consumes it exactly."""
    if type(r.buf) is not bytes:  # values become dict keys and cache keys
        r.buf = bytes(r.buf)
    start = r.pos
    try:
        tag = r.u8("tag")
        kind = APDU_NAMES.get(tag)
        if kind is None:
            raise r.fail(f"not a GBCS DLMS APDU: tag 0x{tag:02X}", "tag", start)
        invoke = r.uint(4, "long_invoke_id_and_priority")
        children = [Node("long_invoke_id_and_priority", "u32", invoke, None, start + 1, 4,
                         invoke_id_human(invoke)),
                    _date_time(r)]
        if tag == ACCESS_REQUEST:
            children += _access_request(r, ctx)
        elif tag == ACCESS_RESPONSE:
            children += _access_response(r, ctx)
        else:
            children += _data_notification(r, ctx)
        r.expect_end("dlms")
    except GbcsDecodeError as err:
        raise err.within("dlms") from None
    return Node("dlms", APDU_KINDS[tag], None, children, start, r.pos - start, kind)


# -- builders ---------------------------------------------------------------------------


def _leaf(name: str, kind: str, value, size: int, human: str | None = None) -> Node:
    return Node(name, kind, value, None, -1, size, human)


def _list(name: str, items: list[Node], what: str) -> Node:
    return Node(name, SEQUENCE_OF_KIND, None, items, -1, 0, f"{len(items)} {what}")


def long_invoke_id(invoke_id: int, flags: int = GBCS_INVOKE_FLAGS) -> int:
    """The long-invoke-id-and-priority GBCS sends: the low 24 bits of the originator
    counter with the break-on-error flag."""
    return flags | (invoke_id & 0xFFFFFF)


def _header(tag: int, invoke_id: int, date_time: bytes | None) -> list[Node]:
    value = long_invoke_id(invoke_id)
    dt = bytes(date_time or b"")
    return [_leaf("long_invoke_id_and_priority", "u32", value, 4, invoke_id_human(value)),
            _leaf("date_time", "ber_octets", dt, 0, _date_time_human(dt))]


def descriptor_node(class_id: int, obis: bytes, ident: int, method: bool = False) -> Node:
    """A COSEM attribute (or method) descriptor."""
    if len(obis) != 6:
        raise ValueError("an OBIS code is 6 octets")
    id_name = "method_id" if method else "attribute_id"
    ident_human = (method_name if method else attribute_name)(class_id, ident)
    cls = class_name(class_id)
    return Node("cosem_method_descriptor" if method else "cosem_attribute_descriptor", "seq",
                None, [_leaf("class_id", "u16", class_id, 2, cls),
                       _leaf("instance_id", "bytes", bytes(obis), 6, describe_obis(obis)),
                       _leaf(id_name, "i8", ident, 1, ident_human)],
                -1, 0, f"{cls} {describe_obis(obis)}: {ident_human}")


def specification_node(i: int, choice: str | int, class_id: int, obis: bytes, ident: int,
                       selection: tuple[int, Node] | None = None) -> Node:
    """One access-request-specification: get, set, action, get-with-selection or
    set-with-selection (with (access selector, access parameters))."""
    names = {v: k for k, v in REQUEST_CHOICES.items()}
    code = names[choice] if isinstance(choice, str) else choice
    desc = descriptor_node(class_id, obis, ident, method=code == ACTION)
    children = [desc]
    if code in (GET_WITH_SELECTION, SET_WITH_SELECTION):
        if selection is None:
            raise ValueError(f"{REQUEST_CHOICES[code]} needs an access selection")
        selector, params = selection
        children.append(Node("access_selection", "seq", None,
                             [_leaf("access_selector", "u8", selector, 1), params], -1, 0))
    return Node(f"specification[{i}]", CHOICE_KINDS[code], None, children, -1, 0,
                f"{REQUEST_CHOICES[code]} {desc.human}")


def access_request(items: list[tuple], invoke_id: int, date_time: bytes | None = None) -> Node:
    """An Access-Request from (choice, class id, OBIS, attribute/method id, data node or
    None[, (selector, parameters)]) tuples; None data is sent as null-data, and data
    nodes are renamed data[i] as the decoder names them."""
    specs, data = [], []
    for i, item in enumerate(items):
        choice, class_id, obis, ident, value = item[:5]
        selection = item[5] if len(item) > 5 else None
        specs.append(specification_node(i, choice, class_id, obis, ident, selection))
        data.append(data_node("", None, NULL_DATA) if value is None else value)
    for name, node in zip(item_names(_DATA_NAMES, len(data)), data):
        node.name = name
    children = _header(ACCESS_REQUEST, invoke_id, date_time)
    children.append(_list("access_request_specification", specs, "specifications"))
    children.append(_list("access_request_list_of_data", data, "data"))
    return Node("dlms", APDU_KINDS[ACCESS_REQUEST], None, children, -1, 0,
                APDU_NAMES[ACCESS_REQUEST])


def get_request(descriptors: list[tuple[int, bytes, int]], invoke_id: int,
                date_time: bytes | None = None) -> Node:
    """Read attributes: [(class id, OBIS, attribute id), ...] (e.g. ECS17a)."""
    return access_request([("get", c, o, a, None) for c, o, a in descriptors], invoke_id,
                          date_time)


def set_request(items: list[tuple[int, bytes, int, Node]], invoke_id: int,
                date_time: bytes | None = None) -> Node:
    """Write attributes: [(class id, OBIS, attribute id, data node), ...]."""
    return access_request([("set", c, o, a, d) for c, o, a, d in items], invoke_id, date_time)


def action_request(items: list[tuple[int, bytes, int, Node | None]], invoke_id: int,
                   date_time: bytes | None = None) -> Node:
    """Invoke methods: [(class id, OBIS, method id, parameter node or None), ...]
    (e.g. ECS04b resets three credit objects with set_amount_to_value)."""
    return access_request([("action", c, o, m, d) for c, o, m, d in items], invoke_id,
                          date_time)


def access_response(data: list[Node], results: list[tuple[str | int, int]],
                    invoke_id: int, date_time: bytes | None = None) -> Node:
    """An Access-Response: the list of data (null-data for set/action without return
    data) and one (choice, result) per request specification."""
    names = {v: k for k, v in RESPONSE_CHOICES.items()}
    for name, node in zip(item_names(_DATA_NAMES, len(data)), data):
        node.name = name
    result_nodes = []
    for name, (choice, result) in zip(item_names(_RESULT_NAMES, len(results)), results):
        code = names[choice] if isinstance(choice, str) else choice
        table = ACTION_RESULTS if code == ACTION else DATA_ACCESS_RESULTS
        leaf = _leaf("action_result" if code == ACTION else "data_access_result", "u8",
                     result, 1, table.get(result, f"result {result}"))
        result_nodes.append(Node(name, CHOICE_KINDS[code], None, [leaf], -1, 0,
                                 f"{RESPONSE_CHOICES[code]} {leaf.human}"))
    children = _header(ACCESS_RESPONSE, invoke_id, date_time)
    children.append(Node("access_request_specification", OPTIONAL_KIND, None, [], -1, 0,
                         "absent"))
    children.append(_list("access_response_list_of_data", list(data), "data"))
    children.append(_list("access_response_specification", result_nodes, "results"))
    return Node("dlms", APDU_KINDS[ACCESS_RESPONSE], None, children, -1, 0,
                APDU_NAMES[ACCESS_RESPONSE])


def alert_notification(alert_code: int, timestamp: bytes, payload: list[Node],
                       invoke_id: int, date_time: bytes | None = None) -> Node:
    """A GBCS DLMS alert: Data-Notification of structure {alert code, timestamp,
    payload...}."""
    if len(timestamp) != 12:
        raise ValueError("an alert timestamp is a 12-octet COSEM date-time")
    code = data_node("alert_code", alert_code, LONG_UNSIGNED)
    code.human = f"0x{alert_code:04X} {alert_name(alert_code)}"
    stamp = data_node("timestamp", bytes(timestamp), OCTET_STRING)
    for i, node in enumerate(payload):
        node.name = "payload" if len(payload) == 1 else f"payload[{i}]"
    body = Node("notification_body", _STRUCTURE_KIND, None, [code, stamp] + payload, -1, 0,
                f"alert {code.human}")
    return Node("dlms", APDU_KINDS[DATA_NOTIFICATION], None,
                _header(DATA_NOTIFICATION, invoke_id, date_time) + [body], -1, 0,
                APDU_NAMES[DATA_NOTIFICATION])



def protection_parameters(originator_counter: int, originator: bytes,
                          recipient: bytes) -> Node:
    """The protection parameters of GBCS protected data: authentication and encryption,
    transaction id (CRA 04 payload encryption || originator counter), the two system
    titles, empty other information, and a static-static agreed key (C(0e, 2s ECC CDH))."""
    octets = OCTET_STRING
    options = structure_node("protection_options", [
        data_node("transaction_id", bytes((4,)) + originator_counter.to_bytes(8, "big"),
                  octets),
        data_node("originator_system_title", bytes(originator), octets),
        data_node("recipient_system_title", bytes(recipient), octets),
        data_node("other_information", b"", octets),
        structure_node("key_info", [data_node("key_info_type", 2, ENUM), structure_node(
            "agreed_key_info_options", [data_node("key_parameters", b"\x02", octets),
                                        data_node("key_ciphered_data", b"", octets)])]),
    ])
    entry = structure_node("entry", [data_node("protection_type", 2, ENUM), options])
    return array_node("protection_parameters", [entry])


def protected_data(params: Node, ciphertext_and_tag: bytes, invocation_counter: int = 0,
                   name: str = "data") -> Node:
    """GBCS protected data (what `_open_protected` reads): structure {protection
    parameters, octet-string 0x31 || invocation counter || ciphertext || tag}; the
    caller encrypts with `gbcs.crypto.encrypt` under `gbcs.build.payload_key`."""
    body = (bytes((SECURITY_HEADER,)) + invocation_counter.to_bytes(4, "big")
            + bytes(ciphertext_and_tag))
    return structure_node(name, [params, data_node("protected_attributes", body,
                                                   OCTET_STRING)])
