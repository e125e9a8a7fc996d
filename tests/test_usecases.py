"""The use-case catalogue against GBCS's message code list, the DUIS request matrix and
templates, and the RTDS messages themselves (message code, use case and signature)."""

from __future__ import annotations

import csv
import json
import re
from functools import lru_cache
from pathlib import Path

import pytest

from gbcs.usecases import (
    BY_CONTENT,
    DCC_LABELS,
    DEVICE_TYPES,
    PAYLOADS,
    USE_CASES,
    UseCase,
    by_code,
    by_id,
    for_srv,
    srvs_for,
)
from tests.conftest import REFERENCE, RTDS, need, rtds_files

USE_CASE_ID = re.compile(r"^[A-Z]+\d")

# The RTDS ERROR case of Method B unjoin sends a Method A/C unjoin (0x000F) to a device
# joined by Method B, so that folder legitimately holds a CS04AC command and response.
FOREIGN_CODES = {("8.8.2_CS04B", 0x000F)}


def _srv_key(srv: str) -> tuple[int, ...]:
    return tuple(int(part) for part in srv.split("."))


def _folder(path: Path) -> tuple[str, str]:
    """(SRV or "NA", DCC use-case label) from an RTDS folder name like "1.1.1_ECS01a"."""
    srv, label = path.name.split("_", 1)
    return srv, label


def _ber(data: bytes, i: int) -> tuple[int, int]:
    first = data[i]
    if first < 0x80:
        return first, i + 1
    n = first & 0x7F
    return int.from_bytes(data[i + 1 : i + 1 + n], "big"), i + 1 + n


def _header(data: bytes) -> tuple[int, int, int]:
    """(CRA flag, message code, signature length or -1 when absent) of a GBCS message."""
    i = 0
    if data[:2] == b"\xdd\x00":
        _, i = _ber(data, 7)
        i += 5  # security header: 0x11 and the 4-byte invocation counter
    assert data[i : i + 2] == b"\xdf\x09", data[i : i + 2].hex()
    cra = data[i + 2]
    i += 11  # DF 09, CRA flag, 8-byte originator counter
    i += 18  # 08 + originator system title, 08 + recipient system title
    i += 13 if data[i] == 0x0C else 1  # date-time
    other_length, i = _ber(data, i)
    code = int.from_bytes(data[i : i + 2], "big")
    content_length, i = _ber(data, i + other_length)
    i += content_length
    return cra, code, data[i] if i < len(data) else -1


@lru_cache(maxsize=1)
def _rtds_headers() -> list[tuple[Path, int, int, int]]:
    out = []
    for path in rtds_files():
        cra, code, signature = _header(bytes.fromhex(path.read_text().strip()))
        out.append((path, cra, code, signature))
    return out


def _need_rtds() -> list[tuple[Path, int, int, int]]:
    need(RTDS)
    return _rtds_headers()


def _labelled(label: str) -> set[int]:
    return {uc.code for uc in by_id(label)}


def test_every_gbcs_message_code_is_catalogued() -> None:
    rows = list(csv.DictReader(need(REFERENCE / "gbcs-message-codes.tsv").open(), delimiter="\t"))
    assert len(rows) == 224
    for row in rows:
        uc = by_code(int(row["code"], 16))
        assert uc is not None, row
        if USE_CASE_ID.match(row["use_case"]):
            assert (uc.use_case, uc.name) == (row["use_case"], row["name"])
        else:
            # Alert codes outside any use case: the list splits their title at its first
            # space ("Future" / "Dated Execution Of ..."); GBCS gives them no use-case id.
            assert (uc.use_case, uc.name) == ("", f"{row['use_case']} {row['name']}")


def test_table_is_well_formed() -> None:
    assert len(USE_CASES) >= 224
    assert list(USE_CASES) == sorted(USE_CASES)  # by_id and for_srv answer in code order
    for code, uc in USE_CASES.items():
        assert code == uc.code and 0 < code <= 0xFFFF
        assert uc.name and (uc.use_case == "" or USE_CASE_ID.match(uc.use_case)), uc
        assert uc.payload in PAYLOADS, uc
        assert uc.devices and set(uc.devices) <= set(DEVICE_TYPES), uc
        assert uc.critical in (True, False, None), uc
        assert all(re.fullmatch(r"\d+(\.\d+)*", srv) for srv in uc.srvs), uc
        assert list(uc.srvs) == sorted(set(uc.srvs), key=_srv_key), uc
        if uc.alert:
            assert not uc.srvs, uc
    for label, codes in DCC_LABELS.items():
        assert not any(uc.use_case == label for uc in USE_CASES.values()), label
        assert all(code in USE_CASES for code in codes), label


def test_payload_kinds_follow_gbcs() -> None:
    def payload(use_case: str) -> set[str]:
        return {uc.payload for uc in by_id(use_case)}

    assert all(payload(f"ECS{n}") == {"DLMS"} for n in ("01a", "17b", "26n", "35c", "46d", "70"))
    assert all(payload(f"GCS{n}") == {"GBZ"} for n in ("01a", "13a", "21e", "53", "61"))
    asn1 = ("GCS28", "GCS59", "GCS62", "CS02b", "CS03A1", "CS06", "CS07")
    assert all(payload(u) == {"ASN.1"} for u in asn1)
    assert payload("CCS01") == payload("DBCH04") == {"DLMS"}
    assert {by_code(0x1000).payload, by_code(0x1001).payload} == {BY_CONTENT}


