"""The ZSE Key Establishment cluster (0x0800): CBKE between two nodes over the air.

The client (initiator) and the server (responder) exchange Initiate Key Establishment,
Ephemeral Data and Confirm Key Data, request then response, each a ZCL cluster command
carried with NWK security only (the link key is what the exchange makes); the cryptography
is `han.cbke.KeyEstablishment`. The field sizes follow the suite the Initiate negotiated
(suite 1: identity 48, ephemeral data 22; suite 2: 74 and 37; MACs 16), which is why the
payloads are coded here rather than from the cluster's fixed suite-1 schema. A refusal
sends Terminate Key Establishment with the ZSE status (UNKNOWN_ISSUER, BAD_KEY_CONFIRM,
BAD_MESSAGE, NO_RESOURCES, UNSUPPORTED_SUITE, INVALID_KEY_USAGE); a peer silent past the
generate time it announced ends the exchange as timed out. On success both nodes install
the new APS link key for each other.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import IntEnum
from typing import Any

import zigpy.types as t
from zigpy.zcl import foundation
from zigpy.zcl.foundation import Direction, ZCLHeader

from han.cbke.curves import RandomBytes
from han.cbke.ecqv import Credentials
from han.cbke.errors import KeyEstablishmentError
from han.cbke.errors import KeyEstablishmentStatus as Status
from han.cbke.exchange import KeyEstablishment, Role
from han.radio.aps_layer import ApsIndication, Endpoint
from han.radio.node import Node
from han.zcl.errors import ZIGPY_ERRORS
from han.zcl.server import ClusterServer

KEY_ESTABLISHMENT = 0x0800
SUITE_BITS = {1: 0x0001, 2: 0x0002}
IDENTITY_LENGTH = {1: 48, 2: 74}
EPHEMERAL_LENGTH = {1: 22, 2: 37}
MAC_LENGTH = 16
GENERATE_TIME = 10        # seconds this side announces for ephemeral data and confirm key
TRANSIT_MARGIN = timedelta(seconds=2)
WAIT_TIME = 10            # seconds a busy responder asks the initiator to wait
ATTR_SUITE = 0x0000       # KeyEstablishmentSuite (server)


class Command(IntEnum):
    """Command ids, the same in both directions."""

    INITIATE = 0x00
    EPHEMERAL_DATA = 0x01
    CONFIRM_KEY = 0x02
    TERMINATE = 0x03


@dataclass(frozen=True)
class Outcome:
    """How an exchange ended: `status` SUCCESS with the link key, a Terminate status
    (sent or received), or None when the peer timed out."""

    peer: int | None
    status: Status | None
    link_key: bytes | None = None
    sent_by_peer: bool = False


def _suite_of(bits: int) -> int:
    suites = [s for s, b in SUITE_BITS.items() if b == bits]
    if len(suites) != 1:
        raise KeyEstablishmentError(Status.UNSUPPORTED_SUITE,
                                    f"suite bitmap 0x{bits:04X} names no single known suite")
    return suites[0]


def _frame(direction: Direction, tsn: int, command: Command, payload: bytes) -> bytes:
    control = foundation.FrameControl.cluster(direction).replace(disable_default_response=True)
    header = ZCLHeader(frame_control=control, tsn=t.uint8_t(tsn),
                       command_id=t.uint8_t(command))
    return header.serialize() + payload


def encode_initiate(direction: Direction, tsn: int, suite: int, identity: bytes,
                    ephemeral_time: int = GENERATE_TIME,
                    confirm_time: int = GENERATE_TIME) -> bytes:
    return _frame(direction, tsn, Command.INITIATE, SUITE_BITS[suite].to_bytes(2, "little")
                  + bytes([ephemeral_time, confirm_time]) + identity)


def encode_terminate(direction: Direction, tsn: int, status: Status, suite_bits: int,
                     wait_time: int = WAIT_TIME) -> bytes:
    return _frame(direction, tsn, Command.TERMINATE,
                  bytes([status, wait_time]) + suite_bits.to_bytes(2, "little"))


def decode_initiate(body: bytes) -> tuple[int, int, int, bytes]:
    """(suite, ephemeral time, confirm time, identity) of an Initiate request/response."""
    if len(body) < 4:
        raise KeyEstablishmentError(Status.BAD_MESSAGE, f"Initiate is {len(body)} bytes")
    suite = _suite_of(int.from_bytes(body[:2], "little"))
    identity = body[4:]
    if len(identity) != IDENTITY_LENGTH[suite]:
        raise KeyEstablishmentError(Status.BAD_MESSAGE,
                                    f"suite {suite} identity is {IDENTITY_LENGTH[suite]} "
                                    f"bytes, got {len(identity)}")
    return suite, body[2], body[3], identity


def _exact(body: bytes, length: int, what: str) -> bytes:
    if len(body) != length:
        raise KeyEstablishmentError(Status.BAD_MESSAGE,
                                    f"{what} is {length} bytes, got {len(body)}")
    return body


@dataclass
class _Session:
    role: Role
    peer: int                    # short address
    peer_endpoint: int
    suite: int
    exchange: KeyEstablishment
    on_done: Callable[[Outcome], None] | None
    tsn: int
    peer_eui: int | None = None
    timer: Any = None


class KeyEstablishmentCluster:
    """Key Establishment client and server on one endpoint of a node. `credentials` maps
    each crypto suite the device supports to its certificate and keys."""

    def __init__(self, node: Node, endpoint: Endpoint, credentials: Mapping[int, Credentials],
                 *, randbytes: RandomBytes = os.urandom,
                 on_established: Callable[[Outcome], None] | None = None) -> None:
        if not credentials:
            raise ValueError("Key Establishment needs credentials for at least one suite")
        self.node = node
        self.endpoint = endpoint
        self.credentials = dict(credentials)
        self.randbytes = randbytes
        self.on_established = on_established
        self.session: _Session | None = None
        self.outcomes: list[Outcome] = []
        self.suite_bits = sum(SUITE_BITS[s] for s in self.credentials)
        self._attributes = ClusterServer(KEY_ESTABLISHMENT, {ATTR_SUITE: self.suite_bits})
        self._tsn = 0
        endpoint.server_clusters[KEY_ESTABLISHMENT] = self._on_server
        endpoint.client_clusters[KEY_ESTABLISHMENT] = self._on_client

    # -- starting ---------------------------------------------------------------------------

    def initiate(self, destination: int, destination_endpoint: int,
                 on_done: Callable[[Outcome], None] | None = None, *,
                 suite: int | None = None) -> None:
        """Start CBKE as the client with the node at `destination` (the trust centre)."""
        suite = suite if suite is not None else max(self.credentials)
        if suite not in self.credentials:
            raise ValueError(f"no credentials for suite {suite}")
        if self._busy():
            raise ValueError("a key establishment is already in progress")
        exchange = KeyEstablishment(Role.INITIATOR, self.credentials[suite],
                                    randbytes=self.randbytes)
        self._tsn = (self._tsn + 1) & 0xFF
        self.session = _Session(Role.INITIATOR, destination, destination_endpoint, suite,
                                exchange, on_done, self._tsn)
        self._send(self.session, encode_initiate(Direction.Client_to_Server, self._tsn,
                                                 suite, exchange.initiate()))
        self._wait(self.session, GENERATE_TIME)

    def _busy(self) -> bool:
        return self.session is not None

    # -- frames -----------------------------------------------------------------------------

    def _on_server(self, ind: ApsIndication) -> bytes | None:
        header, body = self._split(ind)
        if header is None:
            return None
        if header.frame_control.is_general:
            return self._attributes.handle(ind.payload)
        return self._step(ind, header, body, Role.RESPONDER)

    def _on_client(self, ind: ApsIndication) -> bytes | None:
        header, body = self._split(ind)
        if header is None or header.frame_control.is_general:
            return None
        return self._step(ind, header, body, Role.INITIATOR)

    def _split(self, ind: ApsIndication) -> tuple[ZCLHeader | None, bytes]:
        try:
            header, body = ZCLHeader.deserialize(ind.payload)
        except ZIGPY_ERRORS:
            self.node.stats["ke_malformed"] += 1
            return None, b""
        return header, bytes(body)

    def _step(self, ind: ApsIndication, header: ZCLHeader, body: bytes,
              role: Role) -> bytes | None:
        command = header.command_id
        reply_direction = (Direction.Server_to_Client if role is Role.RESPONDER
                           else Direction.Client_to_Server)
        session = self.session
        if command == Command.TERMINATE:
            if session is not None and session.peer == ind.source and session.role is role:
                status = Status(body[0]) if body and body[0] in set(Status) \
                    else Status.BAD_MESSAGE
                self._finish(Outcome(session.peer_eui, status, sent_by_peer=True))
            return None
        if role is Role.RESPONDER and command == Command.INITIATE:
            if session is not None:
                if session.peer != ind.source:
                    self.node.stats["ke_busy"] += 1
                    return encode_terminate(reply_direction, header.tsn, Status.NO_RESOURCES,
                                            self.suite_bits)
                self._cancel(session)     # the same initiator starts over
                self.session = None
            try:
                suite, ephemeral_time, _, identity = decode_initiate(body)
                if suite not in self.credentials:
                    raise KeyEstablishmentError(Status.UNSUPPORTED_SUITE,
                                                f"suite {suite} is not supported")
            except KeyEstablishmentError as error:
                self.node.stats["ke_refused"] += 1
                self.outcomes.append(Outcome(ind.source_ieee, error.status))
                return encode_terminate(reply_direction, header.tsn, error.status,
                                        self.suite_bits)
            session = _Session(Role.RESPONDER, ind.source, ind.source_endpoint, suite,
                               KeyEstablishment(Role.RESPONDER, self.credentials[suite],
                                                randbytes=self.randbytes), None, header.tsn)
            self.session = session
            try:
                own = self._identity(session, identity, ind.source_ieee)
            except KeyEstablishmentError as error:
                return self._refuse(session, error, reply_direction, header.tsn)
            self._wait(session, ephemeral_time)
            return encode_initiate(reply_direction, header.tsn, suite, own)
        if session is None or session.peer != ind.source or session.role is not role:
            self.node.stats["ke_unexpected"] += 1
            return encode_terminate(reply_direction, header.tsn, Status.BAD_MESSAGE,
                                    self.suite_bits)
        self._cancel(session)
        try:
            return self._advance(session, command, body, reply_direction, header.tsn,
                                 ind.source_ieee)
        except KeyEstablishmentError as error:
            return self._refuse(session, error, reply_direction, header.tsn)

    def _advance(self, s: _Session, command: int, body: bytes, direction: Direction,
                 tsn: int, source_ieee: int | None) -> bytes | None:
        ke = s.exchange
        suite = s.suite
        if s.role is Role.INITIATOR:
            if command == Command.INITIATE:
                peer_suite, ephemeral_time, confirm_time, identity = decode_initiate(body)
                if peer_suite != suite:
                    raise KeyEstablishmentError(Status.UNSUPPORTED_SUITE,
                                                f"responder chose suite {peer_suite}")
                ephemeral = self._identity(s, identity, source_ieee)
                self._wait(s, ephemeral_time)
                return _frame(direction, tsn, Command.EPHEMERAL_DATA, ephemeral)
            if command == Command.EPHEMERAL_DATA:
                mac_u = ke.on_ephemeral(_exact(body, EPHEMERAL_LENGTH[suite], "ephemeral data"))
                self._wait(s, GENERATE_TIME)
                return _frame(direction, tsn, Command.CONFIRM_KEY, mac_u)
            if command == Command.CONFIRM_KEY:
                ke.confirm(_exact(body, MAC_LENGTH, "MACV"))
                self._established(s)
                return None
        else:
            if command == Command.EPHEMERAL_DATA:
                ephemeral = ke.on_ephemeral(_exact(body, EPHEMERAL_LENGTH[suite],
                                                   "ephemeral data"))
                self._wait(s, GENERATE_TIME)
                return _frame(direction, tsn, Command.EPHEMERAL_DATA, ephemeral)
            if command == Command.CONFIRM_KEY:
                mac_v = ke.confirm(_exact(body, MAC_LENGTH, "MACU"))
                assert mac_v is not None
                self._established(s)
                return _frame(direction, tsn, Command.CONFIRM_KEY, mac_v)
        raise KeyEstablishmentError(Status.BAD_MESSAGE, f"unexpected command {command}")

    def _identity(self, s: _Session, identity: bytes, source_ieee: int | None) -> bytes:
        """Check the peer's certificate and that its subject is the sender."""
        answer = s.exchange.on_identity(identity)
        peer = s.exchange.peer_certificate
        assert peer is not None
        s.peer_eui = int.from_bytes(peer.subject, "big")
        if source_ieee is not None and s.peer_eui != source_ieee:
            raise KeyEstablishmentError(Status.BAD_MESSAGE,
                                        f"certificate subject {s.peer_eui:016X} is not the "
                                        f"sender {source_ieee:016X}")
        return answer

    def _refuse(self, s: _Session, error: KeyEstablishmentError, direction: Direction,
                tsn: int) -> bytes:
        self.node.stats["ke_refused"] += 1
        self._finish(Outcome(s.peer_eui, error.status))
        return encode_terminate(direction, tsn, error.status, self.suite_bits)

    def _established(self, s: _Session) -> None:
        assert s.peer_eui is not None
        key = s.exchange.link_key
        self.node.set_link_key(s.peer_eui, key)
        outcome = Outcome(s.peer_eui, Status.SUCCESS, key)
        self._finish(outcome)
        if self.on_established is not None:
            self.on_established(outcome)

    # -- sessions and timeouts -------------------------------------------------------------

    def _send(self, s: _Session, frame: bytes) -> None:
        self.node.send_data(s.peer, s.peer_endpoint, KEY_ESTABLISHMENT, frame,
                            source_endpoint=self.endpoint.endpoint, aps_security=False)

    def _wait(self, s: _Session, seconds: int) -> None:
        self._cancel(s)
        s.timer = self.node.after(timedelta(seconds=seconds) + TRANSIT_MARGIN,
                                  lambda: self._timed_out(s), "cbke wait")

    def _cancel(self, s: _Session) -> None:
        self.node.cancel(s.timer)
        s.timer = None

    def _timed_out(self, s: _Session) -> None:
        if self.session is s:
            self.node.stats["ke_timeout"] += 1
            self._finish(Outcome(s.peer_eui, None))

    def _finish(self, outcome: Outcome) -> None:
        s, self.session = self.session, None
        self.outcomes.append(outcome)
        if s is not None:
            self._cancel(s)
            if s.on_done is not None:
                s.on_done(outcome)
