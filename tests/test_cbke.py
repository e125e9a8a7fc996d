"""CBKE: GF(2^m) and Koblitz-curve arithmetic, AES-MMO, ZSE certificates, ECQV, the test
CA and the two-party key establishment, checked against published vectors (ZigBee spec
C.5, the install-code example, Certicom's ZSE test certificates) and against naive
reference arithmetic."""

from __future__ import annotations

import hmac
import json
import random
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from han.cbke import (
    CbkeDecodeError, CbkeError, Certificate, CertificateAuthority, CertificateRequest,
    Credentials, InstallCodeError, KeyEstablishment, KeyEstablishmentError,
    KeyEstablishmentStatus, Role, State, Suite1Certificate, Suite2Certificate,
    install_code_link_key, mmo_hash, mmo_hmac, public_key, reconstruct_public_key, tnaf)
from han.cbke.certificate import KEY_USAGE_DIGITAL_SIGNATURE, NO_EXPIRY
from han.cbke.curves import CURVES, SECT163K1, SECT283K1, KoblitzCurve
from han.cbke.ecmqv import associate_value
from tests.conftest import VECTORS, need

SUITES = [1, 2]
VECTOR_KEYS = {1: "suite1_sect163k1", 2: "suite2_sect283k1"}
METER = bytes.fromhex("0022080000000001")
HUB = bytes.fromhex("0022080000000002")
SLOW = settings(max_examples=20, deadline=None)
FAST = settings(max_examples=60, deadline=None)


def certicom() -> dict:
    return json.loads(need(VECTORS / "cbke-certicom.json").read_text())


def vector(suite: int) -> dict[str, bytes]:
    return {k: bytes.fromhex(v) for k, v in certicom()[VECTOR_KEYS[suite]].items()}


def seeded(seed: int) -> Callable[[int], bytes]:
    return random.Random(seed).randbytes


_AUTHORITIES: dict[int, CertificateAuthority] = {}
_DEVICES: dict[tuple[int, bytes], Credentials] = {}


def authority(suite: int) -> CertificateAuthority:
    if suite not in _AUTHORITIES:
        _AUTHORITIES[suite] = CertificateAuthority.generate(suite, randbytes=seeded(suite))
    return _AUTHORITIES[suite]


def device(suite: int, eui: bytes) -> Credentials:
    if (suite, eui) not in _DEVICES:
        _DEVICES[suite, eui] = authority(suite).enrol(eui, randbytes=seeded(eui[-1] + suite))
    return _DEVICES[suite, eui]


def big_integers(low: int, high: int) -> st.SearchStrategy[int]:
    """Hypothesis favours small and boundary integers; mix in uniform full-length ones."""
    return st.one_of(st.integers(low, high), st.integers(0, 2**32).map(
        lambda seed: random.Random(seed).randint(low, high)))


def run_exchange(u: KeyEstablishment, v: KeyEstablishment) -> None:
    identity_v = v.on_identity(u.initiate())
    ephemeral_v = v.on_ephemeral(u.on_identity(identity_v))
    mac_v = v.confirm(u.on_ephemeral(ephemeral_v))
    assert mac_v is not None and len(mac_v) == 16
    assert u.confirm(mac_v) is None


# -- GF(2^m) ----------------------------------------------------------------------------


def reference_mul(a: int, b: int, curve: KoblitzCurve) -> int:
    """Shift-and-add product, then long division by the field polynomial."""
    f = curve.field
    r = 0
    for i in range(b.bit_length()):
        if b >> i & 1:
            r ^= a << i
    for i in range(r.bit_length() - 1, f.m - 1, -1):
        if r >> i & 1:
            r ^= f.modulus << (i - f.m)
    return r


@pytest.mark.parametrize("curve", [SECT163K1, SECT283K1], ids=lambda c: c.name)
@FAST
@given(data=st.data())
def test_field_arithmetic_matches_shift_and_add(curve: KoblitzCurve, data) -> None:
    f = curve.field
    a, b, c = (data.draw(big_integers(0, (1 << f.m) - 1)) for _ in range(3))
    assert f.mul(a, b) == reference_mul(a, b, curve)
    assert f.sqr(a) == f.mul(a, a)
    assert f.sqr3(a, b, c) == (f.sqr(a), f.sqr(b), f.sqr(c))
    if a:
        assert f.mul(a, f.inv(a)) == 1
    z = f.solve_quadratic(a)
    if z is not None:
        assert f.sqr(z) ^ z == a


