"""X.509 certificates and PKCS #10 requests as named DER trees (RFC 5280, RFC 2986).

GBCS payloads carry SMKI certificates (CS02b replacements and certification paths,
CS02d/CS02e device certificates, CS03 joins) and CS02c's certification request; these
specs show them field by field, with names, validity dates, the EC point and each
extension by name, while keeping every byte (`gbcs.node.encode` gives the DER back).
For checking a certificate, `gbcs.certificates` uses the `cryptography` package instead.
"""

from __future__ import annotations

from gbcs import der
from gbcs.der_schema import (
    Any, BitString, Boolean, Cached, Choice, Encapsulated, Explicit, Field, Integer, Mismatch,
    ObjectIdentifier, OctetString, Sequence, SequenceOf, Spec, Time, decode, decode_bytes,
)
from gbcs.errors import GbcsDecodeError
from gbcs.node import Node, display_value
from gbcs.reader import Reader

KEY_USAGE_BITS = {
    0: "digitalSignature", 1: "nonRepudiation", 2: "keyEncipherment",
    3: "dataEncipherment", 4: "keyAgreement", 5: "keyCertSign", 6: "cRLSign",
    7: "encipherOnly", 8: "decipherOnly",
}
KEY_USAGE = BitString(KEY_USAGE_BITS, label="KeyUsage")

# Short attribute names for distinguished names (RFC 4514 style).
ATTRIBUTE_SHORT = {
    "2.5.4.3": "CN", "2.5.4.5": "serialNumber", "2.5.4.6": "C", "2.5.4.10": "O",
    "2.5.4.11": "OU", "2.5.4.45": "x500UniqueIdentifier",
}


def _eui_or_hex(raw: bytes) -> str:
    return der.eui_text(raw) if len(raw) == 8 else raw.hex().upper()


def _value_text(node: Node) -> str:
    """The readable value of a generic attribute value node (a string, or a BIT STRING
    such as the x500UniqueIdentifier EUI-64)."""
    if node.children is not None:
        return ""
    if der.tag_of(node) == der.BIT_STRING and isinstance(node.value, bytes) and node.value:
        return _eui_or_hex(node.value[1:])
    if isinstance(node.value, str):
        return node.human or node.value
    return display_value(node)


def _attribute_summary(node: Node) -> str | None:
    """``OU=07``; None when the type is not an OBJECT IDENTIFIER."""
    dotted = der.oid_of(node.children[0])
    if dotted is None:
        return None
    return f"{ATTRIBUTE_SHORT.get(dotted, dotted)}={_value_text(node.children[1])}"


ATTRIBUTE_TYPE_AND_VALUE = Sequence("AttributeTypeAndValue", [
    Field("type", ObjectIdentifier()),
    Field("value", Any()),
], summary=_attribute_summary)
RELATIVE_DISTINGUISHED_NAME = SequenceOf(
    "attribute", ATTRIBUTE_TYPE_AND_VALUE, der.SET, "RelativeDistinguishedName")


def _name_summary(node: Node) -> str:
    parts = [attr.human for rdn in node.children or () for attr in rdn.children or ()
             if attr.human]
    return ", ".join(parts) if parts else "(empty)"


class _Name(SequenceOf):
    """Name: a SEQUENCE OF RelativeDistinguishedName, shown as ``OU=07, CN=Z1``."""

    def read(self, r: Reader, name: str, depth: int) -> Node:
        node = super().read(r, name, depth)
        node.human = _name_summary(node)
        return node

    def build(self, name: str, value: list) -> Node:
        node = super().build(name, value)
        node.human = _name_summary(node)
        return node


NAME = _Name("relative_distinguished_name", RELATIVE_DISTINGUISHED_NAME, label="Name")

ALGORITHM_IDENTIFIER = Sequence("AlgorithmIdentifier", [
    Field("algorithm", ObjectIdentifier()),
    Field("parameters", Any(), optional=True),
], summary=lambda n: n.children[0].human)

VALIDITY = Sequence("Validity", [
    Field("not_before", Time(utc=True)),
    Field("not_after", Time(utc=True)),
], summary=lambda n: f"{n.children[0].human} to {n.children[1].human}")


