"""The debugger's DCC User: `send SRV [k=v ...]` as the Supplier through the lab's DCC,
with a few friendly fields turned into the DUIS body; critical requests have their
pre-command signed with the Supplier's key, as a DCC User's own system would.

Friendly forms: `1.6 mode=prepayment|credit`, `2.2 amount=5.00` (a UTRN for £5.00),
`4.1.1`, `7.1`, `7.2`, `7.3`, `8.9` (the CHF's device log). `device=NAME` picks the
ESME when the premises has several.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from firmware.core.credentials import Role
from firmware.esme.engine import make_utrn
from gbcs.build import sign_grouping_header
from gbcs.errors import GbcsError
from gbcs.message import decode
from tools.debug.state import ExpressionError, esme
from tools.headend import mmc
from tools.headend.duis import DuisError, Element
from tools.lab.premises import Lab
from tools.lab.wan import Exchange

ANSWER_WAIT = timedelta(seconds=60)
POLL = timedelta(seconds=1)
CRITICAL_CV, NON_CRITICAL_CV = 4, 1


class ServiceError(Exception):
    """A request the debugger cannot make, or one that failed: says which and why."""


@dataclass(frozen=True)
class Friendly:
    """How one SRV's body is made from `k=v` fields; `target` is "esme" or "chf"."""

    body: Callable[[Lab, bytes, dict[str, str]], Element]
    critical: bool
    target: str = "esme"
    fields: tuple[str, ...] = ()


def _payment_mode(lab: Lab, eui: bytes, fields: dict[str, str]) -> Element:
    mode = fields.get("mode")
    if mode == "credit":
        return Element("UpdatePaymentMode", children=(Element("Credit"),))
    if mode == "prepayment":
        return Element("UpdatePaymentMode", children=(Element("Prepayment", children=(
            Element("SuspendDebtDisabled", "false"), Element("SuspendDebtEmergency", "false"),
            Element("DisablementThreshold", fields.get("threshold", "0")))),))
    raise ServiceError(f"send 1.6: mode={mode!r}: expected mode=prepayment or mode=credit")


def _top_up(lab: Lab, eui: bytes, fields: dict[str, str]) -> Element:
    text = fields.get("amount", "")
    try:
        pence = round(float(text) * 100)
    except ValueError:
        pence = 0
    if pence <= 0:
        raise ServiceError(f"send 2.2: amount={text!r}: expected pounds above zero "
                           "(e.g. amount=5.00)")
    utrn = make_utrn(lab.pki.top_up_keys[eui], eui, pence, int(lab.sim.now().timestamp()))
    return Element("TopUpDevice", children=(Element("UTRN", utrn),))


def _plain(name: str) -> Callable[[Lab, bytes, dict[str, str]], Element]:
    return lambda lab, eui, fields: Element(name)


FRIENDLY: dict[str, Friendly] = {
    "1.6": Friendly(_payment_mode, True, fields=("mode", "threshold")),
    "2.2": Friendly(_top_up, False, fields=("amount",)),
    "4.1.1": Friendly(_plain("ReadInstantaneousImportRegisters"), False),
    "7.1": Friendly(_plain("EnableSupply"), True),
    "7.2": Friendly(_plain("DisableSupply"), True),
    "7.3": Friendly(_plain("ArmSupply"), True),
    "8.9": Friendly(_plain("ReadDeviceLog"), False, target="chf"),
}


def parse_fields(words: list[str]) -> dict[str, str]:
    """`k=v` words as a dict; a word without `=` is an error naming it."""
    fields = {}
    for word in words:
        key, eq, value = word.partition("=")
        if not eq or not key:
            raise ServiceError(f"{word!r}: expected field=value")
        fields[key] = value
    return fields


def send(lab: Lab, srv: str, fields: dict[str, str],
         run: Callable[[timedelta], None]) -> str:
    """Send `srv` as the Supplier and run the premises (through `run`) until the device
    answers; the outcome as one line. Raises ServiceError when the DCC refuses the
    request or the device does not report success."""
    friendly = FRIENDLY.get(srv)
    if friendly is None:
        raise ServiceError(f"send {srv}: the debugger knows {', '.join(FRIENDLY)}")
    unknown = set(fields) - set(friendly.fields) - {"device"}
    if unknown:
        raise ServiceError(f"send {srv}: unknown field(s) {', '.join(sorted(unknown))}")
    try:
        target = lab.hub.board.eui if friendly.target == "chf" else \
            esme(lab, fields.get("device", "esme")).board.eui
    except ExpressionError as exc:
        raise ServiceError(f"send {srv}: {exc}") from None
    body = friendly.body(lab, target, fields)
    wan = lab.wan
    request = wan.request(Role.SUPPLIER, target, srv, body,
                          command_variant=CRITICAL_CV if friendly.critical else NON_CRITICAL_CV)
    exchange = wan.submit(Role.SUPPLIER, request)
    if exchange.refused is not None:
        raise ServiceError(f"send {srv}: refused by the DCC: {exchange.refused}")
    pre_command = exchange.acknowledgement.pre_command
    if pre_command is not None:
        signed = sign_grouping_header(pre_command, lab.pki.supplier.ds)
        result = wan.dcc.signed(signed, wan.users[Role.SUPPLIER])
        if isinstance(result, DuisError):
            raise ServiceError(f"send {srv}: signed pre-command refused: {result}")
    return _outcome(lab, srv, exchange, run)


def _outcome(lab: Lab, srv: str, exchange: Exchange,
             run: Callable[[timedelta], None]) -> str:
    waited = timedelta(0)
    while exchange.response is None and waited < ANSWER_WAIT:
        run(POLL)
        waited += POLL
    response = exchange.response
    if response is None:
        raise ServiceError(f"send {srv}: no response from the device within "
                           f"{ANSWER_WAIT.seconds} s")
    try:
        msg = decode(response.gbcs_payload, lab.pki.keystore(), lab.pki.acb.eui)
    except GbcsError as exc:
        raise ServiceError(f"send {srv}: {response.code}, undecodable response: {exc}") \
            from None
    if "invalid" in (msg.mac, msg.signature):
        raise ServiceError(f"send {srv}: response MAC {msg.mac}, signature {msg.signature}")
    ok = response.code == "I0" and mmc.succeeded(msg)
    line = (f"send {srv}: {response.code}, {msg.use_case.use_case} response "
            f"{len(response.gbcs_payload)} bytes, device reports "
            f"{'success' if ok else 'failure'}")
    if not ok:
        raise ServiceError(line)
    return line