def test_field_rejects_zero_inverse_and_wide_bytes() -> None:
    f = SECT163K1.field
    with pytest.raises(ZeroDivisionError):
        f.inv(0)
    assert f.element(b"\xff" * f.byte_length) is None
    assert f.element(f.to_bytes(12345)) == 12345


# -- Z[tau] and TNAF ----------------------------------------------------------------------


@pytest.mark.parametrize("curve", [SECT163K1, SECT283K1], ids=lambda c: c.name)
def test_partial_modulus_has_norm_n(curve: KoblitzCurve) -> None:
    """N(delta) = #E / h = n: checks n, m and a against each other."""
    assert tnaf.norm(curve.delta, curve.mu) == curve.n
    assert curve.is_on_curve(curve.generator)
    assert curve.multiply_reference(curve.n, curve.generator) is None


@pytest.mark.parametrize("mu", [1, -1])
@FAST
@given(k=big_integers(0, 1 << 300), w=st.integers(2, 7))
def test_tnaf_digits_rebuild_the_element(mu: int, k: int, w: int) -> None:
    curve = SECT163K1 if mu == 1 else SECT283K1
    t_w, alphas = tnaf.window(w, mu)
    assert (t_w * t_w + 2 - mu * t_w) % (1 << w) == 0
    rho = tnaf.partial_reduce(k, curve.delta, curve.mu)
    digits = tnaf.tnaf(rho, w, mu)
    total = (0, 0)
    for u in reversed(digits):
        total = tnaf.mul(total, (0, 1), mu)
        if u:
            b0, b1 = alphas[abs(u)]
            total = (total[0] + (b0 if u > 0 else -b0), total[1] + (b1 if u > 0 else -b1))
    assert total == rho
    for i, u in enumerate(digits):
        assert u == 0 or (u % 2 and abs(u) < 1 << (w - 1) and not any(digits[i + 1:i + w]))
    assert len(digits) <= curve.field.m + 4


# -- point arithmetic ---------------------------------------------------------------------

scalar_pairs = st.tuples(big_integers(1, SECT283K1.n - 1), big_integers(1, SECT283K1.n - 1))


@pytest.mark.parametrize("curve", [SECT163K1, SECT283K1], ids=lambda c: c.name)
@SLOW
@given(pair=scalar_pairs)
def test_tnaf_multiplication_equals_double_and_add(curve: KoblitzCurve, pair) -> None:
    a, b = (k % curve.n or 1 for k in pair)
    expected = curve.multiply_reference(a, curve.generator)
    assert curve.multiply(a, curve.generator) == expected
    assert curve.multiply_generator(a) == expected
    point = curve.multiply_generator(b)
    assert curve.multiply(a, point) == curve.multiply_reference(a, point)


@pytest.mark.parametrize("curve", [SECT163K1, SECT283K1], ids=lambda c: c.name)
@SLOW
@given(pair=scalar_pairs)
def test_scalar_multiplication_is_linear(curve: KoblitzCurve, pair) -> None:
    a, b = (k % curve.n or 1 for k in pair)
    g = curve.generator
    assert curve.multiply_generator(a + b) == curve.add(curve.multiply_generator(a),
                                                        curve.multiply_generator(b))
    p = curve.multiply_generator(b)
    assert curve.multiply_two(a, g, b, p) == curve.add(curve.multiply(a, g),
                                                        curve.multiply(b, p))
    assert curve.is_on_curve(curve.multiply(a, p))


@pytest.mark.parametrize("curve", [SECT163K1, SECT283K1], ids=lambda c: c.name)
def test_projective_special_cases(curve: KoblitzCurve) -> None:
    g = curve.generator
    assert curve.multiply_two(1, g, 1, g) == curve.double(g)      # P + P in the adder
    assert curve.multiply_two(1, g, curve.n - 1, g) is None        # P + (-P)
    assert curve.multiply(curve.n, g) is None
    assert curve.multiply(5, None) is None
    assert curve.clear_cofactor((0, 1)) is None                    # the point of order 2
    assert curve.clear_cofactor(g) == curve.multiply_reference(curve.h, g)


