"""Key stores in the layout DCC Boxed tooling uses.

A folder holds `<eui>[-pp]-<ds|ka>.pem` (a certificate, or a bare public key) and
`<eui>[-pp]-<ds|ka>.key` (PKCS#8 private key), EUI-64 in lower-case hex; `-pp` marks the
prepayment key-agreement pair a supplier uses for top-ups. The ZAZ1 test PKI JSON
(`{eui: {digitalSignature|keyAgreement: {serial: {certificate, privateKey, role}}}}`)
may hold several pairs for one EUI and usage (e.g. Z1 and Z1b), so every lookup returns
all candidates: the verifier tries each.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from gbcs.certificates import GbcsCertificateError, load_x509, parse_certificate
from gbcs.crypto import PrivateKey, PublicKey
from gbcs.errors import GbcsCryptoError

DS = "ds"
KA = "ka"
_FILE = re.compile(r"^([0-9a-fA-F]{16})(-pp)?-(ds|ka)\.(pem|key)$")
_ZAZ1_USAGE = {"digitalSignature": DS, "keyAgreement": KA}


@dataclass
class KeyPair:
    """One key of a party: the public key (from a certificate or a private key) and,
    where the store holds it, the private key and certificate."""

    public: PublicKey
    private: PrivateKey | None = None
    certificate: x509.Certificate | None = None
    role: int | None = None
    name: str = ""


@dataclass
class Keystore:
    """Keys by (EUI-64, usage, prepayment flag)."""

    pairs: dict[tuple[bytes, str, bool], list[KeyPair]] = field(default_factory=dict)
    _devices: dict[bytes, bool] = field(default_factory=dict, repr=False, compare=False)

    def add(self, eui: bytes, usage: str, pair: KeyPair, pp: bool = False) -> None:
        if usage not in (DS, KA) or len(eui) != 8:
            raise GbcsCryptoError(f"bad key store entry {eui.hex()} {usage}")
        self.pairs.setdefault((bytes(eui), usage, pp), []).append(pair)
        self._devices.pop(bytes(eui), None)

    def keys(self, eui: bytes, usage: str, pp: bool = False) -> list[KeyPair]:
        return self.pairs.get((bytes(eui), usage, pp), [])

    def public_keys(self, eui: bytes, usage: str) -> list[PublicKey]:
        """Every public key of `eui` for `usage`, prepayment pairs last."""
        return [p.public for p in self.keys(eui, usage) + self.keys(eui, usage, True)]

    def private_keys(self, eui: bytes, usage: str) -> list[PrivateKey]:
        return [p.private for p in self.keys(eui, usage) + self.keys(eui, usage, True)
                if p.private is not None]

    def is_device(self, eui: bytes) -> bool:
        """True when the store holds an SMKI device certificate for `eui`."""
        known = self._devices.get(eui)
        if known is None:
            known = any(_is_device_certificate(pair.certificate)
                        for usage in (DS, KA) for pair in self.keys(eui, usage))
            self._devices[eui] = known
        return known

    def euis(self) -> set[bytes]:
        return {eui for eui, _, _ in self.pairs}

    # -- files --------------------------------------------------------------------------

    @classmethod
    def from_dir(cls, path: str | Path) -> Keystore:
        """Read a DCC Boxed style folder; files with other names are ignored."""
        folder = Path(path)
        if not folder.is_dir():
            raise GbcsCryptoError(f"key store folder not found: {folder}")
        found: dict[tuple[bytes, str, bool], dict[str, object]] = {}
        for file in sorted(folder.iterdir()):
            match = _FILE.match(file.name)
            if not match:
                continue
            eui_hex, pp, usage, ext = match.groups()
            slot = found.setdefault((bytes.fromhex(eui_hex), usage, bool(pp)), {})
            data = file.read_bytes()
            try:
                if ext == "pem" and b"BEGIN PUBLIC KEY" in data:
                    slot["public"] = serialization.load_pem_public_key(data)
                elif ext == "pem":
                    slot["certificate"] = load_x509(data)
                else:
                    slot["private"] = serialization.load_pem_private_key(data, None)
            except ValueError as exc:
                raise GbcsCryptoError(f"{file}: {exc}") from None
        store = cls()
        for (eui, usage, pp), slot in found.items():
            store.add(eui, usage, _pair(slot.get("private"), slot.get("certificate"),
                                        slot.get("public")), pp)
        return store

    @classmethod
    def from_zaz1_json(cls, path: str | Path) -> Keystore:
        """Read the ZAZ1 test PKI remote-party keys (as DCC Boxed ships them)."""
        try:
            data = json.loads(Path(path).read_text())
            store = cls()
            for eui_hex, usages in data.items():
                for usage_name, entries in usages.items():
                    usage = _ZAZ1_USAGE[usage_name]
                    for entry in entries.values():
                        cert = load_x509(entry["certificate"].encode())
                        private = serialization.load_pem_private_key(
                            entry["privateKey"].encode(), None)
                        pair = _pair(private, cert)
                        pair.role = entry.get("role")
                        pair.name = entry.get("name", "")
                        store.add(bytes.fromhex(eui_hex), usage, pair,
                                  pp="PP" in pair.name)
            return store
        except (OSError, ValueError, KeyError, AttributeError, TypeError) as exc:
            raise GbcsCryptoError(f"{path}: not a ZAZ1 key store ({exc})") from None

    def write_dir(self, path: str | Path) -> None:
        """Write the store in the DCC Boxed layout (first pair of each slot)."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        for (eui, usage, pp), pairs in sorted(self.pairs.items()):
            pair = pairs[0]
            stem = f"{eui.hex()}{'-pp' if pp else ''}-{usage}"
            if pair.certificate is not None:
                (folder / f"{stem}.pem").write_bytes(
                    pair.certificate.public_bytes(serialization.Encoding.PEM))
            elif pair.private is None:
                (folder / f"{stem}.pem").write_bytes(pair.public.public_bytes(
                    serialization.Encoding.PEM,
                    serialization.PublicFormat.SubjectPublicKeyInfo))
            if pair.private is not None:
                (folder / f"{stem}.key").write_bytes(pair.private.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption()))


def _pair(private, certificate, public=None) -> KeyPair:
    if public is None and certificate is not None:
        public = certificate.public_key()
    if public is None and private is not None:
        public = private.public_key()
    if public is None:
        raise GbcsCryptoError("key store slot with neither certificate nor key")
    return KeyPair(public=public, private=private, certificate=certificate)


def _is_device_certificate(certificate: x509.Certificate | None) -> bool:
    if certificate is None:
        return False
    try:
        der = certificate.public_bytes(serialization.Encoding.DER)
        return parse_certificate(der).kind == "device"
    except GbcsCertificateError:
        return False


def load(path: str | Path) -> Keystore:
    """A key store from a DCC Boxed folder or a ZAZ1 JSON file."""
    p = Path(path)
    return Keystore.from_zaz1_json(p) if p.is_file() else Keystore.from_dir(p)
