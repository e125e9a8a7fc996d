"""ECQV implicit certificates (SEC 4) as ZSE uses them, and a device's credentials.

An implicit certificate carries no signature: it carries a reconstruction point P, and
anyone holding the CA's public key Q_CA derives the subject's public key as
Q = e·P + Q_CA with e = AES-MMO(certificate) read as a big-endian integer. Only the CA
could have made a P for which the subject knows d with d·G = Q, so a tampered certificate
is not refused here: it yields a different key, and key confirmation then fails.

Issuing (see `ca.py`): the device picks k_U and sends R_U = k_U·G; the CA picks k, puts
P = R_U + k·G in the certificate and returns r = e·k + d_CA mod n; the device's private key
is d = e·k_U + r mod n.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from han.cbke.certificate import Certificate
from han.cbke.curves import RandomBytes, curve_for_suite
from han.cbke.errors import CbkeDecodeError, CbkeError
from han.cbke.mmo import mmo_hash


def certificate_hash(certificate: bytes) -> int:
    """e: the certificate's AES-MMO digest as an integer (128 bits, below either n)."""
    return int.from_bytes(mmo_hash(certificate), "big")


def reconstruct(certificate: Certificate, ca_point: tuple[int, int]) -> tuple[int, int]:
    """The subject's public key point e·P + Q_CA.

    P must be on the curve and not of small order. A P that merely has a small-order
    component, which no honest CA issues, gives a key off by a small-order point (as
    `multiply` assumes the order-n subgroup); the cofactor in ECMQV removes it.
    """
    curve = curve_for_suite(certificate.suite)
    field = "reconstruction_point"
    offset = certificate.offset_of(field)
    p = curve.decode_point(certificate.reconstruction_point, field, offset)
    if curve.clear_cofactor(p) is None:
        raise CbkeDecodeError("the reconstruction point has small order", offset, field)
    e = certificate_hash(certificate.to_bytes())
    q = curve.add(curve.multiply(e, p), ca_point)
    if q is None:
        raise CbkeError("the reconstructed public key is the point at infinity")
    return q


def reconstruct_public_key(certificate: bytes, ca_public_key: bytes) -> bytes:
    """The compressed public key of a certificate's subject, from the CA's public key."""
    parsed = Certificate.from_bytes(certificate)
    curve = curve_for_suite(parsed.suite)
    ca_point = curve.decode_point(ca_public_key, "ca_public_key")
    return curve.encode_point(reconstruct(parsed, ca_point))


def public_key(private_key: bytes, suite: int) -> bytes:
    """The compressed public key d·G of a private key (21 bytes suite 1, 36 bytes suite 2)."""
    curve = curve_for_suite(suite)
    point = curve.multiply_generator(curve.decode_scalar(private_key))
    return curve.encode_point(point)


@dataclass(frozen=True)
class Credentials:
    """What a device holds for CBKE: its certificate, private key and its CA's public key."""

    certificate: bytes
    private_key: bytes
    ca_public_key: bytes

    @property
    def suite(self) -> int:
        return Certificate.from_bytes(self.certificate).suite


@dataclass(frozen=True)
class CertificateRequest:
    """The device's half of issuing: its secret k_U and the point R_U = k_U·G it sends."""

    suite: int
    secret: int
    point: bytes

    @classmethod
    def create(cls, suite: int, randbytes: RandomBytes = os.urandom) -> CertificateRequest:
        curve = curve_for_suite(suite)
        secret = curve.random_scalar(randbytes)
        return cls(suite, secret, curve.encode_point(curve.multiply_generator(secret)))

    def accept(self, certificate: bytes, contribution: bytes, ca_public_key: bytes
               ) -> Credentials:
        """The device's private key d = e·k_U + r, checked against the certificate.

        Raises `CbkeError` when d·G is not the key the certificate reconstructs to,
        which is what a wrong CA key or a certificate for another request gives.
        """
        parsed = Certificate.from_bytes(certificate)
        if parsed.suite != self.suite:
            raise CbkeDecodeError(f"a suite {parsed.suite} certificate for a suite "
                                  f"{self.suite} request", 0, "certificate")
        curve = curve_for_suite(self.suite)
        r = curve.decode_scalar(contribution, "private key reconstruction data")
        d = (certificate_hash(certificate) * self.secret + r) % curve.n
        expected = reconstruct(parsed, curve.decode_point(ca_public_key, "ca_public_key"))
        if d == 0 or curve.multiply_generator(d) != expected:
            raise CbkeError("the certificate does not match this request and CA key")
        return Credentials(certificate, curve.encode_scalar(d), ca_public_key)

