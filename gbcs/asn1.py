"""GBCS ASN.1 DER payloads: security credentials (CS02a-g), join and unjoin (CS03, CS04),
firmware activation (CS06, CS08, CS09, CCS08), device join details (CS07), GSME clock
(GCS28) and the GPF device log (GCS59, GCS62).

The structures are declared once (`gbcs.der_schema` specs, fields named after GBCS's
ASN.1 definitions, in snake_case) and picked by message code and CRA flag; the same
declarations build payloads for the encoder (`build`, and the named builders below).
Embedded SMKI certificates are shown field by field (`gbcs.der_x509`). Well-formed DER
that does not match the expected structure still decodes, as a generic DER tree marked
"unexpected"; malformed DER raises `GbcsDecodeError`.

Facts from the RTDS 4.5.0 messages beyond the older GBCS tables: remote party role 8 and
credentials replacement modes 10/11 are the Load Controller ones (CS02g, message codes
0x0124-0x0126, with the SMKI "OU=08" certificates), CS02f (0x011B) has CS02a's
structure, and the CS09 alert (0x012B) has the CS08 alert's structure.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any as _AnyValue

from gbcs import der
from gbcs.alerts import alert_name
from gbcs.content import CRA_ALERT, CRA_COMMAND, CRA_RESPONSE, ContentContext
from gbcs.der_schema import (
    Choice, Field, Integer, Null, OctetString, Sequence, SequenceOf, Spec, Time, decode,
)
from gbcs.der_x509 import CERTIFICATE, CERTIFICATION_REQUEST, KEY_USAGE
from gbcs.errors import GbcsDecodeError, GbcsEncodeError
from gbcs.node import Node, display_value
from gbcs.reader import Reader

# -- shared GBCS types --------------------------------------------------------------------

REMOTE_PARTY_ROLES = {
    0: "root", 1: "recovery", 2: "supplier", 3: "networkOperator",
    4: "accessControlBroker", 5: "transitionalCoS", 6: "wanProvider",
    7: "issuingAuthority", 8: "loadController", 127: "other",
}
DEVICE_TYPES = {0: "gsme", 1: "esme", 2: "chf", 3: "gpf", 4: "hcalcs", 5: "ppmid", 6: "type2"}
CREDENTIALS_REPLACEMENT_MODES = {
    0: "rootBySupplier", 1: "rootByWanProvider", 2: "supplierBySupplier",
    3: "networkOperatorByNetworkOperator", 4: "accessControlBrokerByACB",
    5: "wanProviderByWanProvider", 6: "transCoSByTransCoS", 7: "supplierByTransCoS",
    8: "anyExceptAbnormalRootByRecovery", 9: "anyByContingency",
    10: "loadControllerByLoadController", 11: "loadControllerBySupplier",
}
STATUS_CODES = {
    0: "success", 5: "badCertificate", 10: "noTrustAnchor", 17: "insufficientMemory",
    25: "trustAnchorNotFound", 30: "resourcesBusy", 127: "other",
}
JOIN_METHODS = {0: "methodAInitiator", 1: "methodAResponder", 2: "methodB", 3: "methodC"}
JOIN_RESPONSE_CODES = {
    0: "success", 1: "invalidMessageCodeForJoinMethodAndRole", 2: "invalidJoinMethodAndRole",
    3: "incompatibleWithExistingEntry", 4: "deviceLogFull", 5: "writeFailure",
    6: "keyAgreementNoResources", 7: "keyAgreementUnknownIssuer",
    8: "keyAgreementUnsupportedSuite", 9: "keyAgreementBadMessage",
    10: "keyAgreementBadKeyConfirm", 11: "invalidOrMissingCertificate",
    12: "noPartnerLinkKeyReceived", 13: "noCBKEResponse",
}


def _alert_code(code: int) -> str:
    return f"0x{code:04X} {alert_name(code)}" if 0 <= code <= 0xFFFF else str(code)


ROLE = Integer(REMOTE_PARTY_ROLES, label="RemotePartyRole")
CELL_USAGE = Integer({0: "management", 1: "prePaymentTopUp"}, label="CellUsage")
SEQ_NUMBER = Integer(label="SeqNumber")
STATUS_CODE = Integer(STATUS_CODES, der.ENUMERATED, "StatusCode")
DEVICE_TYPE = Integer(DEVICE_TYPES, label="DeviceType")
ENTITY_ID = OctetString(human=lambda raw: der.eui_text(raw) if len(raw) == 8 else None)
ALERT_CODE = Integer(_alert_code, label="AlertCode")
TIME = Time()
REPLACEMENT_MODE = Integer(CREDENTIALS_REPLACEMENT_MODES, label="CredentialsReplacementMode")
JOIN_RESPONSE_CODE = Integer(JOIN_RESPONSE_CODES, label="JoinResponseCode")


def _cell_summary(node: Node) -> str:
    """``supplier digitalSignature management`` for a trust anchor cell identifier."""
    parts = [display_value(c) for c in node.children]
    if len(node.children) == 2:
        parts.append("management (default)")
    return " ".join(p for p in parts if p)


def _trust_anchor_cell_identifier(tag: int = der.SEQUENCE) -> Sequence:
    return Sequence("TrustAnchorCellIdentifier", [
        Field("remote_party_role", ROLE),
        Field("key_usage", KEY_USAGE),
        Field("cell_usage", CELL_USAGE, optional=True),
    ], tag, _cell_summary)


TRUST_ANCHOR_CELL_IDENTIFIER = _trust_anchor_cell_identifier()

SPECIALIST_SEQ_NUMBER = Sequence("SpecialistSeqNumber", [
    Field("seq_number_usage", Integer({0: "prePaymentTopUp"}, label="SeqNumberUsage")),
    Field("seq_number", SEQ_NUMBER),
])


def _specialist_list(tag: int = der.SEQUENCE) -> SequenceOf:
    return SequenceOf("specialist_seq_number", SPECIALIST_SEQ_NUMBER, tag)


REMOTE_PARTY_SEQ_NUMBER_CHANGE = Sequence("RemotePartySeqNumberChange", [
    Field("remote_party_role", ROLE),
    Field("floor_seq_number", SEQ_NUMBER),
    Field("specialist_floor_seq_numbers", _specialist_list(), optional=True),
])


def _seq_number_changes(tag: int = der.SEQUENCE) -> SequenceOf:
    return SequenceOf("remote_party_seq_number_change", REMOTE_PARTY_SEQ_NUMBER_CHANGE, tag)


DEVICE_LOG_ENTRY = Sequence("DeviceLogEntry", [
    Field("device_id", ENTITY_ID),
    Field("device_type", DEVICE_TYPE),
], summary=lambda n: " ".join(c.human or "" for c in n.children))
DEVICE_LOG_ENTRIES = SequenceOf("device_log_entry", DEVICE_LOG_ENTRY)

# -- CS02a / CS02f Provide Security Credentials Details -----------------------------------

PROVIDE_SECURITY_CREDENTIAL_DETAILS_COMMAND = Sequence("ProvideSecurityCredentialDetails", [
    Field("authorising_remote_party_ta_cell_identifier", TRUST_ANCHOR_CELL_IDENTIFIER),
    Field("remote_party_roles_credentials_required", SequenceOf("remote_party_role", ROLE)),
])
TRUST_ANCHOR_CELL_CONTENTS = Sequence("TrustAnchorCellContents", [
    Field("key_usage", KEY_USAGE),
    Field("cell_usage", CELL_USAGE, optional=True),
    Field("subject_unique_id", ENTITY_ID),
    Field("subject_key_identifier", OctetString()),
])
REMOTE_PARTY_DETAILS = Sequence("RemotePartyDetails", [
    Field("remote_party_role", ROLE),
    Field("status_code", STATUS_CODE),
    Field("current_seq_number", SEQ_NUMBER, optional=True),
    Field("trust_anchor_cell_details",
          SequenceOf("trust_anchor_cell_contents", TRUST_ANCHOR_CELL_CONTENTS), optional=True),
])
PROVIDE_SECURITY_CREDENTIAL_DETAILS_RESPONSE = SequenceOf(
    "remote_party_details", REMOTE_PARTY_DETAILS, label="ProvideSecurityCredentialDetailsResponse")

# -- CS02b / CS02g Update Security Credentials --------------------------------------------

AUTHORISING_REMOTE_PARTY_CONTROL = Sequence("AuthorisingRemotePartyControl", [
    Field("credentials_replacement_mode", REPLACEMENT_MODE),
    Field("plaintext_symmetric_key", OctetString(0x80), optional=True),
    Field("apply_time_based_cpv_checks",
          Integer({0: "apply", 1: "disapply"}, 0x81, "ApplyTimeBasedCPVChecks"), optional=True),
    Field("authorising_remote_party_ta_cell_identifier",
          _trust_anchor_cell_identifier(0xA2), optional=True),
    Field("authorising_remote_party_seq_number", Integer(tag=0x83, label="SeqNumber")),
    Field("new_remote_party_floor_seq_number", Integer(tag=0x84, label="SeqNumber"),
          optional=True),
    Field("new_remote_party_specialist_floor_seq_numbers", _specialist_list(0xA5),
          optional=True),
    Field("other_remote_party_seq_number_changes", _seq_number_changes(0xA6), optional=True),
])
TRUST_ANCHOR_REPLACEMENT = Sequence("TrustAnchorReplacement", [
    Field("replacement_certificate", CERTIFICATE),
    Field("target_trust_anchor_cell", TRUST_ANCHOR_CELL_IDENTIFIER),
])
UPDATE_SECURITY_CREDENTIALS_COMMAND = Sequence("UpdateSecurityCredentials", [
    Field("authorising_remote_party_control", AUTHORISING_REMOTE_PARTY_CONTROL),
    Field("replacements", SequenceOf("trust_anchor_replacement", TRUST_ANCHOR_REPLACEMENT)),
    Field("certification_path_certificates", SequenceOf("certificate", CERTIFICATE)),
    Field("execution_date_time", TIME, optional=True),
])
REPLACEMENT_OUTCOME = Sequence("ReplacementOutcome", [
    Field("affected_trust_anchor_cell", TRUST_ANCHOR_CELL_IDENTIFIER),
    Field("status_code", STATUS_CODE),
    Field("existing_subject_unique_id", ENTITY_ID),
    Field("existing_subject_key_id", OctetString()),
    Field("replacing_subject_unique_id", ENTITY_ID),
    Field("replacing_subject_key_id", OctetString()),
])
UPDATE_SECURITY_CREDENTIALS_EXECUTION_OUTCOME = Sequence(
    "UpdateSecurityCredentialsExecutionOutcome", [
        Field("authorising_remote_party_seq_number", SEQ_NUMBER),
        Field("credentials_replacement_mode", REPLACEMENT_MODE),
        Field("remote_party_seq_number_changes", _seq_number_changes()),
        Field("replacement_outcomes", SequenceOf("replacement_outcome", REPLACEMENT_OUTCOME)),
    ])
UPDATE_SECURITY_CREDENTIALS_RESPONSE = Sequence("UpdateSecurityCredentialsResponse", [
    Field("command_accepted", Null()),
    Field("execution_outcome", UPDATE_SECURITY_CREDENTIALS_EXECUTION_OUTCOME, optional=True),
])
UPDATE_SECURITY_CREDENTIALS_ALERT = Sequence("UpdateSecurityCredentialsAlert", [
    Field("alert_code", ALERT_CODE),
    Field("execution_date_time", TIME),
    Field("execution_outcome", UPDATE_SECURITY_CREDENTIALS_EXECUTION_OUTCOME),
])

# -- CS02c Issue Security Credentials, CS02d / CS02e device certificates ------------------

KEY_USAGE_COMMAND = Sequence("KeyUsageRequest", [Field("key_usage", KEY_USAGE)])
ISSUE_SECURITY_CREDENTIALS_RESPONSE = Choice("IssueSecurityCredentialsResponse", [
    ("certification_request", CERTIFICATION_REQUEST),
    ("response_code", Integer({1: "invalidKeyUsage", 2: "keyPairGenerationFailed",
                               3: "crProductionFailed"}, label="ResponseCode")),
])
UPDATE_DEVICE_CERTIFICATE_RESPONSE = Integer({
    0: "success", 1: "invalidCertificate", 2: "wrongDeviceIdentity", 3: "invalidKeyUsage",
    4: "noCorrespondingKeyPairGenerated", 5: "wrongPublicKey", 6: "certificateStorageFailed",
    7: "privateKeyChangeFailed"}, label="ResponseCode")
PROVIDE_DEVICE_CERTIFICATE_RESPONSE = Choice("ProvideDeviceCertificateResponse", [
    ("device_certificate", CERTIFICATE),
    ("response_code", Integer({1: "invalidKeyUsage", 2: "noCertificateHeld",
                               3: "certificateRetrievalFailure"}, label="ResponseCode")),
])

# -- CS03 join, CS04 unjoin, CS07 join details --------------------------------------------

JOIN_DEVICE_COMMAND = Sequence("JoinDeviceCommand", [
    Field("join_method_and_role", Integer(JOIN_METHODS, label="JoinMethodAndRole")),
    Field("other_device_entity_id", ENTITY_ID),
    Field("other_device_type", DEVICE_TYPE),
    Field("other_device_certificate", CERTIFICATE, optional=True),
])
UNJOIN_RESPONSE_CODE = Integer({0: "success", 1: "notInDeviceLog", 2: "otherFailure"},
                               label="UnjoinResponseCode")
READ_DEVICE_JOIN_DETAILS_RESPONSE = Sequence("ReadDeviceJoinDetailsResponse", [
    Field("response_code", Integer({0: "success", 1: "readFailure"}, label="ResponseCode")),
    Field("device_log_entries", DEVICE_LOG_ENTRIES, optional=True),
])

# -- CS06 firmware activation, CS08 / CS09 firmware version, CCS08 firmware transfer ------

ACTIVATE_FIRMWARE_COMMAND = Sequence("ActivateFirmwareCommand", [
    Field("manufacturer_image_hash", OctetString()),
    Field("originator_counter", SEQ_NUMBER),
    Field("execution_date_time", TIME, optional=True),
])
ACTIVATE_FIRMWARE_EXECUTION_OUTCOME = Sequence("ActivateFirmwareExecutionOutcome", [
    Field("activate_image_response_code", Integer(
        {0: "success", 1: "noImageHeld", 2: "hashMismatch", 3: "activationFailure"},
        label="ActivateImageResponseCode")),
    Field("firmware_version", OctetString()),
])
ACTIVATE_FIRMWARE_RESPONSE = Choice("ActivateFirmwareResponse", [
    ("command_accepted", Null()),
    ("execution_outcome", ACTIVATE_FIRMWARE_EXECUTION_OUTCOME),
])
ACTIVATE_FIRMWARE_ALERT = Sequence("ActivateFirmwareAlert", [
    Field("alert_code", ALERT_CODE),
    Field("execution_date_time", TIME),
    Field("originator_counter", SEQ_NUMBER),
    Field("execution_outcome", ACTIVATE_FIRMWARE_EXECUTION_OUTCOME),
])
READ_FIRMWARE_VERSION_RESPONSE = Sequence("ReadFirmwareVersionResponse", [
    Field("firmware_version", OctetString()),
    Field("response_code", Integer({0: "readSuccess", 1: "readFailure"}, label="ResponseCode")),
])
FIRMWARE_VERSION_ALERT = Sequence("FirmwareVersionAlert", [
    Field("alert_code", ALERT_CODE),
    Field("execution_date_time", TIME),
    Field("firmware_version", OctetString()),
    Field("activate_image_response_code", Integer({0: "success", 1: "failure"},
                                                  label="ActivateImageResponseCode")),
])
FIRMWARE_TRANSFER_ALERT = Sequence("FirmwareTransferAlert", [
    Field("alert_code", ALERT_CODE),
    Field("execution_date_time", TIME),
    Field("entity_id", ENTITY_ID),
    Field("firmware_version", OctetString()),
    Field("firmware_transfer_response_code", Integer(
        {0: "success", 1: "imageDiscarded", 2: "hardwareVersionMismatch",
         3: "fileTransferFailure"}, label="FirmwareTransferResponseCode")),
])

# -- GCS28 Set Clock, GCS59 / GCS62 GPF device log ----------------------------------------

SET_TIME_COMMAND = Sequence("SetTimeCommand", [
    Field("validity_interval_start", TIME),
    Field("validity_interval_end", TIME),
])
SET_TIME_RESPONSE = Sequence("SetTimeResponse", [
    Field("device_time", TIME),
    Field("device_time_status", Integer({0: "reliable", 1: "invalid", 2: "unreliable"},
                                        label="DeviceTimeStatus")),
])
GPF_DEVICE_LOG_RESTORE_COMMAND = Sequence("GpfDeviceLogRestoreCommand", [
    Field("device_log_entries", DEVICE_LOG_ENTRIES),
])
GPF_DEVICE_LOG_RESTORE_RESPONSE = Sequence("GpfDeviceLogRestoreResponse", [
    Field("restore_outcomes", SequenceOf("restore_outcome", Sequence("RestoreOutcome", [
        Field("device_log_entry", DEVICE_LOG_ENTRY),
        Field("join_response_code", JOIN_RESPONSE_CODE),
    ]))),
])
GPF_DEVICE_LOG_BACKUP_ALERT = Sequence("GpfDeviceLogBackupAlert", [
    Field("alert_code", ALERT_CODE),
    Field("backup_date_time", TIME),
    Field("device_log_entries", DEVICE_LOG_ENTRIES),
])

# -- message code and CRA flag -> structure -----------------------------------------------

# (use case, node name, spec) by CRA flag, per message code.
Structures = dict[int, tuple[str, str, Spec]]

_CS02A: Structures = {
    CRA_COMMAND: ("CS02a", "provide_security_credential_details",
                  PROVIDE_SECURITY_CREDENTIAL_DETAILS_COMMAND),
    CRA_RESPONSE: ("CS02a", "provide_security_credential_details_response",
                   PROVIDE_SECURITY_CREDENTIAL_DETAILS_RESPONSE),
}
_JOIN: Structures = {
    CRA_COMMAND: ("CS03", "join_device_command", JOIN_DEVICE_COMMAND),
    CRA_RESPONSE: ("CS03", "join_response_code", JOIN_RESPONSE_CODE),
}
_UNJOIN: Structures = {
    CRA_COMMAND: ("CS04", "other_device_entity_id", ENTITY_ID),
    CRA_RESPONSE: ("CS04", "unjoin_response_code", UNJOIN_RESPONSE_CODE),
}
_FIRMWARE_VERSION: Structures = {
    CRA_COMMAND: ("CS08", "read_firmware_version", Null()),
    CRA_RESPONSE: ("CS08", "read_firmware_version_response", READ_FIRMWARE_VERSION_RESPONSE),
    CRA_ALERT: ("CS08", "firmware_version_alert", FIRMWARE_VERSION_ALERT),
}


def _update_credentials(use_case: str) -> Structures:
    return {
        CRA_COMMAND: (use_case, "update_security_credentials",
                      UPDATE_SECURITY_CREDENTIALS_COMMAND),
        CRA_RESPONSE: (use_case, "update_security_credentials_response",
                       UPDATE_SECURITY_CREDENTIALS_RESPONSE),
    }


STRUCTURES: dict[int, Structures] = {
    0x0008: _CS02A,
    0x011B: {cra: ("CS02f",) + rest[1:] for cra, rest in _CS02A.items()},
    **{code: _update_credentials("CS02b") for code in range(0x0100, 0x010A)},
    0x00CB: {CRA_ALERT: ("CS02b", "update_security_credentials_alert",
                         UPDATE_SECURITY_CREDENTIALS_ALERT)},
    0x0125: _update_credentials("CS02g"),
    0x0126: _update_credentials("CS02g"),
    0x0124: {CRA_ALERT: ("CS02g", "update_security_credentials_alert",
                         UPDATE_SECURITY_CREDENTIALS_ALERT)},
    0x000A: {
        CRA_COMMAND: ("CS02c", "issue_security_credentials", KEY_USAGE_COMMAND),
        CRA_RESPONSE: ("CS02c", "issue_security_credentials_response",
                       ISSUE_SECURITY_CREDENTIALS_RESPONSE),
    },
    0x000B: {
        CRA_COMMAND: ("CS02d", "device_certificate", CERTIFICATE),
        CRA_RESPONSE: ("CS02d", "update_device_certificate_response_code",
                       UPDATE_DEVICE_CERTIFICATE_RESPONSE),
    },
    0x000C: {
        CRA_COMMAND: ("CS02e", "provide_device_certificate", KEY_USAGE_COMMAND),
        CRA_RESPONSE: ("CS02e", "provide_device_certificate_response",
                       PROVIDE_DEVICE_CERTIFICATE_RESPONSE),
    },
    0x000D: _JOIN, 0x00AB: _JOIN, 0x000E: _JOIN, 0x00AF: _JOIN,
    0x000F: _UNJOIN, 0x0010: _UNJOIN,
    0x0012: {
        CRA_COMMAND: ("CS06", "activate_firmware", ACTIVATE_FIRMWARE_COMMAND),
        CRA_RESPONSE: ("CS06", "activate_firmware_response", ACTIVATE_FIRMWARE_RESPONSE),
    },
    0x00CA: {CRA_ALERT: ("CS06", "activate_firmware_alert", ACTIVATE_FIRMWARE_ALERT)},
    0x0013: {
        CRA_COMMAND: ("CS07", "read_device_join_details", Null()),
        CRA_RESPONSE: ("CS07", "read_device_join_details_response",
                       READ_DEVICE_JOIN_DETAILS_RESPONSE),
    },
    0x007F: {
        CRA_COMMAND: ("GCS28", "set_time", SET_TIME_COMMAND),
        CRA_RESPONSE: ("GCS28", "set_time_response", SET_TIME_RESPONSE),
    },
    0x008C: {
        CRA_COMMAND: ("GCS59", "gpf_device_log_restore", GPF_DEVICE_LOG_RESTORE_COMMAND),
        CRA_RESPONSE: ("GCS59", "gpf_device_log_restore_response",
                       GPF_DEVICE_LOG_RESTORE_RESPONSE),
    },
    0x00B2: {CRA_ALERT: ("GCS62", "gpf_device_log_backup_alert", GPF_DEVICE_LOG_BACKUP_ALERT)},
    0x0128: {CRA_ALERT: ("CCS08", "firmware_transfer_alert", FIRMWARE_TRANSFER_ALERT)},
    0x0129: _FIRMWARE_VERSION,
    0x012B: {CRA_ALERT: ("CS09", "firmware_version_alert", FIRMWARE_VERSION_ALERT)},
}

MESSAGE_CODES: frozenset[int] = frozenset(STRUCTURES)

_CRA_WORDS = {CRA_COMMAND: "command", CRA_RESPONSE: "response", CRA_ALERT: "alert"}


def _title(use_case: str, name: str, word: str) -> str:
    return f"{use_case} {name.replace('_', ' ')} ({word})"


def structure(message_code: int, cra: int) -> tuple[str, str, Spec] | None:
    """(use case, node name, spec) of a payload, or None when GBCS defines none."""
    return STRUCTURES.get(message_code, {}).get(cra)


# -- decoding -----------------------------------------------------------------------------


def decode_asn1(r: Reader, ctx: ContentContext) -> Node:
    """The ``asn1`` node of a content: the GBCS structure for the message code and CRA
    flag when the bytes match it, else the generic DER tree of every TLV in it."""
    start = r.pos
    if r.pos >= r.end:
        raise r.fail("empty ASN.1 content", "asn1")
    found = structure(ctx.message_code, ctx.cra)
    word = _CRA_WORDS.get(ctx.cra, f"CRA {ctx.cra}")
    if found is not None:
        use_case, name, spec = found
        try:
            node = decode(spec, r, name, 1)
        except GbcsDecodeError as err:
            raise err.within("asn1") from None
        if r.pos == r.end:
            return Node("asn1", "seq", None, [node], start, r.pos - start,
                        _title(use_case, name, word))
        r.pos = start
    try:
        items = der.decode_items(r, 1)
    except GbcsDecodeError as err:
        raise err.within("asn1") from None
    what = (f"unexpected content for {found[0]} {word}" if found is not None
            else f"no GBCS ASN.1 structure for message code 0x{ctx.message_code:04X} {word}")
    return Node("asn1", "seq", None, items, start, r.pos - start, what)


# -- building -----------------------------------------------------------------------------


def build(message_code: int, cra: int, value: _AnyValue) -> Node:
    """The ``asn1`` node of a payload from named values, shaped as `decode_asn1` gives
    it (for a structure its spec's `build` documents the value)."""
    found = structure(message_code, cra)
    if found is None:
        raise GbcsEncodeError(f"no GBCS ASN.1 structure for message code 0x{message_code:04X}"
                              f" with CRA flag {cra}", "asn1")
    use_case, name, spec = found
    word = _CRA_WORDS.get(cra, f"CRA {cra}")
    return Node("asn1", "seq", None, [spec.build(name, value)], -1, 0,
                _title(use_case, name, word))


def _key_usage(usage: str) -> set[str]:
    """KeyUsage bits for "DS" / "KA" (SMKI's two device and remote party key usages)."""
    bits = {"DS": "digitalSignature", "KA": "keyAgreement"}.get(usage.upper())
    if bits is None:
        raise GbcsEncodeError(f"key usage {usage!r} is neither DS nor KA", "key_usage")
    return {bits}


def trust_anchor_cell(role: int | str, key_usage: str,
                      cell_usage: int | str | None = None) -> dict:
    """A TrustAnchorCellIdentifier value (cell usage omitted means management)."""
    return {"remote_party_role": role, "key_usage": _key_usage(key_usage),
            "cell_usage": cell_usage}


# CS02b / CS02g message code -> credentials replacement mode (code order, as the RTDS shows)
_REPLACEMENT_MODE_BY_CODE = {**{code: code - 0x0100 for code in range(0x0100, 0x010A)},
                             0x0125: 10, 0x0126: 11}


def update_security_credentials_command(
        message_code: int, authorising_seq_number: int,
        replacements: list[tuple[bytes, dict]], certification_path: list[bytes], *,
        authorising_ta_cell: dict | None = None, plaintext_symmetric_key: bytes | None = None,
        apply_time_based_cpv_checks: int | str | None = None,
        new_remote_party_floor_seq_number: int | None = None,
        new_remote_party_specialist_floor_seq_numbers: list[dict] | None = None,
        other_remote_party_seq_number_changes: list[dict] | None = None,
        execution_date_time: _dt.datetime | None = None) -> Node:
    """CS02b / CS02g command: `replacements` pairs a certificate (DER) with its target
    cell (`trust_anchor_cell`); the replacement mode follows from the message code."""
    found = structure(message_code, CRA_COMMAND)
    if found is None or found[2] is not UPDATE_SECURITY_CREDENTIALS_COMMAND:
        raise GbcsEncodeError(f"0x{message_code:04X} is no Update Security Credentials code",
                              "asn1")
    mode = _REPLACEMENT_MODE_BY_CODE[message_code]
    control = {
        "credentials_replacement_mode": mode,
        "plaintext_symmetric_key": plaintext_symmetric_key,
        "apply_time_based_cpv_checks": apply_time_based_cpv_checks,
        "authorising_remote_party_ta_cell_identifier": authorising_ta_cell,
        "authorising_remote_party_seq_number": authorising_seq_number,
        "new_remote_party_floor_seq_number": new_remote_party_floor_seq_number,
        "new_remote_party_specialist_floor_seq_numbers":
            new_remote_party_specialist_floor_seq_numbers,
        "other_remote_party_seq_number_changes": other_remote_party_seq_number_changes,
    }
    return build(message_code, CRA_COMMAND, {
        "authorising_remote_party_control": control,
        "replacements": [{"replacement_certificate": cert, "target_trust_anchor_cell": cell}
                         for cert, cell in replacements],
        "certification_path_certificates": list(certification_path),
        "execution_date_time": execution_date_time,
    })


def update_security_credentials_response(message_code: int,
                                         execution_outcome: dict | None = None) -> Node:
    """CS02b / CS02g response: accepted, with the outcome when executed at once."""
    return build(message_code, CRA_RESPONSE, {"command_accepted": None,
                                              "execution_outcome": execution_outcome})


def provide_security_credential_details_command(authorising_ta_cell: dict,
                                                roles: list[int | str],
                                                message_code: int = 0x0008) -> Node:
    """CS02a (or CS02f) command: the roles whose credentials the device should report."""
    return build(message_code, CRA_COMMAND, {
        "authorising_remote_party_ta_cell_identifier": authorising_ta_cell,
        "remote_party_roles_credentials_required": list(roles)})


def issue_security_credentials_command(key_usage: str) -> Node:
    """CS02c command: generate a key pair for "DS" or "KA" and return a request."""
    return build(0x000A, CRA_COMMAND, {"key_usage": _key_usage(key_usage)})


def update_device_certificate_command(certificate: bytes) -> Node:
    """CS02d command: the device's new certificate (DER)."""
    return build(0x000B, CRA_COMMAND, certificate)


def provide_device_certificate_command(key_usage: str) -> Node:
    """CS02e command: ask for the device's "DS" or "KA" certificate."""
    return build(0x000C, CRA_COMMAND, {"key_usage": _key_usage(key_usage)})


def provide_device_certificate_response(certificate: bytes | None = None,
                                        response_code: int | str | None = None) -> Node:
    """CS02e response: the certificate, or the failure code."""
    value = ({"device_certificate": certificate} if certificate is not None
             else {"response_code": response_code})
    return build(0x000C, CRA_RESPONSE, value)


def join_command(message_code: int, join_method_and_role: int | str, entity_id: bytes,
                 device_type: int | str, certificate: bytes | None = None) -> Node:
    """CS03A1/A2/B/C command: join the other device (its KA certificate for CBKE)."""
    return build(message_code, CRA_COMMAND, {
        "join_method_and_role": join_method_and_role, "other_device_entity_id": entity_id,
        "other_device_type": device_type, "other_device_certificate": certificate})


def join_response(message_code: int, response_code: int | str) -> Node:
    return build(message_code, CRA_RESPONSE, response_code)


def unjoin_command(message_code: int, entity_id: bytes) -> Node:
    """CS04AC / CS04B command: remove the other device."""
    return build(message_code, CRA_COMMAND, entity_id)


def unjoin_response(message_code: int, response_code: int | str) -> Node:
    return build(message_code, CRA_RESPONSE, response_code)


def activate_firmware_command(manufacturer_image_hash: bytes, originator_counter: int,
                              execution_date_time: _dt.datetime | None = None) -> Node:
    """CS06 command: activate the image with this hash (now, or at the date-time)."""
    return build(0x0012, CRA_COMMAND, {
        "manufacturer_image_hash": manufacturer_image_hash,
        "originator_counter": originator_counter,
        "execution_date_time": execution_date_time})


def activate_firmware_response(response_code: int | str | None = None,
                               firmware_version: bytes | None = None) -> Node:
    """CS06 response: the outcome, or (no arguments) accepted for a future date."""
    if response_code is None:
        return build(0x0012, CRA_RESPONSE, {"command_accepted": None})
    return build(0x0012, CRA_RESPONSE, {"execution_outcome": {
        "activate_image_response_code": response_code,
        "firmware_version": firmware_version or b""}})


def activate_firmware_alert(alert_code: int, execution_date_time: _dt.datetime,
                            originator_counter: int, response_code: int | str,
                            firmware_version: bytes) -> Node:
    """CS06 future-dated outcome alert (message code 0x00CA)."""
    return build(0x00CA, CRA_ALERT, {
        "alert_code": alert_code, "execution_date_time": execution_date_time,
        "originator_counter": originator_counter,
        "execution_outcome": {"activate_image_response_code": response_code,
                              "firmware_version": firmware_version}})


def firmware_version_alert(execution_date_time: _dt.datetime, firmware_version: bytes,
                           response_code: int | str) -> Node:
    """CS09: a PPMID's own firmware activation, its outcome and the version it runs
    (alert 8F8B, message code 0x012B)."""
    return build(0x012B, CRA_ALERT, {
        "alert_code": 0x8F8B, "execution_date_time": execution_date_time,
        "firmware_version": firmware_version,
        "activate_image_response_code": response_code})


def read_device_join_details_command() -> Node:
    return build(0x0013, CRA_COMMAND, None)


def read_device_join_details_response(entries: list[tuple[bytes, int | str]] | None,
                                      response_code: int | str = 0) -> Node:
    """CS07 response: (device id, device type) pairs of the device log."""
    return build(0x0013, CRA_RESPONSE, {
        "response_code": response_code,
        "device_log_entries": None if entries is None else [
            {"device_id": eui, "device_type": kind} for eui, kind in entries]})


def set_time_command(validity_interval_start: _dt.datetime,
                     validity_interval_end: _dt.datetime) -> Node:
    """GCS28 command: set the GSME clock when the command arrives within the interval."""
    return build(0x007F, CRA_COMMAND, {"validity_interval_start": validity_interval_start,
                                       "validity_interval_end": validity_interval_end})


def set_time_response(device_time: _dt.datetime, status: int | str) -> Node:
    return build(0x007F, CRA_RESPONSE, {"device_time": device_time,
                                        "device_time_status": status})


def gpf_device_log_restore_command(entries: list[tuple[bytes, int | str]]) -> Node:
    """GCS59 command: the device log entries to restore on the GPF."""
    return build(0x008C, CRA_COMMAND, {"device_log_entries": [
        {"device_id": eui, "device_type": kind} for eui, kind in entries]})


def gpf_device_log_backup_alert(alert_code: int, backup_date_time: _dt.datetime,
                                entries: list[tuple[bytes, int | str]]) -> Node:
    """GCS62 alert: the GPF's device log after a change."""
    return build(0x00B2, CRA_ALERT, {
        "alert_code": alert_code, "backup_date_time": backup_date_time,
        "device_log_entries": [{"device_id": eui, "device_type": kind}
                               for eui, kind in entries]})


def firmware_transfer_alert(alert_code: int, execution_date_time: _dt.datetime,
                            entity_id: bytes, firmware_version: bytes,
                            response_code: int | str) -> Node:
    """CCS08 alert: outcome of a firmware image transfer to a HAN device."""
    return build(0x0128, CRA_ALERT, {
        "alert_code": alert_code, "execution_date_time": execution_date_time,
        "entity_id": entity_id, "firmware_version": firmware_version,
        "firmware_transfer_response_code": response_code})

