"""The messages a device sends: the Response to a command it accepted, and its Alerts.

What the RTDS 4.5.0 responses and alerts show, and this module follows:
- a Response carries the command's originator counter and message code, from the device
  to the command's originator; it is signed with the device's DS key (a bare General
  Signing APDU, no MAC) when the command was signed, so always for critical commands,
  and for every CS02b; otherwise it is MAC'd with the device's KA key and the
  recipient's KA key;
- the grouping header date-time holds the device's time of response for the use cases
  in `DATE_TIME_RESPONSES`, and is empty for the others;
- an Alert carries the device's own originator counter; critical alerts are signed,
  the others MAC'd; none carries a date-time in the header.
"""

from __future__ import annotations

import datetime as _dt

from firmware.core.credentials import CredentialsError, DeviceCredentials, TrustAnchor
from firmware.core.security import Accepted
from gbcs import crypto
from gbcs.build import build_message, payload_key
from gbcs.cosem import datetime_bytes
from gbcs.crypto import PublicKey
from gbcs.errors import GbcsEncodeError
from gbcs.node import Node
from gbcs.usecases import UseCase, by_code

CRA_RESPONSE, CRA_ALERT = 2, 3

# Use cases whose Responses carry the device's date-time (every RTDS 4.5.0 response of
# these does, and no response of another use case; codes without an RTDS response are
# not listed): future-datable commands and register reads.
DATE_TIME_RESPONSES = frozenset({
    "CS01a", "CS01b", "CS02b", "CS02g", "CS06",
    "ECS01a", "ECS01b", "ECS01c", "ECS01d", "ECS02", "ECS03", "ECS08", "ECS08a", "ECS28a",
    "ECS46c", "ECS46d", "ECS17a", "ECS17b", "ECS17c", "ECS17d", "ECS17e", "ECS18a",
    "ECS18b", "ECS19", "ECS23", "ECS23b",
    "GCS01a", "GCS01b", "GCS02", "GCS03", "GCS13a", "GCS13b", "GCS14",
})


def response_has_date_time(use_case: UseCase) -> bool:
    return use_case.use_case in DATE_TIME_RESPONSES


def response_signed(use_case: UseCase, command_signed: bool) -> bool:
    """Signed when the command was; CS02b responses always are (the ACB's own credential
    update, 0x0104, comes MAC'd only but is answered signed)."""
    return command_signed or use_case.use_case == "CS02b"


def respond(accepted: Accepted, payload: Node | bytes, device: DeviceCredentials,
            now: _dt.datetime) -> bytes:
    """The Response to an accepted command; `now` is the device clock (UTC)."""
    recipient = accepted.originator
    date_time = datetime_bytes(now) if response_has_date_time(accepted.use_case) else None
    signed = response_signed(accepted.use_case, accepted.signed)
    signer = device.ds if signed else None
    mac_keys = None if signed else (device.ka, _ka(recipient))
    return build_message(cra=CRA_RESPONSE, originator_counter=accepted.originator_counter,
                         originator=device.eui, recipient=recipient.eui,
                         message_code=accepted.use_case.code, content=payload,
                         date_time=date_time, signer=signer, mac_keys=mac_keys)


def alert(message_code: int, payload: Node | bytes, device: DeviceCredentials,
          recipient: TrustAnchor, originator_counter: int) -> bytes:
    """A device Alert to `recipient` with the device's next originator counter."""
    use_case = by_code(message_code)
    if use_case is None or not use_case.alert:
        raise GbcsEncodeError(f"0x{message_code:04X} is no GBCS alert code", "message_code")
    critical = use_case.critical is True
    return build_message(cra=CRA_ALERT, originator_counter=originator_counter,
                         originator=device.eui, recipient=recipient.eui,
                         message_code=message_code, content=payload,
                         signer=device.ds if critical else None,
                         mac_keys=None if critical else (device.ka, _ka(recipient)))


def _ka(anchor: TrustAnchor) -> PublicKey:
    if anchor.ka is None:
        raise CredentialsError(f"the {anchor.role.value} trust anchor has no key-agreement "
                               "key to MAC a message to it")
    return anchor.ka


def seal(device: DeviceCredentials, requester: TrustAnchor, originator_counter: int,
         plaintext: bytes) -> bytes:
    """GBCS payload encryption of part of a Response for the command's originator
    (DLMS protected data, encrypted GBZ components): AES-GCM under the key agreed
    between the device's and the requester's KA keys (CRA 04)."""
    key = payload_key(device.ka, _ka(requester), originator=device.eui,
                      originator_counter=originator_counter, recipient=requester.eui)
    return crypto.encrypt(key, crypto.iv_for(device.eui), plaintext)
