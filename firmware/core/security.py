"""The device-side check of an inbound GBCS command, in the order GBCS applies it.

`check_command` takes the bytes a device received and returns a typed verdict: the
command `Accepted` (with its decoded message and the originator counter the caller
commits together with the command's effects), or `Rejected` with the reason and the
security event/alert code to log. A rejected command is never answered with a Response:
its originator is unauthenticated, and answering would tell an attacker which check it
passed. The checks, in order:

1. decode (without verification): malformed bytes are dropped and logged;
2. the message is a command (CRA flag 1) addressed to this device (recipient system
   title = Device ID); one for another device is dropped silently;
3. the MAC: static-static ECDH between the device's KA private key and the ACB's KA
   public key; only Recovery / Contingency credential updates and the signed variant of
   CS02a / CS02f travel signed but not MAC'd (as the RTDS 4.5.0 commands show). A
   command from a device (a PPMID's PCS01 / PCS02 to the GSME) is MAC'd by that device
   instead, with the ECDH of the two devices' KA keys: the originator must be in this
   device's join log with the KA certificate a Method C join (CS03C) gave it;
4. the message code is one GBCS defines;
5. the originator is one of the device's trust anchors, in a role allowed to sign the
   command: critical commands must carry a valid signature by that anchor's DS key; a
   device originator may send only the commands its device type sends
   (`DEVICE_COMMANDS`), and those come from no remote party;
6. anti-replay: the originator counter is strictly greater than the highest accepted
   from that remote party;
7. the grouping header date-time is empty: GBCS carries a command's execution date-time
   in its payload, and no RTDS command (426 of them) fills the header field, which only
   Responses use (for the device's time of response).

Event codes (gbcs.alerts): 0x8F1E integrity check of content or format failed,
0x8F3D trusted source authentication failure, 0x8F30 source does not have authority
for command, 0x8F53 failed authentication or authorisation not covered by other codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from firmware.core.credentials import DeviceCredentials, Role, TrustAnchor, TrustAnchors
from gbcs import crypto
from gbcs.build import message_mac_key
from gbcs.certificates import parse_certificate
from gbcs.errors import GbcsDecodeError, GbcsError
from gbcs.message import DecodedMessage, decode, signed_bytes
from gbcs.usecases import UseCase, by_code

CRA_COMMAND = 1

# Rejection reasons.
MALFORMED = "malformed"
NOT_A_COMMAND = "not_a_command"
WRONG_RECIPIENT = "wrong_recipient"
NO_ACB_KEY = "no_acb_key"
MAC_MISSING = "mac_missing"
BAD_MAC = "bad_mac"
UNKNOWN_MESSAGE_CODE = "unknown_message_code"
UNKNOWN_ORIGINATOR = "unknown_originator"
SIGNER_NOT_AUTHORISED = "signer_not_authorised"
SIGNATURE_MISSING = "signature_missing"
BAD_SIGNATURE = "bad_signature"
REPLAYED = "replayed"
DATE_TIME_PRESENT = "date_time_present"

INTEGRITY_FAILED = 0x8F1E
AUTHENTICATION_FAILED = 0x8F3D
NO_AUTHORITY = 0x8F30
OTHER_AUTH_FAILURE = 0x8F53

# The security event / alert each reason raises; None: dropped without a trace.
EVENT_CODES: dict[str, int | None] = {
    MALFORMED: INTEGRITY_FAILED,
    NOT_A_COMMAND: INTEGRITY_FAILED,
    WRONG_RECIPIENT: None,
    NO_ACB_KEY: AUTHENTICATION_FAILED,
    MAC_MISSING: AUTHENTICATION_FAILED,
    BAD_MAC: AUTHENTICATION_FAILED,
    UNKNOWN_MESSAGE_CODE: INTEGRITY_FAILED,
    UNKNOWN_ORIGINATOR: NO_AUTHORITY,
    SIGNER_NOT_AUTHORISED: NO_AUTHORITY,
    SIGNATURE_MISSING: AUTHENTICATION_FAILED,
    BAD_SIGNATURE: AUTHENTICATION_FAILED,
    REPLAYED: OTHER_AUTH_FAILURE,
    DATE_TIME_PRESENT: INTEGRITY_FAILED,
}

_SUPPLIER = (Role.SUPPLIER,)
_ANY_ROLE = tuple(Role)
# Who may sign a command, by message code, where it is not the Supplier (critical) or
# any trust anchor (non-critical commands that come signed anyway). CS02b and
# CS02g name it in the credentials replacement mode ("XByY": authorised by Y); the DCC
# (as ACB) also signs CS02b handovers and the non-critical join / unjoin variants,
# and the Load Controller its own auxiliary controller commands (all in the RTDS).
SIGNER_ROLES: dict[int, tuple[Role, ...]] = {
    0x0008: _ANY_ROLE,                                   # CS02a, signed variant
    0x000C: _ANY_ROLE,                                   # CS02e
    0x011B: _ANY_ROLE,                                   # CS02f, signed variant
    0x000D: (Role.SUPPLIER, Role.ACCESS_CONTROL_BROKER),  # CS03A1
    0x000F: (Role.SUPPLIER, Role.ACCESS_CONTROL_BROKER),  # CS04AC
    0x00AB: (Role.SUPPLIER, Role.ACCESS_CONTROL_BROKER),  # CS03A2
    0x00AF: (Role.SUPPLIER, Role.ACCESS_CONTROL_BROKER),  # CS03C
    0x0100: (Role.SUPPLIER,),                            # rootBySupplier
    0x0101: (Role.WAN_PROVIDER,),                        # rootByWanProvider
    0x0102: (Role.SUPPLIER, Role.ACCESS_CONTROL_BROKER),  # supplierBySupplier
    0x0103: (Role.NETWORK_OPERATOR, Role.ACCESS_CONTROL_BROKER),
    0x0104: (Role.ACCESS_CONTROL_BROKER,),               # accessControlBrokerByACB
    0x0105: (Role.WAN_PROVIDER,),                        # wanProviderByWanProvider
    0x0106: (Role.TRANSITIONAL_COS,),                    # transCoSByTransCoS
    0x0107: (Role.TRANSITIONAL_COS,),                    # supplierByTransCoS
    0x0108: (Role.RECOVERY,),                            # anyExceptAbnormalRootByRecovery
    0x0109: (Role.ROOT,),                                # anyByContingency
    0x011A: (Role.SUPPLIER, Role.LOAD_CONTROLLER),       # ECS46d
    0x011E: (Role.SUPPLIER, Role.LOAD_CONTROLLER),       # ECS47a
    0x011F: (Role.SUPPLIER, Role.LOAD_CONTROLLER),       # ECS47e
    0x0125: (Role.LOAD_CONTROLLER,),                     # loadControllerByLoadController
    0x0126: (Role.SUPPLIER,),                            # loadControllerBySupplier
}
# Commands a device originates, by message code: the GBCS DeviceType that sends them
# (PCS01 top-up and PCS02 emergency credit, from the PPMID to the GSME).
PPMID_TYPE = 5
DEVICE_COMMANDS: dict[int, int] = {0x009B: PPMID_TYPE, 0x0090: PPMID_TYPE}
# Where a device keeps its join log (firmware.core.join): the devices joined to it,
# each {"eui", "type", "method", "certificate"} (the other device's DER KA certificate
# for a Method C join).
JOIN_LOG = "device/join_log"

# Commands that may come signed without the ACB's MAC: credential recovery (for when the
# ACB itself cannot be trusted) and the signed variants of CS02a / CS02f.
SIGNED_WITHOUT_MAC = frozenset({0x0008, 0x011B, 0x0108, 0x0109})


@dataclass(frozen=True)
class DeviceOriginator(TrustAnchor):
    """A device joined to this one that may originate commands to it: its KA key from
    the certificate the join carried; `role` is OTHER (no remote party role)."""

    device_type: int = PPMID_TYPE


@runtime_checkable
class JoinLogStore(Protocol):
    """A store that holds the device's join log (the device's NonVolatileStore)."""

    def get(self, key: str, default: Any = None) -> Any:
        """The value at `key`."""


def device_originator(store: object, eui: bytes) -> DeviceOriginator | None:
    """The joined device `eui` as an originator, when the join gave its KA key."""
    if not isinstance(store, JoinLogStore):
        return None
    entry = next((e for e in store.get(JOIN_LOG) or [] if e.get("eui") == eui), None)
    if entry is None or not entry.get("certificate"):
        return None
    try:
        cert = parse_certificate(entry["certificate"])
    except GbcsError:
        return None
    if cert.kind != "device" or cert.key_usage != "KA":
        return None
    return DeviceOriginator(Role.OTHER, eui, None, cert.public_key, entry["type"])


class CounterStore(Protocol):
    """The per remote party anti-replay counters a device keeps in non-volatile memory."""

    def highest(self, party: bytes) -> int:
        """The highest originator counter accepted from `party` (0 if none yet)."""

    def accept(self, party: bytes, counter: int) -> None:
        """Record `counter` as the highest accepted from `party`."""


@dataclass(frozen=True)
class Accepted:
    """A command that passed every check; `commit` records its counter, to be called in
    the same transaction as the command's effects."""

    message: DecodedMessage
    use_case: UseCase
    originator: TrustAnchor
    originator_counter: int
    signed: bool

    def commit(self, counters: CounterStore) -> None:
        counters.accept(self.originator.eui, self.originator_counter)


