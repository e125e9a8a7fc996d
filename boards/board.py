"""Board and premises files: the TOML that says which devices a lab premises holds.

A board file describes one device as it leaves the factory and is installed:

    type = "ESME"                      # ESME, GSME, CHF, GPF, PPMID, IHD, CAD
    eui = "02-53-4C-00-00-00-00-03"    # EUI-64 Device ID (dashes, colons or bare hex)
    variant = "single_element"         # ESME only: single_element, twin_element, polyphase
    mpxn = "1200000000010"             # ESME: 13-digit MPAN core; GSME: 6-10 digit MPRN

    [keys]                             # not for IHD / CAD (Type 2 devices have no keys)
    dir = "keys"                       # a DCC Boxed key folder: <eui>-ds.key, <eui>-ka.key
    # generate = true                  # or have the lab generate the device's key pairs

    [load]                             # what the meter measures (ESME, GSME)
    constant_kw = 0.4
    # daily_kw = [0.2, ...]            # or a daily shape: 24, 48 or 96 equal UTC slots

A premises file lists boards under `[boards.<name>]`, each inline or as `file = "..."`
(relative to the premises file). Every problem is a `BoardError` naming the file, the key
and what is wrong.
"""

from __future__ import annotations

import enum
import re
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

DAY = timedelta(days=1)
DEFAULT_PREMISES = Path(__file__).parent / "premises" / "default.toml"
_EUI = re.compile(r"^[0-9a-fA-F]{2}([-:]?[0-9a-fA-F]{2}){7}$")
# MPAN core check digit weights (the 12 digits before the check digit).
_MPAN_PRIMES = (3, 5, 7, 13, 17, 19, 23, 29, 31, 37, 41, 53)


class BoardError(Exception):
    """A board or premises file that cannot be used: which file, which key, what is wrong."""

    def __init__(self, file: str | Path, key: str, problem: str) -> None:
        super().__init__(f"{file}: {key}: {problem}" if key else f"{file}: {problem}")
        self.file = str(file)
        self.key = key
        self.problem = problem


class DeviceType(enum.Enum):
    ESME = "ESME"
    GSME = "GSME"
    CHF = "CHF"
    GPF = "GPF"
    PPMID = "PPMID"
    IHD = "IHD"
    CAD = "CAD"

    @property
    def has_keys(self) -> bool:
        """Type 1 devices hold SMKI key pairs; IHDs and CADs (Type 2) do not."""
        return self not in (DeviceType.IHD, DeviceType.CAD)

    @property
    def metered(self) -> bool:
        return self in (DeviceType.ESME, DeviceType.GSME)


class Variant(enum.Enum):
    """ESME variants, as SMETS2 names them."""

    SINGLE_ELEMENT = "single_element"
    TWIN_ELEMENT = "twin_element"
    POLYPHASE = "polyphase"


@dataclass(frozen=True)
class KeySource:
    """Where a device's key pairs come from: a DCC Boxed key folder, or generated."""

    dir: Path | None = None
    generate: bool = False


@dataclass(frozen=True)
class LoadProfile:
    """A daily load shape in equal UTC slots (one slot = constant load), kW per slot;
    implements `firmware.core.hal.Metrology`."""

    slots_kw: tuple[float, ...]

    @property
    def slot(self) -> timedelta:
        return DAY / len(self.slots_kw)

    def active_power_kw(self, at: datetime) -> float:
        return self.slots_kw[self._slot_index(at)]

    def energy_kwh(self, start: datetime, end: datetime) -> float:
        """The integral of the shape from `start` to `end` (whole days in one step)."""
        start, end = _utc(start), _utc(end)
        if end < start:
            raise ValueError(f"energy_kwh: end {end.isoformat()} is before start "
                             f"{start.isoformat()}")
        slot_hours = self.slot / timedelta(hours=1)
        days, _ = divmod(end - start, DAY)
        total = days * sum(self.slots_kw) * slot_hours
        t = start + days * DAY
        while t < end:
            index = self._slot_index(t)
            midnight = t.replace(hour=0, minute=0, second=0,
                                                          microsecond=0)
            slot_end = min(end, midnight + (index + 1) * self.slot)
            total += self.slots_kw[index] * ((slot_end - t) / timedelta(hours=1))
            t = slot_end
        return total

    def _slot_index(self, at: datetime) -> int:
        at = _utc(at)
        midnight = at.replace(hour=0, minute=0, second=0, microsecond=0)
        return min((at - midnight) // self.slot, len(self.slots_kw) - 1)


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"load profile: {at.isoformat()} has no time zone (use UTC)")
    return at.astimezone(UTC)


