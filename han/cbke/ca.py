"""A test certificate authority that issues ZSE implicit certificates to emulated devices.

Real SMETS2 devices get their ZSE certificates from the SMKI; the lab needs its own CA so
that every emulated device (and any test) can hold a certificate, its private key and the
CA's public key that a peer will trust. Issuing runs the ECQV protocol for real (request
point from the device, CA contribution, private key reconstructed and checked on the
device side), so the CA never sees a device's private key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from han.cbke.certificate import (
    KEY_USAGE_KEY_AGREEMENT, NO_EXPIRY, ZSE_PROFILE_ID, Certificate, Suite1Certificate,
    Suite2Certificate)
from han.cbke.curves import RandomBytes, curve_for_suite
from han.cbke.ecqv import CertificateRequest, Credentials, certificate_hash
from han.cbke.errors import CbkeError

DEFAULT_ISSUER = b"SMETSLAB"


@dataclass(frozen=True)
class CertificateAuthority:
    """A CA key pair for one crypto suite and the 8-byte issuer id its certificates carry."""

    suite: int
    issuer: bytes
    private_key: bytes
    public_key: bytes

    @classmethod
    def generate(cls, suite: int, issuer: bytes = DEFAULT_ISSUER,
                 randbytes: RandomBytes = os.urandom) -> CertificateAuthority:
        if len(issuer) != 8:
            raise CbkeError(f"an issuer id is 8 bytes, not {len(issuer)}")
        curve = curve_for_suite(suite)
        d = curve.random_scalar(randbytes)
        return cls(suite, issuer, curve.encode_scalar(d),
                   curve.encode_point(curve.multiply_generator(d)))

    def issue(self, request_point: bytes, subject: bytes, *,
              randbytes: RandomBytes = os.urandom, valid_from: int = 0,
              valid_to: int = NO_EXPIRY, key_usage: int = KEY_USAGE_KEY_AGREEMENT,
              profile_attribute_data: bytes = ZSE_PROFILE_ID + bytes(8),
              ) -> tuple[bytes, bytes]:
        """Certify the request point R_U for `subject` (an EUI-64, big-endian).

        Returns the certificate and the private-key reconstruction data r = e·k + d_CA;
        validity and key usage apply to suite 2, profile attribute data to suite 1.
        """
        curve = curve_for_suite(self.suite)
        request = curve.decode_point(request_point, "request_point")
        d_ca = curve.decode_scalar(self.private_key, "CA private key")
        while True:
            k = curve.random_scalar(randbytes)
            point = curve.add(request, curve.multiply_generator(k))
            if point is not None:
                break
        reconstruction = curve.encode_point(point)
        certificate: Certificate
        if self.suite == 1:
            certificate = Suite1Certificate(subject, self.issuer, reconstruction,
                                            profile_attribute_data)
        else:
            certificate = Suite2Certificate(subject, self.issuer, reconstruction,
                                            serial=randbytes(8), valid_from=valid_from,
                                            valid_to=valid_to, key_usage=key_usage)
        encoded = certificate.to_bytes()
        r = (certificate_hash(encoded) * k + d_ca) % curve.n
        return encoded, curve.encode_scalar(r)

    def enrol(self, subject: bytes, *, randbytes: RandomBytes = os.urandom,
              key_usage: int = KEY_USAGE_KEY_AGREEMENT) -> Credentials:
        """Run the whole ECQV issue for an emulated device and return what it will hold."""
        request = CertificateRequest.create(self.suite, randbytes)
        certificate, contribution = self.issue(request.point, subject, randbytes=randbytes,
                                               key_usage=key_usage)
        return request.accept(certificate, contribution, self.public_key)
