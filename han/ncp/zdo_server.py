"""The ZDO requests an EmberZNet stack answers itself for its own node: Node, Active
Endpoint and Simple Descriptor, NWK and IEEE Address (ZigBee specification 2.4.3/2.4.4).

The host also receives them (EZSP's "application receives supported ZDO requests"), but the
answer comes from the stack, from the endpoints the host registered, whether the request
came over the air or from the host itself (a unicast to its own node id is looped back).
"""

from __future__ import annotations

from collections.abc import Mapping

from han.radio.aps_layer import Endpoint

NWK_ADDR_REQ, IEEE_ADDR_REQ = 0x0000, 0x0001
NODE_DESC_REQ, SIMPLE_DESC_REQ, ACTIVE_EP_REQ = 0x0002, 0x0004, 0x0005
SUPPORTED = frozenset({NWK_ADDR_REQ, IEEE_ADDR_REQ, NODE_DESC_REQ, SIMPLE_DESC_REQ,
                       ACTIVE_EP_REQ})
SUCCESS, INVALID_EP, NOT_ACTIVE, DEVICE_NOT_FOUND, INV_REQUESTTYPE = 0x00, 0x82, 0x83, \
    0x81, 0x80
MAX_BUFFER = 82
MAX_TRANSFER = 128
# server mask: primary trust centre, network manager; stack compliance revision 22
SERVER_MASK = 0x0001 | 0x0040 | (22 << 9)
COORDINATOR_CAPABILITY = 0x8F    # alternate PAN coordinator, FFD, mains, rx on, allocate


def _u16(value: int) -> bytes:
    return value.to_bytes(2, "little")


def answer(cluster: int, payload: bytes, *, short: int, eui64: int, manufacturer: int,
           endpoints: Mapping[int, Endpoint]) -> bytes | None:
    """The response payload (transaction sequence number first) to a request for this
    node, or None when it is not one the stack answers or is not for this node."""
    if cluster not in SUPPORTED or not payload:
        return None
    tsn, body = payload[0], payload[1:]
    head = bytes([tsn])
    if cluster == NWK_ADDR_REQ:
        if len(body) < 10 or int.from_bytes(body[:8], "little") != eui64:
            return None
        return head + bytes([SUCCESS]) + eui64.to_bytes(8, "little") + _u16(short)
    if cluster == IEEE_ADDR_REQ:
        if len(body) < 4 or int.from_bytes(body[:2], "little") not in (short, 0xFFFF, 0xFFFD,
                                                                        0xFFFC):
            return None
        return head + bytes([SUCCESS]) + eui64.to_bytes(8, "little") + _u16(short)
    if len(body) < 2:
        return None
    interest = int.from_bytes(body[:2], "little")
    if interest != short:
        return head + bytes([DEVICE_NOT_FOUND]) + body[:2]
    if cluster == NODE_DESC_REQ:
        descriptor = bytes([0x00, 0x40, COORDINATOR_CAPABILITY]) + _u16(manufacturer) + \
            bytes([MAX_BUFFER]) + _u16(MAX_TRANSFER) + _u16(SERVER_MASK) + \
            _u16(MAX_TRANSFER) + bytes([0x00])
        return head + bytes([SUCCESS]) + _u16(short) + descriptor
    if cluster == ACTIVE_EP_REQ:
        active = sorted(e for e in endpoints if e <= 240)
        return head + bytes([SUCCESS]) + _u16(short) + bytes([len(active)] + active)
    if len(body) != 3:    # Simple Descriptor: NWK address, endpoint
        return None
    endpoint = endpoints.get(body[2])
    if not 1 <= body[2] <= 240:
        return head + bytes([INVALID_EP]) + _u16(short) + b"\x00"
    if endpoint is None:
        return head + bytes([NOT_ACTIVE]) + _u16(short) + b"\x00"
    ins, outs = sorted(endpoint.server_clusters), sorted(endpoint.client_clusters)
    simple = bytes([endpoint.endpoint]) + _u16(endpoint.profile_id) + \
        _u16(endpoint.device_id) + b"\x00" + bytes([len(ins)]) + \
        b"".join(_u16(c) for c in ins) + bytes([len(outs)]) + b"".join(_u16(c) for c in outs)
    return head + bytes([SUCCESS]) + _u16(short) + bytes([len(simple)]) + simple