@pytest.mark.parametrize("curve", [SECT163K1, SECT283K1], ids=lambda c: c.name)
def test_point_encoding(curve: KoblitzCurve) -> None:
    for k in (1, 2, 3, curve.n - 1, 0xC0FFEE):
        p = curve.multiply_generator(k)
        encoded = curve.encode_point(p)
        assert len(encoded) == curve.point_length
        assert curve.decode_point(encoded) == p
    f = curve.field
    bad = {
        "length": curve.encode_point(curve.generator)[:-1],
        "prefix": b"\x04" + f.to_bytes(curve.generator[0]),
        "wide": b"\x02" + b"\xff" * f.byte_length,
        "order two": b"\x02" + bytes(f.byte_length),
        "off curve": next(b"\x02" + f.to_bytes(x) for x in range(2, 100)
                          if f.solve_quadratic(x ^ curve.a ^ f.sqr(f.inv(x))) is None),
    }
    for name, data in bad.items():
        with pytest.raises(CbkeDecodeError) as error:
            curve.decode_point(data, "ephemeral data", 7)
        assert error.value.field == "ephemeral data", name
        assert error.value.offset in (7, 8), name


# -- AES-MMO, HMAC, install codes ---------------------------------------------------------


def test_mmo_hash_zigbee_vectors() -> None:
    """ZigBee specification C.5.1-C.5.4, including both padding forms."""
    assert mmo_hash(b"\xc0").hex() == "ae3a102a28d43ee0d4a09e22788b206c"
    assert mmo_hash(bytes(range(0xC0, 0xD0))).hex() == "a7977e88bc0b61e8210827109a228f2d"
    assert mmo_hash(bytes(i & 0xFF for i in range(8191))).hex() == \
        "24ec2fe75bbffcb34789bc0610e7f165"
    assert mmo_hash(bytes(i & 0xFF for i in range(8192))).hex() == \
        "dc6b0687f09f8607131c170b3bd31591"


class _MmoHashObject:
    """AES-MMO behind hashlib's interface, so the standard library's HMAC can drive it."""

    digest_size = 16
    block_size = 16

    def __init__(self, data: bytes = b"") -> None:
        self._data = bytes(data)

    def update(self, data: bytes) -> None:
        self._data += data

    def copy(self) -> _MmoHashObject:
        return _MmoHashObject(self._data)

    def digest(self) -> bytes:
        return mmo_hash(self._data)


@FAST
@given(key=st.binary(max_size=40), message=st.binary(max_size=80))
def test_mmo_hmac_is_standard_hmac(key: bytes, message: bytes) -> None:
    standard = hmac.new(key, message, _MmoHashObject)  # type: ignore[arg-type]
    assert mmo_hmac(key, message) == standard.digest()


def test_install_code_link_key() -> None:
    code = bytes.fromhex("83FED3407A939723A5C639B26916D505C3B5")
    assert install_code_link_key(code).hex().upper() == "66B6900981E1EE3CA4206B6B861C02BB"
    with pytest.raises(InstallCodeError, match="CRC"):
        install_code_link_key(code[:-1] + b"\xb4")
    with pytest.raises(InstallCodeError, match="bytes"):
        install_code_link_key(code[1:])
    with pytest.raises(ValueError):
        install_code_link_key(b"")


# -- certificates ---------------------------------------------------------------------------


@pytest.mark.parametrize("suite", SUITES)
def test_certicom_certificates_parse_and_rebuild(suite: int) -> None:
    data = vector(suite)["device_implicit_certificate"]
    cert = Certificate.from_bytes(data)
    assert cert.suite == suite and cert.to_bytes() == data
    assert type(cert).from_bytes(data) == cert
    assert cert.subject == METER
    if suite == 1:
        assert isinstance(cert, Suite1Certificate)
        assert cert.issuer == b"TESTSECA"
        assert cert.profile_attribute_data[:2] == b"\x01\x09"
    else:
        assert isinstance(cert, Suite2Certificate)
        assert cert.issuer == bytes.fromhex("1112131415161718")
        assert (cert.curve, cert.hash_algorithm, cert.key_usage) == (0x0D, 0x08, 0x08)
        assert cert.valid_to == NO_EXPIRY and cert.allows_key_agreement


