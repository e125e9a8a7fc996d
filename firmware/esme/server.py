"""The ESME's DLMS server: executes a decoded Access-Request against the COSEM objects.

Specifications run in order with break-on-error (GBCS sets it in every long invoke
id): once one fails, the rest are not executed and answer other-reason, as the RTDS
ERROR responses show ([success, ..., hardware-fault, other-reason, ...]). The response
carries one data item per specification (null-data for SET, failed accesses and methods
without return parameters) and echoes the long invoke id.
"""

from __future__ import annotations

from firmware.esme.cosem import OTHER_REASON, AccessError, Context
from gbcs import dlms
from gbcs.axdr import NULL_DATA, data_node
from gbcs.node import Node

_CHOICE = {"dlms.get": "get", "dlms.get-with-selection": "get", "dlms.set": "set",
           "dlms.set-with-selection": "set", "dlms.action": "action"}


class RequestError(ValueError):
    """A payload that is no Access-Request."""


def _null() -> Node:
    return data_node("", None, NULL_DATA)


def execute(ctx: Context, request: Node) -> Node:
    """The Access-Response to `request` (a ``dlms.access-request`` node)."""
    if request.kind != "dlms.access-request":
        raise RequestError(f"expected an access-request, got {request.kind}")
    invoke = request.get("long_invoke_id_and_priority")
    specs = request["access_request_specification"].children
    items = request["access_request_list_of_data"].children
    data: list[Node] = []
    results: list[tuple[str, int]] = []
    failed = False
    for i, spec in enumerate(specs):
        choice = _CHOICE[spec.kind]
        if failed:
            data.append(_null())
            results.append((choice, OTHER_REASON))
            continue
        value = items[i] if i < len(items) else _null()
        try:
            out = _one(ctx, spec, choice, value)
        except AccessError as err:
            failed = True
            data.append(_null())
            results.append((choice, err.result_code))
            continue
        data.append(out if out is not None else _null())
        results.append((choice, 0))
    return dlms.access_response(data, results, invoke.value if invoke else 0)


def _one(ctx: Context, spec: Node, choice: str, value: Node) -> Node | None:
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
