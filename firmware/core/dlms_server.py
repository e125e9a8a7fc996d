"""Running a DLMS Access-Request the way GBCS devices do, for every DLMS device (the
ESME's COSEM objects, the CHF's own objects).

Specifications run in order with break-on-error (GBCS sets it in every long invoke
id): once one fails, the rest are not executed and answer other-reason, as the RTDS
ERROR responses show ([success, ..., hardware-fault, other-reason, ...]). The response
carries one data item per specification (null-data for SET, failed accesses and methods
without return parameters) and echoes the long invoke id.
"""

from __future__ import annotations

from collections.abc import Callable

from gbcs import dlms
from gbcs.axdr import NULL_DATA, data_node
from gbcs.node import Node

SUCCESS, OTHER_REASON = 0, 250
CHOICES = {"dlms.get": "get", "dlms.get-with-selection": "get", "dlms.set": "set",
           "dlms.set-with-selection": "set", "dlms.action": "action"}

# One access: (specification, "get" / "set" / "action", its data or None) -> the data
# to answer (None: null-data). It raises an exception with a `result_code` to fail.
Access = Callable[[Node, str, Node | None], Node | None]


def null() -> Node:
    return data_node("", None, NULL_DATA)


def execute(request: Node, access: Access, failure: type[Exception],
            on_failure: Callable[[Node, Exception], None] | None = None) -> Node:
    """The Access-Response to `request` (a ``dlms.access-request`` node); `failure` is
    the device's access error type (with `result_code`), `on_failure` logs one."""
    invoke = request.get("long_invoke_id_and_priority")
    specs = request["access_request_specification"].children
    items = request["access_request_list_of_data"].children
    data: list[Node] = []
    results: list[tuple[str, int]] = []
    failed = False
    for i, spec in enumerate(specs):
        choice = CHOICES[spec.kind]
        out: Node | None = None
        if failed:
            code = OTHER_REASON
        else:
            try:
                out = access(spec, choice, items[i] if i < len(items) else None)
                code = SUCCESS
            except failure as err:
                failed, code = True, err.result_code  # type: ignore[attr-defined]
                if on_failure is not None:
                    on_failure(spec, err)
        data.append(out if out is not None else null())
        results.append((choice, code))
    return dlms.access_response(data, results, invoke.value if invoke else 0)