class EcPoint(Spec):
    """subjectPublicKey: a BIT STRING holding an uncompressed P-256 point, shown as a
    ``der.tlv`` node over ``unused_bits``, ``point_format``, ``x`` and ``y`` leaves (other
    contents stay one BIT STRING leaf)."""

    label = "ECPoint"
    tags = frozenset((der.BIT_STRING,))

    @staticmethod
    def _node(name: str, raw: bytes, start: int, pos: int, size: int) -> Node:
        """The node of the BIT STRING with content `raw` at `pos` (-1: a built one)."""
        if len(raw) == 66 and raw[0] == 0 and raw[1] == 0x04:
            at = (pos, pos + 1, pos + 2, pos + 34) if pos >= 0 else (-1,) * 4
            return Node(name, der.TLV, der.BIT_STRING, [
                Node("unused_bits", "u8", 0, None, at[0], 1),
                Node("point_format", "u8", 4, None, at[1], 1, "uncompressed"),
                Node("x", "bytes", raw[2:34], None, at[2], 32),
                Node("y", "bytes", raw[34:66], None, at[3], 32)], start, size)
        return Node(name, der.BYTES_KIND[der.BIT_STRING], raw, None, start, size)

    def read(self, r: Reader, name: str, depth: int) -> Node:
        start = r.pos
        tag, pos, end, _ = der.read_header(r, name)
        if tag != der.BIT_STRING or end == pos:
            raise Mismatch(f"tag 0x{tag:02X}" if tag != der.BIT_STRING else "empty BIT STRING")
        return self._node(name, r.buf[pos:end], start, pos, end - start)

    def build(self, name: str, value: bytes) -> Node:
        """`value`: the point as ``04 || x || y`` (65 bytes) or any other octets."""
        return self._node(name, b"\x00" + bytes(value), -1, -1, 0)


SUBJECT_PUBLIC_KEY_INFO = Sequence("SubjectPublicKeyInfo", [
    Field("algorithm", ALGORITHM_IDENTIFIER),
    Field("subject_public_key", EcPoint()),
])

ECDSA_SIG_VALUE = Sequence("ECDSA-Sig-Value", [Field("r", Integer()), Field("s", Integer())])

HARDWARE_MODULE_NAME = Sequence("HardwareModuleName", [
    Field("hw_type", ObjectIdentifier()),
    Field("hw_serial_num", OctetString(human=_eui_or_hex)),
], summary=lambda n: n.children[1].human)

OTHER_NAME = Sequence("OtherName", [
    Field("type_id", ObjectIdentifier()),
    Field("value", Explicit(0xA0, "hardware_module_name", HARDWARE_MODULE_NAME)),
], tag=0xA0, summary=lambda n: n.children[1].human)

GENERAL_NAMES = SequenceOf("general_name", Choice("GeneralName", [
    ("other_name", OTHER_NAME),
    ("general_name", Any()),
]), label="GeneralNames")

POLICY_INFORMATION = Sequence("PolicyInformation", [
    Field("policy_identifier", ObjectIdentifier()),
    Field("policy_qualifiers", Any(), optional=True),
], summary=lambda n: n.children[0].human)

AUTHORITY_KEY_IDENTIFIER = Sequence("AuthorityKeyIdentifier", [
    Field("key_identifier", OctetString(0x80), optional=True),
    Field("authority_cert_issuer", Any(frozenset((0xA1,))), optional=True),
    Field("authority_cert_serial_number", Integer(tag=0x82), optional=True),
])

BASIC_CONSTRAINTS = Sequence("BasicConstraints", [
    Field("ca", Boolean(), optional=True),
    Field("path_len_constraint", Integer(), optional=True),
])

# Extension OID -> (node name, spec of the value inside extnValue).
EXTENSIONS: dict[str, tuple[str, Spec]] = {
    "2.5.29.15": ("key_usage", KEY_USAGE),
    "2.5.29.14": ("subject_key_identifier", OctetString()),
    "2.5.29.35": ("authority_key_identifier", AUTHORITY_KEY_IDENTIFIER),
    "2.5.29.19": ("basic_constraints", BASIC_CONSTRAINTS),
    "2.5.29.32": ("certificate_policies", SequenceOf("policy_information", POLICY_INFORMATION,
                                                     label="CertificatePolicies")),
    "2.5.29.17": ("subject_alt_name", GENERAL_NAMES),
}
_EXTENSION_OID = ObjectIdentifier()
_CRITICAL = Boolean()
_GENERIC_VALUE = Encapsulated("value", Any())


