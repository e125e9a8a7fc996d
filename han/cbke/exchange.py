"""One side of a Certificate-Based Key Establishment, as the Key Establishment cluster
(0x0800) drives it. Each method takes the payload of a received command and returns the
payload of the command to send next, so the cluster only adds ZCL framing:

    initiator (client, U)                            responder (server, V)
    initiate()            -> Identity       ─InitiateKeyEstablishmentRequest─►
                                                     on_identity(U's cert) -> Identity
    on_identity(V's cert) -> EphemeralData  ◄─InitiateKeyEstablishmentResponse─
                                            ─EphemeralDataRequest─►
                                                     on_ephemeral(QE_U) -> EphemeralData
    on_ephemeral(QE_V)    -> MACU           ◄─EphemeralDataResponse─
                                            ─ConfirmKeyDataRequest─►
                                                     confirm(MACU) -> MACV
    confirm(MACV)         -> None           ◄─ConfirmKeyDataResponse─

Identity is the certificate (48 or 74 bytes), EphemeralData a compressed point (22 or 37),
the MACs 16 bytes. Afterwards both sides hold the same `link_key`. Any refusal raises
`KeyEstablishmentError` whose status goes into Terminate Key Establishment, and the
exchange is then over.
"""

from __future__ import annotations

import hmac
import os
from enum import Enum

from han.cbke import ecmqv, ecqv
from han.cbke.certificate import Certificate
from han.cbke.curves import RandomBytes, curve_for_suite
from han.cbke.ecqv import Credentials
from han.cbke.errors import CbkeError, KeyEstablishmentError
from han.cbke.errors import KeyEstablishmentStatus as Status

MAC_LENGTH = 16


class Role(Enum):
    """The initiator is the cluster's client (U in the MACs), the responder its server (V)."""

    INITIATOR = "initiator"
    RESPONDER = "responder"


class State(Enum):
    """Where an exchange stands: which received payload it expects next, or how it ended."""

    IDLE = "idle"
    WAIT_IDENTITY = "wait_identity"
    WAIT_EPHEMERAL = "wait_ephemeral"
    WAIT_CONFIRM = "wait_confirm"
    ESTABLISHED = "established"
    FAILED = "failed"