def test_key_establishment_frame_identity() -> None:
    """The Initiate Key Establishment Response frame carries a suite 1 certificate."""
    frame = bytes.fromhex(certicom()["ke_frame"]["zcl_hex"])
    assert frame[:3] == b"\x09\x03\x00"                   # server to client, TSN 3, command 0
    assert int.from_bytes(frame[3:5], "little") == 1        # crypto suite 1
    assert (frame[5], frame[6]) == (11, 16)                 # generate times, seconds
    cert = Certificate.from_bytes(frame[7:])
    assert isinstance(cert, Suite1Certificate)
    assert cert.subject == b"\xee" * 8 and cert.issuer == b"TESTSECA"
    assert cert.profile_attribute_data == bytes.fromhex("0109000F000000000000")
    key = reconstruct_public_key(frame[7:], vector(1)["ca_public_key"])
    assert SECT163K1.is_on_curve(SECT163K1.decode_point(key))


def test_certificate_errors_point_at_the_field() -> None:
    suite2 = bytearray(Suite2Certificate(METER, b"ISSUERID", b"\x02" + bytes(36)).to_bytes())
    cases = {
        "certificate": (b"\x00" * 50, 0),
        "curve": (suite2[:9] + b"\x0e" + suite2[10:], 9),
        "hash_algorithm": (suite2[:10] + b"\x09" + suite2[11:], 10),
        "reconstruction_point": (suite2[:37] + b"\x05" + suite2[38:], 37),
    }
    for field, (data, offset) in cases.items():
        with pytest.raises(CbkeDecodeError) as error:
            Certificate.from_bytes(bytes(data))
        assert (error.value.field, error.value.offset) == (field, offset)
    with pytest.raises(CbkeDecodeError):
        Suite1Certificate.from_bytes(bytes(suite2))
    with pytest.raises(CbkeError):
        Suite1Certificate(METER[:7], b"ISSUERID", b"\x02" + bytes(21))
    with pytest.raises(CbkeError):
        Suite2Certificate(METER, b"ISSUERID", b"\x02" + bytes(36), valid_to=1 << 32)


# -- ECQV against the Certicom vectors ------------------------------------------------------


@pytest.mark.parametrize("suite", SUITES)
def test_certicom_public_key_reconstruction(suite: int) -> None:
    v = vector(suite)
    curve = CURVES[suite]
    expected = v["device_public_key"]
    assert reconstruct_public_key(v["device_implicit_certificate"], v["ca_public_key"]) == expected
    assert public_key(v["private_key_reconstruction_data"], suite) == expected
    private = int.from_bytes(v["private_key_reconstruction_data"], "big")
    point = curve.decode_point(expected)
    assert curve.multiply_reference(private, curve.generator) == point
    for key in (expected, v["ca_public_key"]):
        p = curve.decode_point(key)
        assert curve.is_on_curve(p) and curve.multiply_reference(curve.n, p) is None


def test_ecqv_input_errors() -> None:
    v = vector(2)
    order_four = Suite2Certificate(METER, b"ISSUERID", b"\x02" + (1).to_bytes(36, "big"))
    with pytest.raises(CbkeDecodeError, match="small order") as error:
        reconstruct_public_key(order_four.to_bytes(), v["ca_public_key"])
    assert (error.value.field, error.value.offset) == ("reconstruction_point", 37)
    with pytest.raises(CbkeDecodeError, match="37 bytes"):
        reconstruct_public_key(v["device_implicit_certificate"], vector(1)["ca_public_key"])
    with pytest.raises(CbkeDecodeError):
        public_key(v["private_key_reconstruction_data"][1:], 2)
    with pytest.raises(CbkeDecodeError):
        public_key(bytes(36), 2)
    with pytest.raises(CbkeError):
        public_key(bytes(21), 3)


# -- the test CA -------------------------------------------------------------------------------


@pytest.mark.parametrize("suite", SUITES)
def test_ca_issues_certificates_whose_keys_reconstruct(suite: int) -> None:
    ca = authority(suite)
    creds = device(suite, METER)
    cert = Certificate.from_bytes(creds.certificate)
    assert creds.suite == suite and cert.subject == METER and cert.issuer == ca.issuer
    assert reconstruct_public_key(creds.certificate, ca.public_key) == \
        public_key(creds.private_key, suite)
    request = CertificateRequest.create(suite, seeded(99))
    certificate, contribution = ca.issue(request.point, HUB, randbytes=seeded(100))
    other = CertificateAuthority.generate(suite, randbytes=seeded(101))
    with pytest.raises(CbkeError, match="does not match"):
        request.accept(certificate, contribution, other.public_key)
    assert request.accept(certificate, contribution, ca.public_key).certificate == certificate


