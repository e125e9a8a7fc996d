"""The lab's keys: the remote parties' and devices' SMKI-style P-256 keys, the ZSE test
CA's CBKE certificates, the install codes and the ESMEs' UTRN (top-up) keys.

By default everything is generated from the lab's seeded RNG, so `--seed N` gives the
same keys (and so the same trace and capture) every run. Given the ZAZ1 test key store
(as DCC Boxed ships it) the remote parties come from it instead: the `Z1-<role>-<ds|ka>`
entries. A board whose file names a key folder (`[keys] dir`) brings its own key pairs.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from boards.board import Board, DeviceType, Premises
from firmware.core.credentials import DeviceCredentials, Role, TrustAnchor, TrustAnchors
from gbcs import crypto
from gbcs import keystore as keystores
from gbcs.errors import GbcsCryptoError
from han.cbke import CertificateAuthority, Credentials
from han.crc import crc16_x25
from tools.headend.access import ED, IS

# Remote parties of the generated test PKI: locally administered EUIs ("SL" + A0 + role).
GENERATED_PARTIES: dict[Role, bytes] = {
    Role.ROOT: bytes.fromhex("02534CA000000000"),
    Role.RECOVERY: bytes.fromhex("02534CA000000001"),
    Role.SUPPLIER: bytes.fromhex("02534CA000000002"),
    Role.NETWORK_OPERATOR: bytes.fromhex("02534CA000000003"),
    Role.ACCESS_CONTROL_BROKER: bytes.fromhex("02534CA000000004"),
    Role.TRANSITIONAL_COS: bytes.fromhex("02534CA000000005"),
    Role.WAN_PROVIDER: bytes.fromhex("02534CA000000006"),
}
# The DUIS role under which each remote party is a DCC User of the lab's DCC.
USER_ROLES: dict[Role, str] = {Role.SUPPLIER: IS, Role.NETWORK_OPERATOR: ED}
CBKE_SUITE = 2
INSTALL_CODE_LENGTH = 16
TOP_UP_KEY_LENGTH = 16
_P256_ORDER = int("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551", 16)


class PkiError(Exception):
    """Keys the lab cannot use: which file or party, and why."""


@dataclass(frozen=True)
class Party:
    """A remote party: its role, entity id and (private) DS and KA keys."""

    role: Role
    eui: bytes
    ds: crypto.PrivateKey | None
    ka: crypto.PrivateKey | None

    def anchor(self) -> TrustAnchor:
        return TrustAnchor(self.role, self.eui, self.ds.public_key() if self.ds else None,
                           self.ka.public_key() if self.ka else None)


@dataclass
class LabPki:
    """Every key of one lab premises."""

    parties: dict[Role, Party]
    devices: dict[bytes, DeviceCredentials] = field(default_factory=dict)
    zse_ca: CertificateAuthority | None = None
    zse: dict[bytes, Credentials] = field(default_factory=dict)
    install_codes: dict[bytes, bytes] = field(default_factory=dict)
    top_up_keys: dict[bytes, bytes] = field(default_factory=dict)   # ESME UTRN keys

    @property
    def acb(self) -> Party:
        return self.parties[Role.ACCESS_CONTROL_BROKER]

    @property
    def supplier(self) -> Party:
        return self.parties[Role.SUPPLIER]

    def anchors(self) -> TrustAnchors:
        """The trust anchors a device is installed with: one per remote party role."""
        anchors = TrustAnchors()
        for party in self.parties.values():
            anchors.set(party.anchor())
        return anchors

    def keystore(self) -> keystores.Keystore:
        """Every device and remote-party key (public and private), for decoding and
        verifying what crosses the WAN and for `--keys-out-dir`."""
        store = keystores.Keystore()
        for party in self.parties.values():
            for usage, key in ((keystores.DS, party.ds), (keystores.KA, party.ka)):
                if key is not None and not store.keys(party.eui, usage):
                    store.add(party.eui, usage, keystores.KeyPair(key.public_key(), key))
        for eui, creds in self.devices.items():
            store.add(eui, keystores.DS, keystores.KeyPair(creds.ds.public_key(), creds.ds))
            store.add(eui, keystores.KA, keystores.KeyPair(creds.ka.public_key(), creds.ka))
        return store

    def roles(self) -> dict[str, str]:
        """Each remote party's EUI (hex) -> its role name (ACB included)."""
        return {party.eui.hex(): party.role.value for party in self.parties.values()}


