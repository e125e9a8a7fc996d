"""The device's trust anchor cells, kept in non-volatile memory.

GBCS gives a device one trust anchor cell per (remote party role, key usage, cell
usage): the Supplier has a DS cell, a KA cell and a KA cell for prepayment top-up; the
ACB a DS and a KA cell; the Root and Recovery a DS (certificate-signing) cell. A cell
holds the party's entity id and public key; CS02a reports each cell's entity id and
subject key identifier, CS02b replaces cells. The command checks read the cells through
the device's `TrustAnchors` (one anchor per role, from the management cells), which this
store keeps in step with what it holds.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from firmware.core.credentials import CredentialsError, Role, TrustAnchor, TrustAnchors
from firmware.core.hal import NonVolatileStore
from gbcs import crypto

DS, KA = "DS", "KA"
MANAGEMENT, TOP_UP = "management", "prePaymentTopUp"
CELLS_KEY = "credentials/trust_anchor_cells"
ROLE_CODES = {Role.ROOT: 0, Role.RECOVERY: 1, Role.SUPPLIER: 2, Role.NETWORK_OPERATOR: 3,
              Role.ACCESS_CONTROL_BROKER: 4, Role.TRANSITIONAL_COS: 5, Role.WAN_PROVIDER: 6,
              Role.LOAD_CONTROLLER: 8, Role.OTHER: 127}
ROLES_BY_CODE = {code: role for role, code in ROLE_CODES.items()}


def subject_key_id(key: crypto.PublicKey) -> bytes:
    """The SMKI subject key identifier: RFC 5280 method 2 (0100 then the low 60 bits of
    the SHA-1 of the public key), as every RTDS certificate carries it."""
    digest = hashlib.sha1(b"\x04" + crypto.public_key_xy(key)).digest()[-8:]
    return bytes([0x40 | (digest[0] & 0x0F)]) + digest[1:]


@dataclass(frozen=True, order=True)
class CellId:
    """A TrustAnchorCellIdentifier."""

    role: Role
    key_usage: str
    cell_usage: str = MANAGEMENT

    @property
    def text(self) -> str:
        return f"{self.role.value}/{self.key_usage}/{self.cell_usage}"

    @classmethod
    def from_text(cls, text: str) -> CellId:
        role, usage, cell_usage = text.split("/")
        return cls(Role(role), usage, cell_usage)


@dataclass(frozen=True)
class Cell:
    """What a trust anchor cell holds."""

    eui: bytes
    key: crypto.PublicKey

    @property
    def key_id(self) -> bytes:
        return subject_key_id(self.key)


class TrustStore:
    """The persisted cells. On first boot it is seeded from the anchors the device was
    built with; afterwards the store is the truth and `anchors` follows it."""

    def __init__(self, store: NonVolatileStore, anchors: TrustAnchors) -> None:
        self.store = store
        self.anchors = anchors
        if store.get(CELLS_KEY) is None:
            cells: dict[str, dict] = {}
            for anchor in anchors.anchors.values():
                for usage, key in ((DS, anchor.ds), (KA, anchor.ka)):
                    if key is not None:
                        cells[CellId(anchor.role, usage).text] = _stored(Cell(anchor.eui,
                                                                              key))
            store.put(CELLS_KEY, cells)
        self.reload()

    def cells(self) -> dict[CellId, Cell]:
        raw = self.store.get(CELLS_KEY) or {}
        return {CellId.from_text(k): Cell(v["eui"], crypto.public_key_from_xy(v["key"]))
                for k, v in sorted(raw.items())}

    def get(self, cell: CellId) -> Cell | None:
        return self.cells().get(cell)

    def of_role(self, role: Role) -> list[tuple[CellId, Cell]]:
        """The role's cells: DS before KA, management before top-up."""
        return sorted(((c, v) for c, v in self.cells().items() if c.role == role),
                      key=lambda cv: (cv[0].key_usage, cv[0].cell_usage != MANAGEMENT))

    def put(self, cell: CellId, contents: Cell) -> None:
        """Replace (or fill) one cell; the role's anchor follows."""
        raw = dict(self.store.get(CELLS_KEY) or {})
        raw[cell.text] = _stored(contents)
        self.store.put(CELLS_KEY, raw)
        self.reload()

    def reload(self) -> None:
        """Rebuild each role's anchor from its management cells in the store (the entity
        id is the DS cell's, else the KA cell's)."""
        by_role: dict[Role, dict[str, Cell]] = {}
        for cell, contents in self.cells().items():
            if cell.cell_usage == MANAGEMENT:
                by_role.setdefault(cell.role, {})[cell.key_usage] = contents
        for role, usages in by_role.items():
            ds, ka = usages.get(DS), usages.get(KA)
            eui = (ds or ka).eui  # type: ignore[union-attr]
            self.anchors.set(TrustAnchor(role, eui, ds.key if ds else None,
                                         ka.key if ka else None))


def _stored(cell: Cell) -> dict:
    if len(cell.eui) != 8:
        raise CredentialsError(f"trust anchor entity id must be 8 bytes, got {len(cell.eui)}")
    return {"eui": cell.eui, "key": crypto.public_key_xy(cell.key)}
