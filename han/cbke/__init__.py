"""ZigBee Smart Energy Certificate-Based Key Establishment (CBKE), crypto suites 1 and 2.

Pure Python: GF(2^m) and Koblitz-curve arithmetic (sect163k1, sect283k1), AES-MMO,
ECQV implicit certificates and a test CA, ECMQV with the ZSE KDF and key confirmation,
and `KeyEstablishment`, one side of the exchange the Key Establishment cluster carries.
"""

from han.cbke.ca import CertificateAuthority
from han.cbke.certificate import Certificate, Suite1Certificate, Suite2Certificate
from han.cbke.ecqv import CertificateRequest, Credentials, public_key, reconstruct_public_key
from han.cbke.errors import (
    CbkeDecodeError, CbkeError, InstallCodeError, KeyEstablishmentError, KeyEstablishmentStatus)
from han.cbke.exchange import KeyEstablishment, Role, State
from han.cbke.mmo import install_code_link_key, mmo_hash, mmo_hmac

__all__ = [
    "CbkeDecodeError", "CbkeError", "Certificate", "CertificateAuthority",
    "CertificateRequest", "Credentials", "InstallCodeError", "KeyEstablishment",
    "KeyEstablishmentError", "KeyEstablishmentStatus", "Role", "State", "Suite1Certificate",
    "Suite2Certificate", "install_code_link_key", "mmo_hash", "mmo_hmac", "public_key",
    "reconstruct_public_key",
]