def seeded_private_key(rng: random.Random) -> crypto.PrivateKey:
    """A P-256 private key drawn from `rng` (so a seed gives the same keys)."""
    while True:
        scalar = int.from_bytes(rng.randbytes(32), "big")
        if 0 < scalar < _P256_ORDER:
            return crypto.private_key_from_bytes(scalar.to_bytes(32, "big"))


def install_code(rng: random.Random) -> bytes:
    """A 16-byte install code with its CRC-16 (least significant byte first)."""
    code = rng.randbytes(INSTALL_CODE_LENGTH)
    return code + crc16_x25(code).to_bytes(2, "little")


def generated_parties(rng: random.Random) -> dict[Role, Party]:
    return {role: Party(role, eui, seeded_private_key(rng), seeded_private_key(rng))
            for role, eui in GENERATED_PARTIES.items()}


def zaz1_parties(path: str | Path) -> dict[Role, Party]:
    """The remote parties of a ZAZ1 key store: the `Z1-<role>-ds|ka` entries."""
    try:
        store = keystores.load(path)
    except GbcsCryptoError as exc:
        raise PkiError(f"{path}: {exc}") from None
    found: dict[Role, dict[str, object]] = {}
    for (eui, usage, pp), pairs in store.pairs.items():
        for pair in pairs:
            parts = pair.name.split("-")
            if pp or len(parts) != 3 or parts[0] != "Z1" or pair.private is None:
                continue
            try:
                role = Role(parts[1])
            except ValueError:
                continue
            slot = found.setdefault(role, {"eui": eui})
            if slot["eui"] == eui:
                slot.setdefault(usage, pair.private)
    for needed in (Role.SUPPLIER, Role.ACCESS_CONTROL_BROKER):
        if needed not in found or keystores.KA not in found[needed]:
            raise PkiError(f"{path}: no Z1-{needed.value} key-agreement key")
    return {role: Party(role, slot["eui"], slot.get(keystores.DS), slot.get(keystores.KA))
            for role, slot in found.items()}


def board_keys(board: Board, rng: random.Random) -> DeviceCredentials:
    """The board's own key pairs from its key folder, or generated ones."""
    if board.keys is not None and board.keys.dir is not None:
        try:
            store = keystores.Keystore.from_dir(board.keys.dir)
        except GbcsCryptoError as exc:
            raise PkiError(f"board {board.name}: {exc}") from None
        ds = store.private_keys(board.eui, keystores.DS)
        ka = store.private_keys(board.eui, keystores.KA)
        if not ds or not ka:
            raise PkiError(f"board {board.name}: {board.keys.dir} lacks a DS or KA "
                           f"private key for {board.eui_hex}")
        return DeviceCredentials(board.eui, ds[0], ka[0])
    return DeviceCredentials(board.eui, seeded_private_key(rng), seeded_private_key(rng))


def build_pki(premises: Premises, rng: random.Random,
              zaz1: str | Path | None = None) -> LabPki:
    """Keys for every board of `premises`: SMKI key pairs for Type 1 devices, a ZSE
    certificate for each device that does CBKE on the HAN (Type 1 devices other than the
    GPF, which lives inside the comms hub), an install code for each device that joins."""
    pki = LabPki(zaz1_parties(zaz1) if zaz1 else generated_parties(rng))
    pki.zse_ca = CertificateAuthority.generate(CBKE_SUITE, randbytes=rng.randbytes)
    for board in premises.boards:
        if board.type.has_keys:
            pki.devices[board.eui] = board_keys(board, rng)
        if board.type in (DeviceType.CHF, DeviceType.ESME, DeviceType.GSME,
                          DeviceType.PPMID):
            pki.zse[board.eui] = pki.zse_ca.enrol(board.eui, randbytes=rng.randbytes)
        if board.type not in (DeviceType.CHF, DeviceType.GPF):
            pki.install_codes[board.eui] = install_code(rng)
        if board.type is DeviceType.ESME:
            pki.top_up_keys[board.eui] = rng.randbytes(TOP_UP_KEY_LENGTH)
    return pki