@dataclass(frozen=True)
class Rejected:
    """A command the device discards: why, and the event code to log and alert (None:
    dropped silently). `message` is the decoded command when it decoded."""

    reason: str
    detail: str
    message: DecodedMessage | None = None

    @property
    def event_code(self) -> int | None:
        return EVENT_CODES[self.reason]


Verdict = Accepted | Rejected


def check_command(data: bytes, device: DeviceCredentials, anchors: TrustAnchors,
                  counters: CounterStore) -> Verdict:
    """Run the GBCS inbound checks on `data` (a whole message: GBT blocks are put
    together before this) and return the verdict; changes nothing itself. When
    `counters` is the device's store, the devices in its join log may originate the
    commands of their type (`DEVICE_COMMANDS`)."""
    try:
        msg = decode(data, verify=False)
    except GbcsDecodeError as err:
        return Rejected(MALFORMED, str(err))
    h = msg.header
    if h.form == "gbt" or h.cra != CRA_COMMAND:
        what = "a GBT block" if h.form == "gbt" else f"CRA flag {h.cra}"
        return Rejected(NOT_A_COMMAND, f"{what}, not a whole command", msg)
    if h.recipient != device.eui:
        return Rejected(WRONG_RECIPIENT, f"recipient {h.recipient.hex().upper()} is not "
                        f"this device ({device.eui.hex().upper()})", msg)
    joined = None if anchors.by_eui(h.originator) else device_originator(counters,
                                                                         h.originator)
    rejected = _check_mac(msg, data, device, anchors, joined)
    if rejected:
        return rejected
    use_case = by_code(h.message_code)
    if use_case is None or use_case.alert:
        return Rejected(UNKNOWN_MESSAGE_CODE,
                        f"message code 0x{h.message_code:04X} is no GBCS command", msg)
    originator = (_check_device(msg, use_case, joined) if joined is not None
                  else _check_signature(msg, data, use_case, anchors))
    if isinstance(originator, Rejected):
        return originator
    highest = counters.highest(originator.eui)
    if h.originator_counter <= highest:
        return Rejected(REPLAYED, f"originator counter {h.originator_counter} is not "
                        f"above {highest}, the highest accepted from "
                        f"{originator.role.value}", msg)
    if h.date_time is not None:
        return Rejected(DATE_TIME_PRESENT, "a command's grouping header date-time must be "
                        "empty", msg)
    return Accepted(msg, use_case, originator, h.originator_counter,
                    h.signature is not None)


