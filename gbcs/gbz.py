"""The GBZ payload: ZigBee Smart Energy frames in GBCS use-case components.

A GBZ payload is the ZSE profile id (01 09), a component count and the components; an
alert (CRA 3) puts an alert code and a timestamp after the count, then what its message
code or alert code calls for. Each component is an extended header (control, cluster
id, length), an optional from-date-time, and a ZCL frame whose payload may be encrypted
(additional header, then a GBCS security header, ciphertext and 12-byte tag). GBZ header
fields are big-endian; ZCL fields little-endian; times count seconds from 2000-01-01 UTC.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Callable

from gbcs import zcl
from gbcs.alerts import alert_name
from gbcs.content import CRA_ALERT, ContentContext
from gbcs.errors import GbcsDecodeError, GbcsEncodeError
from gbcs.node import Node, encode
from gbcs.reader import Reader
from gbcs.usecases import by_code
from gbcs.zcl_types import utc_seconds, utc_text

PROFILE_ID = 0x0109

# Extended header control field bits.
LAST_COMPONENT = 0x01
ENCRYPTED = 0x02
FROM_DATE_TIME = 0x10

MAC_LEN = 12
SECURITY_HEADER_LEN = 5  # security control + invocation counter
SECURITY_CONTROL = 0x31

# Message codes whose GBZ alert payload has a fixed layout after the timestamp.
GCS53_ALERT = 0x008B  # Push Billing Data Log as an Alert: one component
FUTURE_DATED_ALERT = 0x00CD  # Future Dated Execution Of Instruction Alert (GBZ)
FIRMWARE_RECEIPT_ALERT = 0x00CF  # Firmware Distribution Receipt Alert (GSME)
METER_INTEGRITY_ALERT = 0x00F2  # Meter Integrity Issue Warning Alert - GSME
SPECIAL_CODES: frozenset[int] = frozenset(
    (GCS53_ALERT, FUTURE_DATED_ALERT, FIRMWARE_RECEIPT_ALERT, METER_INTEGRITY_ALERT))

INTEGRITY_WARNINGS = {
    0x0000: "Other", 0x0001: "Error Non Volatile Memory", 0x0002: "Error Program Execution",
    0x0003: "Error Program Storage", 0x0004: "Error RAM",
    0x0005: "Error Unexpected Hardware Reset", 0x0006: "Error Watchdog",
    0x0007: "Error Metrology Firmware Verification Failure",
    0x0008: "Error Measurement Fault",
    0x0009: "Unspecified Smart Meter Operational Integrity Error",
}
USER_INTERFACE_COMMANDS = {
    0x0001: "Activate Boost Period", 0x0002: "Activate Emergency Credit [PIN]",
    0x0005: "Add Credit", 0x0008: "Allow Access to User Interface",
    0x000A: "Cancel Boost Period", 0x000B: "Check for HAN Interface Commands",
    0x000C: "Disable Privacy PIN Protection [PIN]", 0x000E: "Enable Supply [PIN]",
    0x000F: "Extend Boost Period", 0x0012: "Set Privacy PIN [PIN]",
    0x0013: "Test Auxiliary Load Control Switch 1",
    0x0014: "Test Auxiliary Load Control Switch 2",
    0x0015: "Test Auxiliary Load Control Switch 3",
    0x0016: "Test Auxiliary Load Control Switch 4",
    0x0017: "Test Auxiliary Load Control Switch 5", 0x0018: "Test Valve",
    0x0019: "Reset Remaining Battery Capacity", 0x001A: "Find and Join SMHAN",
}


def _control_text(value: int) -> str:
    parts = [name for bit, name in ((LAST_COMPONENT, "last component"),
                                    (ENCRYPTED, "encrypted"),
                                    (FROM_DATE_TIME, "from-date-time present")) if value & bit]
    return ", ".join(parts) or "none"


_CONTROL_TEXT = [_control_text(v) for v in range(256)]


# -- decoding ------------------------------------------------------------------------------


_KINDS = {1: "u8", 2: "u16", 4: "u32", 8: "u64"}


def _be(r: Reader, name: str, size: int, human: str | None = None) -> Node:
    """A big-endian unsigned GBZ header field."""
    pos = r.pos
    end = pos + size
    if end > r.end:
        r.need(size, name)
    r.pos = end
    return Node(name, _KINDS[size], int.from_bytes(r.buf[pos:end], "big"), None, pos, size,
                human)


def _time(r: Reader, name: str) -> Node:
    node = _be(r, name, 4)
    node.human = utc_text(node.value)
    return node


def decode_gbz(r: Reader, ctx: ContentContext) -> Node:
    """A GBZ payload (command, response or alert) filling `r`, as a ``gbz`` node."""
    try:
        if ctx.cra == CRA_ALERT or ctx.message_code in SPECIAL_CODES:
            node = _alert(r, ctx)
        else:
            node = _payload(r, ctx)
        r.expect_end("gbz")
    except GbcsDecodeError as err:
        raise err.within("gbz")
    return node


def _profile(r: Reader) -> Node:
    node = _be(r, "profile_id", 2)
    if node.value != PROFILE_ID:
        raise r.fail(f"profile id must be 0x0109, got 0x{node.value:04X}", "profile_id",
                     node.offset)
    node.human = "ZigBee Smart Energy"
    return node


def _payload(r: Reader, ctx: ContentContext) -> Node:
    start = r.pos
    children = [_profile(r), _be(r, "component_count", 1)]
    count = children[1].value
    if count * 5 > r.remaining:
        raise r.fail(f"{count} components cannot fit in {r.remaining} bytes",
                     "component_count")
    for i in range(count):
        children.append(_component(r, ctx, i))
    return Node("gbz", "count", 1, children, start, r.pos - start)


def _component(r: Reader, ctx: ContentContext, index: int) -> Node:
    start = r.pos
    try:
        control = _be(r, "extended_header_control", 1)
        control.human = _CONTROL_TEXT[control.value]
        cluster = _be(r, "cluster_id", 2)
        cluster.human = zcl.cluster_name(cluster.value)
        length = _be(r, "extended_header_length", 2)
        body = r.sub(length.value, "extended_header_length")
        children = [control, cluster, length]
        if control.value & FROM_DATE_TIME:
            children.append(_time(body, "from_date_time"))
        encrypted = control.value & ENCRYPTED
        if encrypted:
            children.append(_be(body, "additional_header_control", 1))
            children.append(_be(body, "additional_frame_counter", 1))
        frame = _zcl(body, ctx, cluster.value, encrypted)
    except GbcsDecodeError as err:
        raise err.within(f"component[{index}]")
    children.append(frame)
    command = frame.get("command_id")
    human = " ".join(x for x in (cluster.human, command.human if command else None) if x)
    return Node("component", "lv", 2, children, start, r.pos - start, human or None)


def _zcl(body: Reader, ctx: ContentContext, cluster_id: int, encrypted: int) -> Node:
    start = body.pos
    try:
        children, frame_control, command_id = zcl.decode_header(body, cluster_id)
        if encrypted:
            children.append(_encrypted(body, ctx, cluster_id, frame_control, command_id))
        else:
            children.append(zcl.decode_payload(body, cluster_id, frame_control, command_id))
    except GbcsDecodeError as err:
        raise err.within("zcl")
    return Node("zcl", "seq", None, children, start, body.pos - start)


def _encrypted(r: Reader, ctx: ContentContext, cluster_id: int, frame_control: int,
               command_id: int) -> Node:
    start = r.pos
    length = _be(r, "ciphered_information_length", 2)
    if length.value < SECURITY_HEADER_LEN + MAC_LEN:
        raise r.fail(f"ciphered information of {length.value} bytes is shorter than its "
                     "security header and MAC", "ciphered_information_length", start)
    body = r.sub(length.value, "ciphered_information_length")
    r.expect_end("encrypted_payload")
    security_control = _be(body, "security_control", 1)
    invocation_counter = _be(body, "invocation_counter", 4)
    ct_start = body.pos
    ciphertext_and_tag = body.rest()
    ct_len = len(ciphertext_and_tag) - MAC_LEN
    children = [length, security_control, invocation_counter,
                Node("ciphertext", "bytes", ciphertext_and_tag[:ct_len], None, ct_start, ct_len),
                Node("mac", "bytes", ciphertext_and_tag[ct_len:], None, ct_start + ct_len,
                     MAC_LEN)]
    plaintext = ctx.decrypt(ciphertext_and_tag) if ctx.decrypt is not None else None
    if plaintext is None:
        ctx.decryptions.append("undecrypted")
    else:
        ctx.decryptions.append("decrypted")
        # GCM is a stream cipher: plaintext byte i sits at ciphertext byte i, so the
        # decrypted fields keep the offsets of the bytes that carry them.
        inner = Reader(bytes(ct_start) + plaintext, ct_start)
        try:
            payload = zcl.decode_payload(inner, cluster_id, frame_control, command_id)
        except GbcsDecodeError as err:
            raise err.within("decrypted")
        children.append(Node("decrypted", "view", None, [payload], ct_start, len(plaintext)))
    return Node("encrypted_payload", "lv", 0, children, start, r.pos - start)


def _alert(r: Reader, ctx: ContentContext) -> Node:
    start = r.pos
    children = [_profile(r), _be(r, "component_count", 1)]
    code = _be(r, "alert_code", 2)
    code.human = alert_name(code.value)
    children += [code, _time(r, "timestamp")]
    layout = _MESSAGE_LAYOUTS.get(ctx.message_code) or _ALERT_LAYOUTS.get(code.value)
    if layout is not None:
        children += layout(r, ctx, children[1].value)
    elif r.remaining:
        children += _components_or_bytes(r, ctx, children[1].value)
    return Node("gbz", "seq", None, children, start, r.pos - start)


def _components(r: Reader, ctx: ContentContext, count: int) -> list[Node]:
    if count * 5 > r.remaining:
        raise r.fail(f"{count} components cannot fit in {r.remaining} bytes",
                     "component_count")
    return [_component(r, ctx, i) for i in range(count)]


def _components_or_bytes(r: Reader, ctx: ContentContext, count: int) -> list[Node]:
    """An alert GBCS gives no layout for: its components if they parse, else bytes."""
    pos, opened = r.pos, len(ctx.decryptions)
    try:
        nodes = _components(r, ctx, count)
        r.expect_end("components")
        return nodes
    except GbcsDecodeError:
        r.pos = pos
        del ctx.decryptions[opened:]
        raw = r.rest()
        return [Node("use_case_specific_components", "bytes", raw, None, pos, len(raw))]


def _future_dated(r: Reader, ctx: ContentContext, count: int) -> list[Node]:
    """8F66 / 8F67: which future-dated command ran (length 14, message code, originator
    counter, cluster, frame control, command id)."""
    start = r.pos
    length = _be(r, "length", 1)
    body = r.sub(length.value, "future_dated_alert")
    code = _be(body, "message_code", 2)
    use_case = by_code(code.value)
    code.human = use_case.title if use_case else None
    counter = _be(body, "originator_counter", 8)
    cluster = _be(body, "cluster_id", 2)
    cluster.human = zcl.cluster_name(cluster.value)
    frame_control = _be(body, "frame_control", 1)
    fc = frame_control.value
    frame_control.human = zcl.frame_control_text(fc)
    command = _be(body, "command_id", 1)
    command.human = zcl.command_name(cluster.value, 1 if fc & zcl.SERVER_TO_CLIENT else 0,
                                     fc & zcl.FRAME_TYPE_MASK, command.value)
    body.expect_end("future_dated_alert")
    return [Node("future_dated_alert", "lv", 0, [length, code, counter, cluster, frame_control,
                                                  command], start, r.pos - start)]


def _firmware_hash(r: Reader, ctx: ContentContext, count: int) -> list[Node]:
    """8F72 / 8F1C: the calculated manufacturer image hash as a DLMS octet-string."""
    start = r.pos
    tag = _be(r, "tag", 1, "octet-string")
    if tag.value != 0x09:
        raise r.fail(f"expected octet-string tag 0x09, got 0x{tag.value:02X}", "tag", start)
    length = _be(r, "length", 1)
    pos = r.pos
    value = Node("value", "bytes", r.take(length.value, "calculated_manufacturer_hash"), None,
                 pos, length.value)
    string = Node("octet_string", "lv", 0, [length, value], start + 1, r.pos - start - 1)
    return [Node("calculated_manufacturer_hash", "seq", None, [tag, string], start,
                 r.pos - start)]


def _integrity(r: Reader, ctx: ContentContext, count: int) -> list[Node]:
    node = _be(r, "integrity_issue_warning", 2)
    node.human = INTEGRITY_WARNINGS.get(node.value)
    return [node]


def _user_interface(r: Reader, ctx: ContentContext, count: int) -> list[Node]:
    node = _be(r, "user_interface_command", 2)
    node.human = USER_INTERFACE_COMMANDS.get(node.value)
    return [node]


AlertLayout = Callable[[Reader, ContentContext, int], list[Node]]
_MESSAGE_LAYOUTS: dict[int, AlertLayout] = {
    GCS53_ALERT: _components, FUTURE_DATED_ALERT: _future_dated,
    FIRMWARE_RECEIPT_ALERT: _firmware_hash, METER_INTEGRITY_ALERT: _integrity,
}
_ALERT_LAYOUTS: dict[int, AlertLayout] = {
    0x8F0A: _components, 0x8F66: _future_dated, 0x8F67: _future_dated,
    0x8F72: _firmware_hash, 0x8F1C: _firmware_hash, 0x81A0: _integrity,
    0x8161: _user_interface, 0x8162: _user_interface,
}
# Alert codes whose payload after the timestamp has a fixed layout whatever the message
# code (other alerts: components if they parse, else bytes).
ALERT_PAYLOAD_CODES: frozenset[int] = frozenset(_ALERT_LAYOUTS)


# -- building ------------------------------------------------------------------------------


def _leaf(name: str, size: int, value: int, human: str | None = None) -> Node:
    return Node(name, f"u{8 * size}", value, None, -1, size, human)


def _seconds(when: int | _dt.datetime) -> int:
    return utc_seconds(when) if isinstance(when, _dt.datetime) else when


@dataclass
class GbzAlert:
    """The alert part of a GBZ alert payload: code, timestamp (ZCL UTC seconds or a
    datetime), the nodes after the timestamp that are not components (see the alert
    builders below), and the component count byte (default: how many components)."""

    code: int
    timestamp: int | _dt.datetime
    extra: list[Node] = field(default_factory=list)
    component_count: int | None = None


def gbz_payload(components: list[Node], alert: GbzAlert | None = None) -> Node:
    """A ``gbz`` node; sets the last-component flag on the last component only."""
    for i, comp in enumerate(components):
        control = comp.children[0]
        last = i == len(components) - 1
        control.value = (control.value | LAST_COMPONENT) if last else (
            control.value & ~LAST_COMPONENT)
        control.human = _CONTROL_TEXT[control.value & 0xFF]
    profile = _leaf("profile_id", 2, PROFILE_ID, "ZigBee Smart Energy")
    if alert is None:
        return Node("gbz", "count", 1, [profile, _leaf("component_count", 1, 0)] + components)
    count = alert.component_count
    if count is None:
        count = len(components) or (1 if alert.extra else 0)
    timestamp = _seconds(alert.timestamp)
    return Node("gbz", "seq", None, [
        profile, _leaf("component_count", 1, count),
        _leaf("alert_code", 2, alert.code, alert_name(alert.code)),
        _leaf("timestamp", 4, timestamp, utc_text(timestamp)),
    ] + list(alert.extra) + components)


def component(cluster_id: int, frame: Node, *, from_date_time: int | _dt.datetime | None = None,
              encrypt: Callable[[bytes], bytes] | None = None,
              additional_header_control: int = 0, additional_frame_counter: int = 0,
              security_control: int = SECURITY_CONTROL, invocation_counter: int = 0,
              last: bool = False) -> Node:
    """A GBZ component carrying `frame` (a ``zcl`` node from the `gbcs.zcl` builders).
    With `encrypt` (plaintext -> ciphertext || 12-byte tag) the ZCL payload is sent
    encrypted, its plaintext kept as a ``decrypted`` view."""
    control = (LAST_COMPONENT if last else 0) | (FROM_DATE_TIME if from_date_time is not None
                                                  else 0) | (ENCRYPTED if encrypt else 0)
    children = [_leaf("extended_header_control", 1, control, _CONTROL_TEXT[control]),
                _leaf("cluster_id", 2, cluster_id, zcl.cluster_name(cluster_id)),
                _leaf("extended_header_length", 2, 0)]
    if from_date_time is not None:
        seconds = _seconds(from_date_time)
        children.append(_leaf("from_date_time", 4, seconds, utc_text(seconds)))
    if encrypt is not None:
        children.append(_leaf("additional_header_control", 1, additional_header_control))
        children.append(_leaf("additional_frame_counter", 1, additional_frame_counter))
        frame = _encrypt_frame(frame, encrypt, security_control, invocation_counter)
    return Node("component", "lv", 2, children + [frame])


def _encrypt_frame(frame: Node, encrypt: Callable[[bytes], bytes], security_control: int,
                   invocation_counter: int) -> Node:
    if not frame.children:
        raise GbcsEncodeError("a zcl node needs a header and a payload", frame.name)
    payload = frame.children[-1]
    sealed = encrypt(encode(payload))
    if len(sealed) < MAC_LEN:
        raise GbcsEncodeError("encrypt must return ciphertext and a 12-byte tag", frame.name)
    encrypted = Node("encrypted_payload", "lv", 0, [
        _leaf("ciphered_information_length", 2, 0),
        _leaf("security_control", 1, security_control),
        _leaf("invocation_counter", 4, invocation_counter),
        Node("ciphertext", "bytes", sealed[:-MAC_LEN]),
        Node("mac", "bytes", sealed[-MAC_LEN:]),
        Node("decrypted", "view", None, [payload]),
    ])
    return Node("zcl", "seq", None, frame.children[:-1] + [encrypted])


def future_dated_alert(message_code: int, originator_counter: int, cluster_id: int,
                       frame_control: int, command_id: int) -> Node:
    """The 8F66 / 8F67 alert detail naming the future-dated command that ran."""
    return Node("future_dated_alert", "lv", 0, [
        _leaf("length", 1, 0), _leaf("message_code", 2, message_code),
        _leaf("originator_counter", 8, originator_counter),
        _leaf("cluster_id", 2, cluster_id, zcl.cluster_name(cluster_id)),
        _leaf("frame_control", 1, frame_control, zcl.frame_control_text(frame_control)),
        _leaf("command_id", 1, command_id, zcl.command_name(
            cluster_id, 1 if frame_control & zcl.SERVER_TO_CLIENT else 0,
            frame_control & zcl.FRAME_TYPE_MASK, command_id))])


def firmware_hash(digest: bytes) -> Node:
    """The 8F72 alert detail: the calculated manufacturer image hash."""
    return Node("calculated_manufacturer_hash", "seq", None, [
        _leaf("tag", 1, 0x09, "octet-string"),
        Node("octet_string", "lv", 0, [_leaf("length", 1, 0), Node("value", "bytes", digest)])])


def integrity_warning(code: int) -> Node:
    """The 81A0 alert detail: which integrity issue."""
    return _leaf("integrity_issue_warning", 2, code, INTEGRITY_WARNINGS.get(code))


def user_interface_command(code: int) -> Node:
    """The 8161 / 8162 alert detail: which user interface command."""
    return _leaf("user_interface_command", 2, code, USER_INTERFACE_COMMANDS.get(code))