def test_ca_certificate_fields() -> None:
    request = CertificateRequest.create(2, seeded(10))
    certificate, _ = authority(2).issue(request.point, HUB, randbytes=seeded(11),
                                        valid_from=0x5B7ED230, valid_to=86400 * 365)
    cert = Certificate.from_bytes(certificate)
    assert isinstance(cert, Suite2Certificate)
    assert (cert.valid_from, cert.valid_to, cert.issuer) == (0x5B7ED230, 86400 * 365, b"SMETSLAB")
    request = CertificateRequest.create(1, seeded(12))
    profile = bytes.fromhex("0109000F000000000000")
    certificate, _ = authority(1).issue(request.point, HUB, profile_attribute_data=profile)
    cert = Certificate.from_bytes(certificate)
    assert isinstance(cert, Suite1Certificate) and cert.profile_attribute_data == profile


def test_ca_is_deterministic_with_a_seeded_source() -> None:
    a = CertificateAuthority.generate(1, randbytes=seeded(7)).enrol(METER, randbytes=seeded(8))
    b = CertificateAuthority.generate(1, randbytes=seeded(7)).enrol(METER, randbytes=seeded(8))
    assert a == b
    with pytest.raises(CbkeError):
        CertificateAuthority.generate(1, issuer=b"SHORT")


# -- key establishment --------------------------------------------------------------------------


@pytest.mark.parametrize("suite", SUITES)
def test_two_devices_agree_on_a_link_key(suite: int) -> None:
    u = KeyEstablishment(Role.INITIATOR, device(suite, HUB))
    v = KeyEstablishment(Role.RESPONDER, device(suite, METER))
    run_exchange(u, v)
    assert u.state is v.state is State.ESTABLISHED
    assert len(u.link_key) == 16 and u.link_key == v.link_key
    assert u.peer_certificate is not None and u.peer_certificate.subject == METER
    assert v.peer_certificate is not None and v.peer_certificate.subject == HUB


@pytest.mark.parametrize("suite", SUITES)
def test_certicom_device_establishes_with_itself(suite: int) -> None:
    """Credentials issued outside the project drive a full exchange (both sides)."""
    v = vector(suite)
    creds = Credentials(v["device_implicit_certificate"], v["private_key_reconstruction_data"],
                        v["ca_public_key"])
    u, w = KeyEstablishment(Role.INITIATOR, creds), KeyEstablishment(Role.RESPONDER, creds)
    run_exchange(u, w)
    assert u.link_key == w.link_key


def test_exchange_is_deterministic_with_seeded_randomness() -> None:
    keys = []
    for _ in range(2):
        u = KeyEstablishment(Role.INITIATOR, device(1, HUB), randbytes=seeded(1))
        v = KeyEstablishment(Role.RESPONDER, device(1, METER), randbytes=seeded(2))
        run_exchange(u, v)
        keys.append(u.link_key)
    assert keys[0] == keys[1]


def test_associate_value_keeps_half_the_bits() -> None:
    assert associate_value(SECT163K1, (0, 0)) == 1 << 82
    assert associate_value(SECT283K1, ((1 << 283) - 1, 0)) == (1 << 142) - 1


@pytest.mark.parametrize("suite", SUITES)
def test_tampered_certificate_fails_key_confirmation(suite: int) -> None:
    """ECQV refuses nothing up front: a changed subject gives another key, caught by MACU."""
    u = KeyEstablishment(Role.INITIATOR, device(suite, HUB))
    v = KeyEstablishment(Role.RESPONDER, device(suite, METER))
    identity = bytearray(u.initiate())
    subject = Certificate.from_bytes(bytes(identity)).offset_of("subject")
    identity[subject + 7] ^= 0x01
    ephemeral_u = u.on_identity(v.on_identity(bytes(identity)))
    mac_u = u.on_ephemeral(v.on_ephemeral(ephemeral_u))
    with pytest.raises(KeyEstablishmentError) as error:
        v.confirm(mac_u)
    assert error.value.status is KeyEstablishmentStatus.BAD_KEY_CONFIRM
    assert v.state is State.FAILED