def test_devices_follow_gbcs() -> None:
    assert by_id("ECS01a")[0].devices == ("ESME",)
    assert by_id("ECS26n")[0].devices == ("CHF",)
    assert by_id("GCS01a")[0].devices == ("GSME",)
    assert set(by_id("GCS13a")[0].devices) == {"GSME", "GPF"}  # GPF answers reliable reads
    assert by_id("GCS61")[0].devices == ("GPF",)
    assert (by_id("GCS60")[0].devices, by_id("GCS60a")[0].code) == (("GSME",), 0x012A)
    assert by_id("HECS01")[0].devices == ("HCALCS",)
    assert {d for uc in by_id("CCS07") + by_id("DBCH01") for d in uc.devices} == {"CHF"}


def test_lookups() -> None:
    assert by_code(0x0019).title == "ECS01a Set Tariff and Price on ESME"
    assert by_code(0x00CC).title == "Future Dated Execution Of Instruction Alert (DLMS COSEM)"
    assert by_code(0x0005) is None and by_code(0xFFFF) is None
    assert [uc.code for uc in by_id("CS02b")] == list(range(0x0100, 0x010A))
    assert [uc.code for uc in by_id("CS02bNOByNO")] == [0x0103]
    assert by_id("ECS47Reset") == by_id("ECS47Activate") == by_id("ECS47")
    assert by_id("nonsense") == []
    assert {uc.use_case for uc in for_srv("4.1.1")} == {"ECS17b", "GCS13a"}
    assert {uc.use_case for uc in for_srv("8.9")} == {"CCS04", "CCS06", "CCS07", "CS07"}
    assert {uc.use_case for uc in for_srv("4.18")} == {"ECS82", "GCS60", "GCS60a"}
    assert for_srv("11.1") == []
    assert srvs_for("CS04AC") == ("8.8.1", "8.8.2")
    assert srvs_for("CS02b") == ("6.15.1", "6.21", "6.23", "8.5")
    assert srvs_for("ECS70Commission") == ("6.11", "8.1.1")
    by_id("ECS01a").clear()  # callers get copies
    assert by_id("ECS01a")
    with pytest.raises(AttributeError):
        by_code(0x0019).name = "changed"  # type: ignore[misc]
    assert isinstance(by_code(0x0019), UseCase)


def test_request_matrix_srvs_map_to_use_cases() -> None:
    matrix = json.loads(need(REFERENCE / "duis-request-matrix.json").read_text())
    assert len(matrix) == 129
    known = {row["Service Reference Variant"] for row in matrix}
    # Every SRV the catalogue names is a real service request variant.
    assert {srv for uc in USE_CASES.values() for srv in uc.srvs} <= known
    for row in matrix:
        srv = row["Service Reference Variant"]
        if row["Non-Device Request"] == "Yes":
            # Handled by the DCC itself (schedules, inventory, opt-in, CH status, WAN
            # matrix, pre-notification), or, for 11.1 / 11.4 firmware updates, carried by
            # GBT block transfer (CS05a/b/c) that has no message code.
            assert for_srv(srv) == [], srv
            continue
        ucs = for_srv(srv)
        assert ucs, f"{srv} {row['Service Request Name']} triggers no use case"
        if row["Critical"] == "Yes":
            # A critical service request only ever becomes critical (signed) commands.
            assert all(uc.critical is not False for uc in ucs), srv


def test_duis_templates_pair_srvs_and_use_cases() -> None:
    names = sorted(p.name for p in need(REFERENCE / "duis-templates").glob("*.XML"))
    assert len(names) == 297
    for name in names:
        label, srv = name.split("_")[:2]
        if label[0].isdigit():  # non-device requests: "8.2_READ_INVENTORY_..."
            assert for_srv(label) == [], name
            continue
        srv = srv.rstrip(".")
        if srv == "5.1":  # Create Schedule: a non-device request, here scheduling ECS21a
            continue
        assert by_id(label), name
        assert srv in srvs_for(label), name


def test_rtds_folders_pair_srvs_and_use_cases() -> None:
    folders = sorted(p for p in need(RTDS).iterdir() if p.is_dir())
    assert len(folders) > 150
    for folder in folders:
        srv, label = _folder(folder)
        assert by_id(label), folder.name
        if srv != "NA":
            assert srv in srvs_for(label), folder.name


def test_rtds_message_codes_match_their_folders() -> None:
    seen = set()
    for path, cra, code, _ in _need_rtds():
        folder = path.parent.name
        _, label = _folder(path.parent)
        uc = by_code(code)
        assert uc is not None, f"{path.name}: unknown message code {code:#06x}"
        seen.add(code)
        if code in _labelled(label) or (folder, code) in FOREIGN_CODES:
            continue
        # Other codes in a folder: the alerts a command leads to (future-dated outcome,
        # configuration changed), never another command.
        assert cra == 3 and uc.alert, f"{path.name}: {uc.title} in {folder}"
    assert len(seen) > 180


def test_rtds_signatures_match_criticality() -> None:
    checked = 0
    for path, cra, code, signature in _need_rtds():
        uc = by_code(code)
        if uc is None or uc.critical is None or "PRECOMMAND" in path.name:
            continue  # pre-commands are not yet signed
        assert signature == (64 if uc.critical else 0), f"{path.name}: {uc.title}"
        checked += 1
    assert checked > 900
