"""SMKI certificates: who a certificate names, in which role and for which key usage.

Parsing is the `cryptography` package's X.509; this module reads the SMKI conventions
off it:

- device certificates have an empty subject and carry the device's EUI-64 as the
  ``hwSerialNum`` of a ``hardwareModuleName`` otherName in the subjectAltName;
- organisation (remote party) certificates carry the entity id (an EUI-64) in the
  subject's ``x500UniqueIdentifier`` and the GBCS remote party role as two hex digits
  in the subject's ``organizationalUnitName`` (``02`` supplier, ``7F`` other; DCC's own
  signing certificates use codes above 0x7F);
- CA certificates (the root, the issuing organisation and device CAs) have
  basicConstraints cA and sign certificates; an organisation-unit role code, when present
  (``00`` root, ``07`` issuing authority), is read as for organisations;
- the key usage is exactly one of digitalSignature (DS), keyAgreement (KA) or, for CAs,
  keyCertSign (CA); keys are ECC P-256.
"""

from __future__ import annotations

import base64
import datetime as _dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtensionOID, NameOID

from gbcs import der
from gbcs.asn1 import REMOTE_PARTY_ROLES
from gbcs.errors import GbcsDecodeError, GbcsError
from gbcs.node import encode

HARDWARE_MODULE_NAME = x509.ObjectIdentifier("1.3.6.1.5.5.7.8.4")
X500_UNIQUE_IDENTIFIER = x509.ObjectIdentifier("2.5.4.45")


class GbcsCertificateError(GbcsError):
    """Bytes that are not an SMKI certificate (not X.509, no P-256 key, no usable
    key usage or identity)."""


@dataclass(frozen=True, slots=True)
class SmkiCertificate:
    kind: str                       # "device", "organisation" or "ca"
    entity_id: bytes | None         # EUI-64: device id, or organisation entity id
    role: int | None                # GBCS remote party role code (not for devices)
    key_usage: str                  # "DS", "KA" or "CA"
    public_key: ec.EllipticCurvePublicKey
    public_key_raw: bytes           # x || y, 64 bytes
    subject: str                    # RFC 4514
    issuer: str                     # RFC 4514
    serial_number: int
    not_before: _dt.datetime
    not_after: _dt.datetime
    certificate: x509.Certificate

    @property
    def role_name(self) -> str | None:
        if self.role is None:
            return None
        return REMOTE_PARTY_ROLES.get(self.role, f"role 0x{self.role:02X}")

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    def valid_at(self, when: _dt.datetime) -> bool:
        return self.not_before <= when <= self.not_after


def parse_certificate(der_or_pem: bytes) -> SmkiCertificate:
    """An SMKI certificate from DER or PEM bytes; GbcsCertificateError otherwise."""
    cert, public_key = _load(der_or_pem)
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or \
            not isinstance(public_key.curve, ec.SECP256R1):
        raise GbcsCertificateError("not an ECC P-256 public key")
    point = public_key.public_bytes(serialization.Encoding.X962,
                                    serialization.PublicFormat.UncompressedPoint)
    key_usage = _key_usage(cert)
    device_id = _hardware_module_serial(cert)
    subject_id = _unique_identifier(cert)
    role = _role(cert)
    if device_id is not None:
        kind, entity_id, role = "device", device_id, None
    elif key_usage == "CA":
        kind, entity_id = "ca", subject_id
    elif subject_id is not None:
        kind, entity_id = "organisation", subject_id
    else:
        raise GbcsCertificateError("neither a hardwareModuleName subjectAltName (device) "
                                   "nor an x500UniqueIdentifier subject (organisation)")
    return SmkiCertificate(kind, entity_id, role, key_usage, public_key, point[1:],
                           cert.subject.rfc4514_string(), cert.issuer.rfc4514_string(),
                           cert.serial_number, cert.not_valid_before_utc,
                           cert.not_valid_after_utc, cert)


_SIGNATURE_OIDS = frozenset(("1.2.840.10045.4.3.2", "1.2.840.10045.4.3.3"))


def load_x509(data: bytes) -> x509.Certificate:
    """A certificate (PEM or DER) as `cryptography` reads it.

    Some test PKIs (ZAZ1, as DCC Boxed ships it) put a NULL parameter in the ECDSA
    AlgorithmIdentifier, which recent `cryptography` refuses; such a certificate is
    re-encoded without the NULL for reading its fields (its signature then no longer
    covers the re-encoded bytes, so this is for reading, not for path validation).
    """
    raw = bytes(data)
    if raw.lstrip().startswith(b"-----BEGIN"):
        body = b"".join(line for line in raw.strip().splitlines()
                        if not line.startswith(b"-----"))
        raw = base64.b64decode(body)
    try:
        return x509.load_der_x509_certificate(raw)
    except ValueError:
        return x509.load_der_x509_certificate(_without_null_ecdsa_parameters(raw))