def test_wrong_mac_and_wrong_ca_key_fail_key_confirmation() -> None:
    u = KeyEstablishment(Role.INITIATOR, device(1, HUB))
    v = KeyEstablishment(Role.RESPONDER, device(1, METER))
    ephemeral_v = v.on_ephemeral(u.on_identity(v.on_identity(u.initiate())))
    mac_v = v.confirm(u.on_ephemeral(ephemeral_v))
    assert mac_v is not None
    with pytest.raises(KeyEstablishmentError) as error:
        u.confirm(bytes([mac_v[0] ^ 0x80]) + mac_v[1:])
    assert error.value.status is KeyEstablishmentStatus.BAD_KEY_CONFIRM
    with pytest.raises(KeyEstablishmentError):
        _ = u.link_key

    # a rogue CA reusing the issuer id: the certificate parses, the keys do not agree
    rogue = CertificateAuthority.generate(1, issuer=authority(1).issuer, randbytes=seeded(66))
    u = KeyEstablishment(Role.INITIATOR, rogue.enrol(HUB, randbytes=seeded(67)))
    v = KeyEstablishment(Role.RESPONDER, device(1, METER))
    with pytest.raises(KeyEstablishmentError) as error:
        run_exchange(u, v)
    assert error.value.status is KeyEstablishmentStatus.BAD_KEY_CONFIRM


def test_refusals_carry_terminate_status() -> None:
    def refusal(responder: Credentials, identity: bytes) -> KeyEstablishmentStatus:
        v = KeyEstablishment(Role.RESPONDER, responder)
        with pytest.raises(KeyEstablishmentError) as error:
            v.on_identity(identity)
        assert v.state is State.FAILED
        return error.value.status

    meter = device(2, METER)
    stranger = CertificateAuthority.generate(2, issuer=b"STRANGER", randbytes=seeded(5))
    signer_only = authority(2).enrol(HUB, randbytes=seeded(6),
                                   key_usage=KEY_USAGE_DIGITAL_SIGNATURE)
    assert refusal(meter, stranger.enrol(HUB, randbytes=seeded(4)).certificate) is \
        KeyEstablishmentStatus.UNKNOWN_ISSUER
    assert refusal(meter, signer_only.certificate) is KeyEstablishmentStatus.INVALID_KEY_USAGE
    assert refusal(meter, device(1, HUB).certificate) is KeyEstablishmentStatus.UNSUPPORTED_SUITE
    assert refusal(meter, b"\x00" * 74) is KeyEstablishmentStatus.BAD_MESSAGE
    order_four = b"\x02" + (1).to_bytes(36, "big")
    small = Suite2Certificate(HUB, authority(2).issuer, order_four).to_bytes()
    assert refusal(meter, small) is KeyEstablishmentStatus.BAD_MESSAGE


def test_protocol_order_and_malformed_ephemeral_data() -> None:
    u = KeyEstablishment(Role.INITIATOR, device(1, HUB))
    with pytest.raises(KeyEstablishmentError) as error:
        u.on_ephemeral(bytes(22))
    assert error.value.status is KeyEstablishmentStatus.BAD_MESSAGE
    assert u.state is State.FAILED

    v = KeyEstablishment(Role.RESPONDER, device(1, METER))
    with pytest.raises(KeyEstablishmentError):
        v.initiate()

    u = KeyEstablishment(Role.INITIATOR, device(1, HUB))
    v = KeyEstablishment(Role.RESPONDER, device(1, METER))
    u.on_identity(v.on_identity(u.initiate()))
    with pytest.raises(KeyEstablishmentError) as error:
        v.on_ephemeral(b"\x02" + bytes(21))
    assert error.value.status is KeyEstablishmentStatus.BAD_MESSAGE

    u = KeyEstablishment(Role.INITIATOR, device(2, HUB))
    v = KeyEstablishment(Role.RESPONDER, device(2, METER))
    u.on_identity(v.on_identity(u.initiate()))
    with pytest.raises(KeyEstablishmentError, match="small order") as error:
        v.on_ephemeral(b"\x02" + (1).to_bytes(36, "big"))         # a point of order 4
    assert error.value.status is KeyEstablishmentStatus.BAD_MESSAGE