def _check_mac(msg: DecodedMessage, data: bytes, device: DeviceCredentials,
               anchors: TrustAnchors, joined: DeviceOriginator | None) -> Rejected | None:
    h = msg.header
    if h.mac is None:
        if h.signature is not None and h.message_code in SIGNED_WITHOUT_MAC \
                and joined is None:
            return None
        return Rejected(MAC_MISSING, "command without the ACB's MAC" if joined is None
                        else "device command without its originator's MAC", msg)
    aad = crypto.MAC_AAD_PREFIX + data[h.signing_start:h.signing_end]
    if joined is not None:
        key = message_mac_key(device.ka, joined.ka, cra=h.cra, originator=h.originator,
                              originator_counter=h.originator_counter, recipient=h.recipient)
        if not crypto.mac_valid(key, crypto.iv_for(h.originator), aad, h.mac):
            return Rejected(BAD_MAC, "the MAC does not verify with the joined device's "
                            "key-agreement key", msg)
        return None
    acb = anchors.get(Role.ACCESS_CONTROL_BROKER)
    if acb is None or acb.ka is None:
        return Rejected(NO_ACB_KEY, "no ACB key-agreement trust anchor to check the MAC",
                        msg)
    key = message_mac_key(device.ka, acb.ka, cra=h.cra, originator=h.originator,
                          originator_counter=h.originator_counter, recipient=h.recipient)
    if not crypto.mac_valid(key, crypto.iv_for(h.originator), aad, h.mac):
        return Rejected(BAD_MAC, "the MAC does not verify with the ACB's key", msg)
    return None


