"""The ESME's DLMS server: runs a decoded Access-Request (firmware.core.dlms_server,
break-on-error) against the COSEM objects."""

from __future__ import annotations

from firmware.core import dlms_server
from firmware.esme.cosem import OTHER_REASON, AccessError, Context
from gbcs.node import Node


class RequestError(ValueError):
    """A payload that is no Access-Request."""


def execute(ctx: Context, request: Node) -> Node:
    """The Access-Response to `request` (a ``dlms.access-request`` node)."""
    if request.kind != "dlms.access-request":
        raise RequestError(f"expected an access-request, got {request.kind}")
    return dlms_server.execute(
        request, lambda spec, choice, value: _one(ctx, spec, choice, value), AccessError)


def _one(ctx: Context, spec: Node, choice: str, value: Node | None) -> Node | None:
    value = dlms_server.null() if value is None else value
    desc = spec.children[0]
    class_id, obis, ident = (c.value for c in desc.children)
    target = ctx.lookup(class_id, obis)
    selection = None
    if len(spec.children) > 1:
        selector, params = spec.children[1].children
        selection = (selector.value, params)
    if choice == "get":
        return target.get(ctx, ident, selection)
    if choice == "set":
        if selection is not None:
            raise AccessError(OTHER_REASON, f"{target}: set-with-selection unsupported")
        target.set(ctx, ident, value)
        return None
    return target.action(ctx, ident, value)