class KeyEstablishment:
    """The state of one CBKE exchange on one device, initiator or responder."""

    def __init__(self, role: Role, credentials: Credentials, *,
                 randbytes: RandomBytes = os.urandom) -> None:
        self.role = role
        self.certificate = Certificate.from_bytes(credentials.certificate)
        self.suite = self.certificate.suite
        self.curve = curve_for_suite(self.suite)
        self._identity = credentials.certificate
        self._private = self.curve.decode_scalar(credentials.private_key)
        self._ca_point = self.curve.decode_point(credentials.ca_public_key, "ca_public_key")
        self._randbytes = randbytes
        self.state = State.WAIT_IDENTITY if role is Role.RESPONDER else State.IDLE
        self.peer_certificate: Certificate | None = None
        self._peer_point: tuple[int, int] | None = None
        self._ephemeral_private = 0
        self._ephemeral_point: tuple[int, int] | None = None
        self._ephemeral = b""
        self._peer_ephemeral = b""
        self._mac_key = b""
        self._link_key = b""

    @property
    def link_key(self) -> bytes:
        """The 16-byte APS link key, once the peer's MAC has been checked."""
        if self.state is not State.ESTABLISHED:
            raise KeyEstablishmentError(Status.BAD_MESSAGE,
                                        f"no link key in state {self.state.value}")
        return self._link_key

    def initiate(self) -> bytes:
        """Initiator: the Identity for Initiate Key Establishment Request."""
        self._expect(Role.INITIATOR, State.IDLE)
        self.state = State.WAIT_IDENTITY
        return self._identity

    def on_identity(self, peer_identity: bytes) -> bytes:
        """Check the peer's certificate and reconstruct its public key.

        Returns, for the responder, its Identity for the Initiate Key Establishment
        Response; for the initiator, its EphemeralData for the Ephemeral Data Request.
        """
        self._expect(self.role, State.WAIT_IDENTITY)
        try:
            peer = Certificate.from_bytes(peer_identity)
        except CbkeError as exc:
            raise self._fail(Status.BAD_MESSAGE, f"peer certificate: {exc}") from exc
        if peer.suite != self.suite:
            raise self._fail(Status.UNSUPPORTED_SUITE,
                             f"peer certificate is suite {peer.suite}, "
                             f"this side suite {self.suite}")
        if peer.issuer != self.certificate.issuer:
            raise self._fail(Status.UNKNOWN_ISSUER,
                             f"peer certificate issuer {peer.issuer.hex().upper()} is not "
                             f"{self.certificate.issuer.hex().upper()}")
        if not peer.allows_key_agreement:
            raise self._fail(Status.INVALID_KEY_USAGE,
                             "peer certificate does not allow key agreement")
        try:
            self._peer_point = ecqv.reconstruct(peer, self._ca_point)
        except CbkeError as exc:
            raise self._fail(Status.BAD_MESSAGE, f"peer certificate: {exc}") from exc
        self.peer_certificate = peer
        self.state = State.WAIT_EPHEMERAL
        if self.role is Role.RESPONDER:
            return self._identity
        return self._new_ephemeral()

    def on_ephemeral(self, peer_ephemeral: bytes) -> bytes:
        """Take the peer's ephemeral key and derive MacKey and the link key.

        Returns, for the responder, its EphemeralData for the Ephemeral Data Response;
        for the initiator, MACU for the Confirm Key Data Request.
        """
        self._expect(self.role, State.WAIT_EPHEMERAL)
        try:
            peer_point = self.curve.decode_point(peer_ephemeral, "ephemeral data")
        except CbkeError as exc:
            raise self._fail(Status.BAD_MESSAGE, str(exc)) from exc
        if self.role is Role.RESPONDER:
            self._new_ephemeral()
        assert self._peer_point is not None and self._ephemeral_point is not None
        try:
            z = ecmqv.shared_secret(self.curve, self._private, self._ephemeral_private,
                                    self._ephemeral_point, self._peer_point, peer_point)
        except CbkeError as exc:
            raise self._fail(Status.BAD_MESSAGE, str(exc)) from exc
        self._peer_ephemeral = peer_ephemeral
        self._mac_key, self._link_key = ecmqv.derive_keys(z)
        self.state = State.WAIT_CONFIRM
        if self.role is Role.RESPONDER:
            return self._ephemeral
        return self._mac(ecmqv.MAC_TAG_INITIATOR)

    def confirm(self, peer_mac: bytes) -> bytes | None:
        """Check the peer's MAC; the link key is then established.

        Returns, for the responder, MACV for the Confirm Key Data Response; for the
        initiator None, as nothing follows.
        """
        self._expect(self.role, State.WAIT_CONFIRM)
        initiator = self.role is Role.INITIATOR
        expected = self._mac(ecmqv.MAC_TAG_RESPONDER if initiator else ecmqv.MAC_TAG_INITIATOR)
        if len(peer_mac) != MAC_LENGTH or not hmac.compare_digest(peer_mac, expected):
            raise self._fail(Status.BAD_KEY_CONFIRM,
                             f"{'MACV' if initiator else 'MACU'} does not match")
        self.state = State.ESTABLISHED
        return None if initiator else self._mac(ecmqv.MAC_TAG_RESPONDER)

    def _new_ephemeral(self) -> bytes:
        self._ephemeral_private = self.curve.random_scalar(self._randbytes)
        self._ephemeral_point = self.curve.multiply_generator(self._ephemeral_private)
        self._ephemeral = self.curve.encode_point(self._ephemeral_point)
        return self._ephemeral

    def _mac(self, tag: int) -> bytes:
        """MACU (tag 02, initiator's values first) or MACV (tag 03, responder's first)."""
        assert self.peer_certificate is not None
        own = (self.certificate.subject, self._ephemeral)
        peer = (self.peer_certificate.subject, self._peer_ephemeral)
        initiator_first = tag == ecmqv.MAC_TAG_INITIATOR
        first, second = (own, peer) if (self.role is Role.INITIATOR) == initiator_first \
            else (peer, own)
        return ecmqv.confirmation_mac(self._mac_key, tag, first[0], second[0],
                                      first[1], second[1])

    def _expect(self, role: Role, state: State) -> None:
        if self.role is not role or self.state is not state:
            raise self._fail(Status.BAD_MESSAGE,
                             f"unexpected step for the {self.role.value} in state "
                             f"{self.state.value}")

    def _fail(self, status: Status, message: str) -> KeyEstablishmentError:
        self.state = State.FAILED
        return KeyEstablishmentError(status, message)
