"""Hypothesis strategies for ASN.1 DER: generic well-formed DER, Python values for any
`gbcs.der_schema` spec, and whole GBCS ASN.1 payloads for every message code and CRA
flag `gbcs.asn1` knows, shared by property tests, fuzzing and benchmarks.

Imports hypothesis, so only tests and tools import this module.
"""

from __future__ import annotations

import datetime as _dt
from functools import lru_cache

from hypothesis import strategies as st

from gbcs import asn1, der
from gbcs.der_schema import (
    Any, BitString, Boolean, Cached, Choice, Encapsulated, Explicit, Integer, Null,
    ObjectIdentifier, OctetString, Sequence, SequenceOf, Spec, Time,
)
from gbcs.der_x509 import CERTIFICATE, EXTENSIONS, HARDWARE_MODULE_NAME, EcPoint, Extension
from gbcs.node import Node, encode

MAX_DEPTH = 4


def _length(n: int, long_form: bool) -> bytes:
    """A BER length, optionally in a non-minimal long form (GBCS devices send those)."""
    if n < 0x80 and not long_form:
        return bytes((n,))
    width = max(1, (n.bit_length() + 7) // 8) + (1 if long_form else 0)
    return bytes((0x80 | width,)) + n.to_bytes(width, "big")


@st.composite
def der_tlv(draw: st.DrawFn, depth: int = 0, tags: frozenset[int] | None = None) -> bytes:
    """One well-formed DER TLV (any tag, or one of `tags`), nested up to `MAX_DEPTH`."""
    if tags is not None:
        tag = draw(st.sampled_from(sorted(tags)))
    else:
        tag = draw(st.sampled_from([
            der.INTEGER, der.OCTET_STRING, der.NULL, der.OBJECT_IDENTIFIER, der.BOOLEAN,
            der.ENUMERATED, der.PRINTABLE_STRING, der.UTF8_STRING, der.GENERALIZED_TIME,
            der.UTC_TIME, der.BIT_STRING, der.SEQUENCE, der.SET, 0x80, 0x81, 0xA0, 0xA3, 0x5F,
        ]))
    if tag & der.CONSTRUCTED and depth < MAX_DEPTH:
        items = draw(st.lists(der_tlv(depth + 1), max_size=4))
        content = b"".join(items)
    elif tag & der.CONSTRUCTED:
        content = b""
    elif tag == 0x5F:
        return bytes((0x5F, draw(st.integers(0x1F, 0x7F)))) + _tlv_body(draw, draw(
            st.binary(max_size=8)))
    elif tag == der.NULL:
        content = b""
    elif tag == der.OBJECT_IDENTIFIER:
        content = der.oid_bytes(draw(oids()))
    elif tag in (der.INTEGER, der.ENUMERATED):
        value = draw(st.integers(-(2 ** 80), 2 ** 80))
        content = value.to_bytes(der.integer_width(value), "big", signed=True)
    elif tag == der.GENERALIZED_TIME:
        content = draw(datetimes()).strftime("%Y%m%d%H%M%SZ").encode()
    else:
        content = draw(st.binary(max_size=40))
    return bytes((tag,)) + _tlv_body(draw, content)


def _tlv_body(draw: st.DrawFn, content: bytes) -> bytes:
    return _length(len(content), draw(st.booleans())) + content


def oids() -> st.SearchStrategy[str]:
    """Dotted object identifiers (the second arc below 40 unless the first is 2)."""
    return st.integers(0, 2).flatmap(lambda first: st.builds(
        lambda second, rest: ".".join(map(str, [first, second, *rest])),
        st.integers(0, 39 if first < 2 else 2 ** 20),
        st.lists(st.integers(0, 2 ** 40), max_size=6)))


def datetimes() -> st.SearchStrategy[_dt.datetime]:
    return st.datetimes(min_value=_dt.datetime(2000, 1, 1), max_value=_dt.datetime(9999, 12, 31),
                        timezones=st.just(_dt.timezone.utc)).map(
        lambda d: d.replace(microsecond=0))


@lru_cache(maxsize=1)
def certificate_pool() -> tuple[bytes, ...]:
    """A few self-issued P-256 certificates in the SMKI shapes (device and organisation),
    made once with `cryptography`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    out = []
    start = _dt.datetime(2020, 1, 1, tzinfo=_dt.timezone.utc)
    for index, usage in enumerate(("DS", "KA", "DS")):
        key = ec.derive_private_key(0x1000 + index, ec.SECP256R1())
        eui = bytes.fromhex(f"00DB1234567890{index:02X}")
        issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "E357")])
        builder = (x509.CertificateBuilder().issuer_name(issuer).public_key(key.public_key())
                   .serial_number(0x7100 + index).not_valid_before(start)
                   .not_valid_after(start.replace(year=2030))
                   .add_extension(x509.KeyUsage(usage == "DS", False, False, False,
                                                usage == "KA", False, False, False, False),
                                  critical=True))
        if index < 2:
            hw = encode(HARDWARE_MODULE_NAME.build("hardware_module_name", {
                "hw_type": "1.2.826.0.1.8641679.1.2.2.1", "hw_serial_num": eui}))
            builder = builder.subject_name(x509.Name([])).add_extension(
                x509.SubjectAlternativeName([x509.OtherName(
                    x509.ObjectIdentifier("1.3.6.1.5.5.7.8.4"), hw)]), critical=True)
        else:
            builder = builder.subject_name(x509.Name([
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "02"),
                x509.NameAttribute(NameOID.COMMON_NAME, "LAB SUPPLIER")]))
        cert = builder.sign(key, hashes.SHA256(), ecdsa_deterministic=True)  # same pool per run
        out.append(cert.public_bytes(serialization.Encoding.DER))
    return tuple(out)


def spec_values(spec: Spec, depth: int = 0,
                exclude: frozenset[int] = frozenset()) -> st.SearchStrategy:
    """Values `spec.build` takes (an Any avoids the tags in `exclude`, those an earlier
    CHOICE alternative would claim)."""
    if isinstance(spec, Cached):
        if spec is CERTIFICATE:
            return st.sampled_from(certificate_pool())
        return spec_values(spec.spec, depth, exclude)
    if isinstance(spec, Integer):
        numbers = st.integers(-(2 ** 70), 2 ** 70)
        if isinstance(spec.names, dict) and spec.names:
            return st.one_of(st.sampled_from(sorted(spec.names.values())), numbers)
        return numbers
    if isinstance(spec, OctetString):
        return st.binary(max_size=40)
    if isinstance(spec, Null):
        return st.none()
    if isinstance(spec, Boolean):
        return st.booleans()
    if isinstance(spec, ObjectIdentifier):
        return oids()
    if isinstance(spec, Time):
        return datetimes()
    if isinstance(spec, BitString):
        if spec.bit_names:
            return st.sets(st.sampled_from(sorted(spec.bit_names.values())), max_size=3)
        return st.tuples(st.integers(0, 7), st.binary(min_size=1, max_size=8))
    if isinstance(spec, EcPoint):
        return st.one_of(st.binary(min_size=64, max_size=64).map(lambda xy: b"\x04" + xy),
                         st.binary(max_size=20))
    if isinstance(spec, Any):
        tags = spec.tags
        if tags is None and exclude:
            tags = frozenset({der.INTEGER, der.OCTET_STRING, der.NULL, der.SEQUENCE,
                              der.SET, 0x80, 0x81, 0xA3} - exclude)
        return der_tlv(MAX_DEPTH - 1 if depth else 0, tags)
    if isinstance(spec, (Explicit, Encapsulated)):
        return spec_values(spec.inner, depth + 1)
    if isinstance(spec, Extension):
        known = st.sampled_from(sorted(EXTENSIONS)).flatmap(
            lambda oid: st.fixed_dictionaries({
                "extn_id": st.just(oid), "critical": st.booleans(),
                "extn_value": spec_values(EXTENSIONS[oid][1], depth + 1)}))
        return known
    if isinstance(spec, SequenceOf):
        return st.lists(spec_values(spec.spec, depth + 1), max_size=3 if depth < 3 else 1)
    if isinstance(spec, Choice):
        options = []
        claimed: frozenset[int] = frozenset()
        for name, alternative in spec.alternatives:
            options.append(spec_values(alternative, depth + 1, claimed).map(
                lambda v, n=name: {n: v}))
            claimed |= alternative.tags or frozenset()
        return st.one_of(options)
    if isinstance(spec, Sequence):
        required = {f.name: spec_values(f.spec, depth + 1) for f in spec.fields
                    if not f.optional}
        optional = {f.name: spec_values(f.spec, depth + 1) for f in spec.fields if f.optional}
        return st.fixed_dictionaries(required, optional=optional)
    raise TypeError(f"no strategy for {type(spec).__name__}")


@st.composite
def gbcs_payloads(draw: st.DrawFn) -> tuple[int, int, Node]:
    """(message code, CRA flag, built ``asn1`` tree) of any GBCS ASN.1 payload."""
    code = draw(st.sampled_from(sorted(asn1.STRUCTURES)))
    cra = draw(st.sampled_from(sorted(asn1.STRUCTURES[code])))
    _, _, spec = asn1.STRUCTURES[code][cra]
    value = draw(spec_values(spec))
    return code, cra, asn1.build(code, cra, value)


@st.composite
def gbcs_payload_bytes(draw: st.DrawFn) -> tuple[int, int, bytes]:
    """(message code, CRA flag, content bytes) of any GBCS ASN.1 payload."""
    code, cra, tree = draw(gbcs_payloads())
    return code, cra, encode(tree)