def _without_null_ecdsa_parameters(der_bytes: bytes) -> bytes:
    try:
        tree = der.decode_der(der_bytes, "certificate")
    except GbcsDecodeError as err:
        raise ValueError(str(err)) from None
    for node in tree.walk():
        children = node.children
        if children is None:
            continue
        if (len(children) == 2 and children[0].value in _SIGNATURE_OIDS
                and children[1].kind.startswith("der.null")):
            del children[1]
        if node.kind == "der.tlv":
            node.size = 0  # lengths written anew, in minimal form
    return encode(tree)


def _load(data: bytes) -> tuple[x509.Certificate, CertificatePublicKeyTypes]:
    """The certificate and its public key, with the lazily parsed parts (names,
    extensions, key) read once here, where `cryptography` reports malformed ones."""
    if not isinstance(data, (bytes, bytearray)):
        raise GbcsCertificateError(f"expected bytes, got {type(data).__name__}")
    try:
        cert = load_x509(data)
        cert.subject.rfc4514_string()
        cert.issuer.rfc4514_string()
        len(cert.extensions)
        return cert, cert.public_key()
    # Only cryptography runs in here, and it reports malformed certificates with assorted
    # types (ValueError, KeyError for an unknown string tag, TypeError, InvalidVersion,
    # DuplicateExtension, UnsupportedAlgorithm): every one means "not readable".
    except Exception as exc:  # noqa: BLE001
        raise GbcsCertificateError(f"not a readable X.509 certificate: {exc!r}") from None


def _key_usage(cert: x509.Certificate) -> str:
    try:
        usage = cert.extensions.get_extension_for_oid(ExtensionOID.KEY_USAGE).value
    except x509.ExtensionNotFound:
        raise GbcsCertificateError("no keyUsage extension") from None
    found = [code for code, present in (("DS", usage.digital_signature),
                                        ("KA", usage.key_agreement),
                                        ("CA", usage.key_cert_sign)) if present]
    if len(found) != 1:
        raise GbcsCertificateError(
            f"keyUsage must be one of digitalSignature, keyAgreement, keyCertSign: {usage}")
    return found[0]


def _hardware_module_serial(cert: x509.Certificate) -> bytes | None:
    """hwSerialNum of the hardwareModuleName otherName (RFC 4108) in subjectAltName."""
    try:
        names = cert.extensions.get_extension_for_oid(
            ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    except x509.ExtensionNotFound:
        return None
    for other in names.get_values_for_type(x509.OtherName):
        if other.type_id != HARDWARE_MODULE_NAME:
            continue
        try:
            tree = der.decode_der(other.value)
        except GbcsDecodeError as err:
            raise GbcsCertificateError(f"malformed hardwareModuleName: {err}") from None
        parts = tree.children or []
        if len(parts) != 2 or der.tag_of(parts[1]) != der.OCTET_STRING \
                or not isinstance(parts[1].value, bytes):
            raise GbcsCertificateError("hardwareModuleName is not (hwType, hwSerialNum)")
        serial = parts[1].value
        if len(serial) != 8:
            raise GbcsCertificateError(f"hwSerialNum is not an EUI-64: {serial.hex()}")
        return serial
    return None


def _unique_identifier(cert: x509.Certificate) -> bytes | None:
    """The subject's x500UniqueIdentifier: a BIT STRING holding the EUI-64."""
    for attribute in cert.subject.get_attributes_for_oid(X500_UNIQUE_IDENTIFIER):
        raw = attribute.value  # the BIT STRING contents: unused-bits octet, then the bits
        if not isinstance(raw, bytes) or len(raw) != 9 or raw[0] != 0:
            raise GbcsCertificateError(f"x500UniqueIdentifier is not an EUI-64: {raw!r}")
        return raw[1:]
    return None


def _role(cert: x509.Certificate) -> int | None:
    """The remote party role code: the subject's organizationalUnitName in hex."""
    for attribute in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME):
        text = attribute.value if isinstance(attribute.value, str) else ""
        if len(text) == 2:
            try:
                return int(text, 16)
            except ValueError:
                return None
    return None