def _check_device(msg: DecodedMessage, use_case: UseCase,
                  joined: DeviceOriginator) -> DeviceOriginator | Rejected:
    """A joined device may send the commands of its device type, unsigned."""
    if DEVICE_COMMANDS.get(use_case.code) != joined.device_type:
        return Rejected(SIGNER_NOT_AUTHORISED, f"{use_case.title} is not a command a "
                        f"device of type {joined.device_type} sends", msg)
    if msg.header.signature is not None:
        return Rejected(BAD_SIGNATURE, f"{use_case.title} from a device is never signed",
                        msg)
    return joined


def _check_signature(msg: DecodedMessage, data: bytes, use_case: UseCase,
                     anchors: TrustAnchors) -> TrustAnchor | Rejected:
    """The originator's trust anchor, after checking its role may send this command and,
    when signed (always for critical commands), its signature."""
    h = msg.header
    known = anchors.by_eui(h.originator)
    if not known:
        return Rejected(UNKNOWN_ORIGINATOR, f"originator {h.originator.hex().upper()} "
                        "is none of this device's trust anchors", msg)
    if use_case.code in DEVICE_COMMANDS:
        return Rejected(SIGNER_NOT_AUTHORISED, f"{use_case.title} comes from a joined "
                        "device, never from a remote party", msg)
    critical = use_case.critical is True
    if h.signature is None and not critical:
        return known[0]
    allowed = SIGNER_ROLES.get(h.message_code, _SUPPLIER if critical else _ANY_ROLE)
    signers = [a for a in known if a.role in allowed]
    if not signers:
        roles = ", ".join(a.role.value for a in known)
        return Rejected(SIGNER_NOT_AUTHORISED,
                        f"{use_case.title} may not be signed by {roles}", msg)
    if h.signature is None:
        return Rejected(SIGNATURE_MISSING, f"{use_case.title} is critical and unsigned",
                        msg)
    tbs = signed_bytes(data, h)
    for anchor in signers:
        if anchor.ds is not None and crypto.verify(anchor.ds, tbs, h.signature):
            return anchor
    return Rejected(BAD_SIGNATURE, "the signature does not verify with the "
                    f"{signers[0].role.value}'s key", msg)