class Extension(Spec):
    """Extension ::= SEQUENCE { extnID, critical DEFAULT FALSE, extnValue }: the node is
    named after the extension and extnValue's octets are read as that extension."""

    label = "Extension"
    tags = frozenset((der.SEQUENCE,))

    def read(self, r: Reader, name: str, depth: int) -> Node:
        start = r.pos
        tag, pos, end, _ = der.read_header(r, name)
        if tag != der.SEQUENCE:
            raise Mismatch(f"tag 0x{tag:02X}")
        body = Reader(r.buf, pos, end)
        if der.peek_tag(body) != der.OBJECT_IDENTIFIER:
            raise Mismatch("no extnID")
        try:
            oid = _EXTENSION_OID.read(body, "extn_id", depth + 1)
            children = [oid]
            if der.peek_tag(body) == der.BOOLEAN:
                children.append(decode(_CRITICAL, body, "critical", depth + 1))
            dotted = der.oid_of(oid) or ""
            node_name, inner = EXTENSIONS.get(dotted, (name, Any()))
            value_spec = Encapsulated(node_name, inner) if dotted in EXTENSIONS else _GENERIC_VALUE
            children.append(decode(value_spec, body, "extn_value", depth + 1))
        except GbcsDecodeError as err:
            raise err.within(name) from None
        if body.pos != end:
            raise Mismatch("elements after extnValue")
        return Node(node_name, der.TLV, tag, children, start, end - start,
                    self._summary(oid, children))

    @staticmethod
    def _summary(oid: Node, children: list[Node]) -> str:
        critical = any(c.name == "critical" and c.human == "TRUE" for c in children)
        value = children[-1].human
        text = der.OID_NAMES.get(der.oid_of(oid) or "") or oid.human or "extension"
        return text + (" (critical)" if critical else "") + (f": {value}" if value else "")

    def build(self, name: str, value: dict) -> Node:
        """`value`: {"extn_id": dotted OID, "critical": bool, "extn_value": inner value
        (DER bytes for an extension not in `EXTENSIONS`)}."""
        dotted = value["extn_id"]
        node_name, inner = EXTENSIONS.get(dotted, (name, Any()))
        oid = _EXTENSION_OID.build("extn_id", dotted)
        children = [oid]
        if value.get("critical"):
            children.append(_CRITICAL.build("critical", True))
        children.append(Encapsulated(node_name, inner).build("extn_value", value["extn_value"]))
        node = der.tlv(node_name, der.SEQUENCE, children)
        node.human = self._summary(oid, node.children)
        return node


EXTENSION_LIST = SequenceOf("extension", Extension(), label="Extensions")

TBS_CERTIFICATE = Sequence("TBSCertificate", [
    Field("version", Explicit(0xA0, "version_number", Integer({0: "v1", 1: "v2", 2: "v3"})),
          optional=True),
    Field("serial_number", Integer()),
    Field("signature", ALGORITHM_IDENTIFIER),
    Field("issuer", NAME),
    Field("validity", VALIDITY),
    Field("subject", NAME),
    Field("subject_public_key_info", SUBJECT_PUBLIC_KEY_INFO),
    Field("issuer_unique_id", BitString(tag=0x81), optional=True),
    Field("subject_unique_id", BitString(tag=0x82), optional=True),
    Field("extensions", Explicit(0xA3, "extension_list", EXTENSION_LIST), optional=True),
])


def _device_id(tbs: Node) -> str | None:
    """The hardwareModuleName serial number in a device certificate's subjectAltName."""
    extensions = tbs.get("extensions")
    listed = extensions.get("extension_list") if extensions is not None else None
    alt_name = listed.get("subject_alt_name") if listed is not None else None
    if alt_name is None:
        return None
    value = alt_name.get("extn_value")
    names = value.get("subject_alt_name") if value is not None else None
    other = names.get("other_name") if names is not None else None
    return other.human if other is not None else None


def _certificate_summary(node: Node) -> str | None:
    """Whose certificate: the subject (organisations) or the device EUI-64 (devices)."""
    tbs = node.children[0]
    subject = tbs.get("subject")
    issuer = tbs.get("issuer")
    who = subject.human if subject is not None else None
    if who in (None, "(empty)"):
        eui = _device_id(tbs)
        who = f"device {eui}" if eui is not None else who
    by = issuer.human if issuer is not None else "?"
    return f"{who} (issuer {by})"


CERTIFICATE = Cached(Sequence("Certificate", [
    Field("tbs_certificate", TBS_CERTIFICATE),
    Field("signature_algorithm", ALGORITHM_IDENTIFIER),
    Field("signature_value", Encapsulated("ecdsa_sig_value", ECDSA_SIG_VALUE, der.BIT_STRING)),
], summary=_certificate_summary))

ATTRIBUTE = Sequence("Attribute", [
    Field("type", ObjectIdentifier()),
    Field("values", SequenceOf("value", Choice("AttributeValue", [
        ("extensions", EXTENSION_LIST),
        ("value", Any()),
    ]), der.SET)),
], summary=lambda n: n.children[0].human)

CERTIFICATION_REQUEST = Sequence("CertificationRequest", [
    Field("certification_request_info", Sequence("CertificationRequestInfo", [
        Field("version", Integer({0: "v1"})),
        Field("subject", NAME),
        Field("subject_pk_info", SUBJECT_PUBLIC_KEY_INFO),
        Field("attributes", SequenceOf("attribute", ATTRIBUTE, 0xA0)),
    ])),
    Field("signature_algorithm", ALGORITHM_IDENTIFIER),
    Field("signature", Encapsulated("ecdsa_sig_value", ECDSA_SIG_VALUE, der.BIT_STRING)),
])


def certificate_tree(data: bytes, name: str = "certificate") -> Node:
    """The named tree of a DER certificate (GbcsEncodeError when it is not DER)."""
    return decode_bytes(CERTIFICATE, data, name)