@dataclass(frozen=True)
class Board:
    """One device of a premises, as its board file describes it."""

    name: str
    type: DeviceType
    eui: bytes
    variant: Variant | None = None
    mpxn: str | None = None
    keys: KeySource | None = None
    load: LoadProfile | None = None
    source: Path | None = None

    @property
    def eui_hex(self) -> str:
        """The EUI-64 as DCC Boxed key files name it: 16 lower-case hex digits."""
        return self.eui.hex()


@dataclass(frozen=True)
class Premises:
    """The boards installed together in one premises."""

    name: str
    boards: tuple[Board, ...]
    source: Path | None = None

    def board(self, name: str) -> Board:
        for board in self.boards:
            if board.name == name:
                return board
        raise KeyError(name)

    def of_type(self, device_type: DeviceType) -> list[Board]:
        return [board for board in self.boards if board.type is device_type]


_BOARD_KEYS = {"type", "eui", "variant", "mpxn", "keys", "load"}


def load_board(path: str | Path, name: str | None = None) -> Board:
    """Parse a board file; the board is named after the file unless `name` is given."""
    path = Path(path)
    return parse_board(_read_toml(path), path, name or path.stem, path.parent)


def parse_board(table: dict[str, Any], file: str | Path, name: str, base: Path,
                prefix: str = "") -> Board:
    """A board from an already-read TOML table; `prefix` places its keys in the file,
    `base` is the folder relative key paths start from."""

    def fail(key: str, problem: str) -> BoardError:
        return BoardError(file, prefix + key, problem)

    unknown = sorted(set(table) - _BOARD_KEYS)
    if unknown:
        raise fail(unknown[0], f"unknown key (expected one of {', '.join(sorted(_BOARD_KEYS))})")
    device_type = _enum(DeviceType, _required(table, "type", str, fail), "type", fail)
    eui = _eui(_required(table, "eui", str, fail), fail)

    variant = None
    if "variant" in table:
        if device_type is not DeviceType.ESME:
            raise fail("variant", f"only an ESME has a variant, not a {device_type.value}")
        variant = _enum(Variant, _typed(table, "variant", str, fail), "variant", fail)
    elif device_type is DeviceType.ESME:
        variant = Variant.SINGLE_ELEMENT

    mpxn = None
    if "mpxn" in table:
        mpxn = _mpxn(_typed(table, "mpxn", str, fail), device_type, fail)

    keys = None
    if "keys" in table:
        if not device_type.has_keys:
            raise fail("keys", f"a {device_type.value} is a Type 2 device and has no keys")
        keys = _keys(_typed(table, "keys", dict, fail), eui, base, fail)
    elif device_type.has_keys:
        keys = KeySource(generate=True)

    load = None
    if "load" in table:
        if not device_type.metered:
            raise fail("load", f"only an ESME or GSME measures a load, not a "
                               f"{device_type.value}")
        load = _load(_typed(table, "load", dict, fail), fail)
    return Board(name, device_type, eui, variant, mpxn, keys, load, Path(file))


def load_premises(path: str | Path) -> Premises:
    """Parse a premises file and every board it lists; EUIs must be unique and the
    devices that need a partner (a GPF its CHF, a GSME its GPF) must have it."""
    path = Path(path)
    table = _read_toml(path)
    unknown = sorted(set(table) - {"name", "boards"})
    if unknown:
        raise BoardError(path, unknown[0], "unknown key (expected name, boards)")
    name = table.get("name", path.stem)
    if not isinstance(name, str):
        raise BoardError(path, "name", f"expected a string, got {type(name).__name__}")
    entries = table.get("boards")
    if not isinstance(entries, dict) or not entries:
        raise BoardError(path, "boards", "expected at least one [boards.<name>] table")
    boards = []
    for board_name, entry in entries.items():
        key = f"boards.{board_name}"
        if not isinstance(entry, dict):
            raise BoardError(path, key, f"expected a table, got {type(entry).__name__}")
        if "file" in entry:
            if set(entry) != {"file"} or not isinstance(entry["file"], str):
                raise BoardError(path, f"{key}.file",
                                 "a board given by file takes only file = \"<path>\"")
            file = path.parent / entry["file"]
            if not file.is_file():
                raise BoardError(path, f"{key}.file", f"no board file at {file}")
            boards.append(load_board(file, board_name))
        else:
            boards.append(parse_board(entry, path, board_name, path.parent, f"{key}."))
    _check_premises(path, boards)
    return Premises(name, tuple(boards), path)


