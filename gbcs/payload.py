"""Which decoder reads a content: ASN.1 by message code, else GBZ by its profile id
(01 09) or DLMS by its APDU tag (D9 access-request, DA access-response,
0F data-notification); some alert payloads are chosen by message code alone."""

from __future__ import annotations

from gbcs import asn1, dlms, gbz
from gbcs.content import ContentContext
from gbcs.node import Node
from gbcs.reader import Reader

GBZ_PROFILE = b"\x01\x09"
DLMS_TAGS = frozenset((0xD9, 0xDA, 0x0F))


def content_kind(message_code: int, content: bytes) -> str:
    """ "asn1", "gbz" or "dlms" for a content (before decoding it), or "unknown"."""
    if message_code in asn1.MESSAGE_CODES:
        return "asn1"
    if message_code in dlms.SPECIAL_CODES:
        return "dlms"
    if message_code in gbz.SPECIAL_CODES or content[:2] == GBZ_PROFILE:
        return "gbz"
    if content[:1] and content[0] in DLMS_TAGS:
        return "dlms"
    return "unknown"


def decode_content(r: Reader, ctx: ContentContext) -> Node:
    kind = content_kind(ctx.message_code, r.buf[r.pos:r.pos + 2])
    if kind == "asn1":
        return asn1.decode_asn1(r, ctx)
    if kind == "gbz":
        return gbz.decode_gbz(r, ctx)
    if kind == "dlms":
        return dlms.decode_dlms(r, ctx)
    raise r.fail(f"content of message code 0x{ctx.message_code:04X} is neither GBZ "
                 "(01 09), DLMS (D9/DA/0F) nor an ASN.1 use case", "payload")
