"""What a device knows of itself and of the remote parties it trusts.

A device holds its own Device ID (EUI-64) and private keys, and, per remote party role,
the trust anchor it was given: that party's entity id and its digital-signing (DS) and
key-agreement (KA) public keys. Every check of an inbound command and every response or
alert the device builds uses only these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from gbcs.crypto import PrivateKey, PublicKey


class Role(str, Enum):
    """GBCS remote party roles (RemotePartyRole names) a device holds trust anchors for."""

    ROOT = "root"
    RECOVERY = "recovery"
    SUPPLIER = "supplier"
    NETWORK_OPERATOR = "networkOperator"
    ACCESS_CONTROL_BROKER = "accessControlBroker"
    TRANSITIONAL_COS = "transitionalCoS"
    WAN_PROVIDER = "wanProvider"
    LOAD_CONTROLLER = "loadController"
    OTHER = "other"


class CredentialsError(ValueError):
    """A trust anchor or device credential that cannot be used as given."""


@dataclass(frozen=True)
class TrustAnchor:
    """One remote party as the device knows it; a role may lack a DS or KA key
    (the ACB's certificate is KA, the Recovery's DS)."""

    role: Role
    eui: bytes
    ds: PublicKey | None = None
    ka: PublicKey | None = None

    def __post_init__(self) -> None:
        if len(self.eui) != 8:
            raise CredentialsError(f"{self.role.value} trust anchor: entity id must be "
                                   f"8 bytes, got {len(self.eui)}")


@dataclass
class TrustAnchors:
    """The device's trust anchors, one per role (replacing a role replaces its anchor)."""

    anchors: dict[Role, TrustAnchor] = field(default_factory=dict)

    def set(self, anchor: TrustAnchor) -> None:
        self.anchors[anchor.role] = anchor

    def get(self, role: Role) -> TrustAnchor | None:
        return self.anchors.get(role)

    def by_eui(self, eui: bytes) -> list[TrustAnchor]:
        """Every anchor with this entity id (one party may hold several roles)."""
        return [a for a in self.anchors.values() if a.eui == eui]


@dataclass(frozen=True)
class DeviceCredentials:
    """The device's own identity and private keys, with its SMKI device certificates
    (DER) when it has been issued them (CS02e answers with them)."""

    eui: bytes
    ds: PrivateKey
    ka: PrivateKey
    ds_certificate: bytes | None = None
    ka_certificate: bytes | None = None

    def __post_init__(self) -> None:
        if len(self.eui) != 8:
            raise CredentialsError(f"device id must be 8 bytes, got {len(self.eui)}")