def _check_premises(path: Path, boards: list[Board]) -> None:
    seen: dict[bytes, str] = {}
    for board in boards:
        if board.eui in seen:
            raise BoardError(path, f"boards.{board.name}.eui",
                             f"EUI {board.eui.hex()} is also board {seen[board.eui]!r}")
        seen[board.eui] = board.name
    counts = {t: sum(b.type is t for b in boards) for t in DeviceType}
    for device_type in (DeviceType.CHF, DeviceType.GPF):
        if counts[device_type] > 1:
            raise BoardError(path, "boards", f"a premises has at most one {device_type.value}")
    for needs, partner in ((DeviceType.GPF, DeviceType.CHF), (DeviceType.GSME, DeviceType.GPF)):
        if counts[needs] and not counts[partner]:
            raise BoardError(path, "boards", f"a {needs.value} needs a {partner.value} "
                                             "in the same premises")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise BoardError(path, "", f"cannot read: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise BoardError(path, "", f"not valid TOML: {exc}") from exc


def _typed(table: dict, key: str, kind: type, fail) -> Any:
    value = table[key]
    if not isinstance(value, kind) or (kind in (int, float) and isinstance(value, bool)):
        names = {str: "a string", dict: "a table", bool: "true or false", list: "an array"}
        raise fail(key, f"expected {names.get(kind, kind.__name__)}, got {value!r}")
    return value


def _required(table: dict, key: str, kind: type, fail) -> Any:
    if key not in table:
        raise fail(key, "missing")
    return _typed(table, key, kind, fail)


def _enum(kind: type[enum.Enum], value: str, key: str, fail) -> Any:
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(member.value for member in kind)
        raise fail(key, f"{value!r} is not one of {choices}") from None


def _eui(text: str, fail) -> bytes:
    if not _EUI.match(text):
        raise fail("eui", f"{text!r} is not an EUI-64 (8 bytes of hex, e.g. "
                          "02-53-4C-00-00-00-00-01)")
    return bytes.fromhex(re.sub("[-:]", "", text))


def _mpxn(text: str, device_type: DeviceType, fail) -> str:
    if device_type is DeviceType.ESME:
        if not re.fullmatch(r"\d{13}", text):
            raise fail("mpxn", f"{text!r} is not a 13-digit MPAN core")
        check = sum(int(d) * p for d, p in zip(text, _MPAN_PRIMES)) % 11 % 10
        if check != int(text[12]):
            raise fail("mpxn", f"MPAN core {text} fails its check digit (expected {check})")
    elif device_type is DeviceType.GSME:
        if not re.fullmatch(r"\d{6,10}", text):
            raise fail("mpxn", f"{text!r} is not a 6 to 10 digit MPRN")
    else:
        raise fail("mpxn", f"only an ESME (MPAN) or GSME (MPRN) has one, not a "
                           f"{device_type.value}")
    return text


def _keys(table: dict, eui: bytes, base: Path, fail) -> KeySource:
    unknown = sorted(set(table) - {"dir", "generate"})
    if unknown:
        raise fail(f"keys.{unknown[0]}", "unknown key (expected dir or generate)")
    if ("dir" in table) == bool(table.get("generate", False)):
        raise fail("keys", "give either dir = \"<folder>\" or generate = true")
    if "generate" in table:
        _typed(table, "generate", bool, lambda k, p: fail(f"keys.{k}", p))
    if "dir" not in table:
        return KeySource(generate=True)
    folder = base / _typed(table, "dir", str, lambda k, p: fail(f"keys.{k}", p))
    if not folder.is_dir():
        raise fail("keys.dir", f"no key folder at {folder}")
    for usage in ("ds", "ka"):
        if not (folder / f"{eui.hex()}-{usage}.key").is_file():
            raise fail("keys.dir", f"{folder} has no {eui.hex()}-{usage}.key "
                                   "(DCC Boxed layout <eui>-<ds|ka>.<pem|key>)")
    return KeySource(dir=folder)


def _load(table: dict, fail) -> LoadProfile:
    if set(table) == {"constant_kw"}:
        values, key = [table["constant_kw"]], "load.constant_kw"
    elif set(table) == {"daily_kw"}:
        values, key = table["daily_kw"], "load.daily_kw"
        if not isinstance(values, list) or len(values) not in (24, 48, 96):
            raise fail(key, "expected an array of 24, 48 or 96 kW values (equal UTC slots)")
    else:
        raise fail("load", "give exactly one of constant_kw or daily_kw")
    for i, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            where = key if len(values) == 1 and key.endswith("constant_kw") else f"{key}[{i}]"
            raise fail(where, f"{value!r} is not a non-negative number of kW")
    return LoadProfile(tuple(float(v) for v in values))
