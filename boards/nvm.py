"""The non-volatile store on SQLite: what a meter keeps across power loss.

One database per device (a file, or `:memory:` for throw-away runs), in WAL mode with
`synchronous=FULL` by default, so a write is on disk before it is acknowledged and a
killed process loses nothing it had committed. Every mutation runs in a transaction;
`with store.transaction():` groups several (a command's effects and its anti-replay
counter) so that they land together or not at all. Nested transactions are savepoints.

Values are JSON; bytes are tagged `{"$bytes": "<hex>"}` so they come back as bytes.
Logs are circular, as GBCS logs are: each declared with a capacity, the oldest entry
dropped when full, entry numbers never reused. Anti-replay counters are kept per remote
party (its EUI-64) as decimal text, since originator counters use all 64 bits and SQLite
integers are signed.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

from firmware.core.hal import LogEntry

MEMORY = ":memory:"
EVENT_LOG_CAPACITY = 100
_BYTES_TAG = "$bytes"
_MAX_COUNTER = 2**64 - 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS logs (name TEXT PRIMARY KEY, capacity INTEGER NOT NULL,
                                 next_seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS log_entries (log TEXT NOT NULL, seq INTEGER NOT NULL,
                                        value TEXT NOT NULL, PRIMARY KEY (log, seq));
CREATE TABLE IF NOT EXISTS counters (party TEXT PRIMARY KEY, counter TEXT NOT NULL);
"""


class NvmError(Exception):
    """A store operation that cannot be done: says which key, log or party and why."""


def encode_value(value: Any, where: str = "value") -> str:
    """The JSON text stored for `value`; NvmError naming `where` if it cannot be stored."""
    return json.dumps(_tag(value, where), separators=(",", ":"), sort_keys=True,
                      allow_nan=False)


def decode_value(text: str) -> Any:
    return json.loads(text, object_hook=_untag)


def _tag(value: Any, where: str) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {_BYTES_TAG: bytes(value).hex()}
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NvmError(f"{where}: {value} cannot be stored (not a finite number)")
        return value
    if isinstance(value, (list, tuple)):
        return [_tag(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise NvmError(f"{where}: dict key {key!r} is not a string")
            if key == _BYTES_TAG:
                raise NvmError(f"{where}: dict key {_BYTES_TAG!r} is reserved")
            out[key] = _tag(item, f"{where}.{key}")
        return out
    raise NvmError(f"{where}: a {type(value).__name__} cannot be stored")


def _untag(obj: dict) -> Any:
    if len(obj) == 1 and _BYTES_TAG in obj:
        return bytes.fromhex(obj[_BYTES_TAG])
    return obj


def _party(party: bytes) -> str:
    if not isinstance(party, (bytes, bytearray)) or len(party) != 8:
        raise NvmError(f"remote party {party!r} is not an 8-byte EUI-64")
    return bytes(party).hex()


def _counter(counter: int, party: str) -> int:
    if isinstance(counter, bool) or not isinstance(counter, int) \
            or not 0 <= counter <= _MAX_COUNTER:
        raise NvmError(f"counter {counter!r} for party {party} is not a 64-bit unsigned int")
    return counter


class SqliteStore:
    """A device's non-volatile memory in one SQLite database (implements
    `firmware.core.hal.NonVolatileStore` and `firmware.core.security.CounterStore`)."""

    def __init__(self, path: str | Path = MEMORY, *, synchronous: str = "FULL") -> None:
        if synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise NvmError(f"synchronous {synchronous!r} is not OFF, NORMAL, FULL or EXTRA")
        self.path = str(path)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None)
            if self.path != MEMORY:
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={synchronous}")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise NvmError(f"{self.path}: cannot open the store: {exc}") from exc
        self._depth = 0

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes; an exception inside rolls back every one of them and re-raises."""
        depth = self._depth
        self._db.execute("BEGIN IMMEDIATE" if depth == 0 else f"SAVEPOINT s{depth}")
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth = depth
            if depth == 0:
                self._db.execute("ROLLBACK")
            else:
                self._db.execute(f"ROLLBACK TO s{depth}")
                self._db.execute(f"RELEASE s{depth}")
            raise
        self._depth = depth
        self._db.execute("COMMIT" if depth == 0 else f"RELEASE s{depth}")

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    # key/value

    def get(self, key: str, default: Any = None) -> Any:
        row = self._db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return default if row is None else decode_value(row[0])

    def put(self, key: str, value: Any) -> None:
        if not isinstance(key, str) or not key:
            raise NvmError(f"key {key!r} is not a non-empty string")
        text = encode_value(value, key)
        with self.transaction():
            self._db.execute("INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) "
                             "DO UPDATE SET value = excluded.value", (key, text))

    def delete(self, key: str) -> bool:
        with self.transaction():
            return self._db.execute("DELETE FROM kv WHERE key = ?", (key,)).rowcount > 0

    def keys(self, prefix: str = "") -> list[str]:
        rows = self._db.execute("SELECT key FROM kv WHERE substr(key, 1, ?) = ? ORDER BY key",
                                (len(prefix), prefix))
        return [key for (key,) in rows]

    # circular logs

    def declare_log(self, log: str, capacity: int) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise NvmError(f"log {log!r}: capacity {capacity!r} is not a positive integer")
        with self.transaction():
            self._db.execute("INSERT INTO logs (name, capacity, next_seq) VALUES (?, ?, 1) "
                             "ON CONFLICT(name) DO UPDATE SET capacity = excluded.capacity",
                             (log, capacity))
            self._trim(log, capacity)

    def append(self, log: str, value: Any) -> int:
        text = encode_value(value, f"log {log}")
        with self.transaction():
            row = self._db.execute("SELECT capacity, next_seq FROM logs WHERE name = ?",
                                   (log,)).fetchone()
            if row is None:
                raise NvmError(f"log {log!r} is not declared")
            capacity, seq = row
            self._db.execute("INSERT INTO log_entries (log, seq, value) VALUES (?, ?, ?)",
                             (log, seq, text))
            self._db.execute("UPDATE logs SET next_seq = ? WHERE name = ?", (seq + 1, log))
            self._trim(log, capacity)
        return seq

    def entries(self, log: str) -> list[LogEntry]:
        if self._db.execute("SELECT 1 FROM logs WHERE name = ?", (log,)).fetchone() is None:
            raise NvmError(f"log {log!r} is not declared")
        rows = self._db.execute("SELECT seq, value FROM log_entries WHERE log = ? "
                                "ORDER BY seq", (log,))
        return [LogEntry(seq, decode_value(text)) for seq, text in rows]

    def _trim(self, log: str, capacity: int) -> None:
        self._db.execute("DELETE FROM log_entries WHERE log = ? AND seq <= "
                         "(SELECT next_seq - 1 - ? FROM logs WHERE name = ?)",
                         (log, capacity, log))

    # anti-replay counters

    def highest(self, party: bytes) -> int:
        row = self._db.execute("SELECT counter FROM counters WHERE party = ?",
                               (_party(party),)).fetchone()
        return 0 if row is None else int(row[0])

    def accept(self, party: bytes, counter: int) -> None:
        if not self.accept_counter(party, counter):
            raise NvmError(f"counter {counter} for party {_party(party)} is not greater "
                           f"than {self.highest(party)}")

    def accept_counter(self, party: bytes, counter: int) -> bool:
        name = _party(party)
        _counter(counter, name)
        with self.transaction():
            if counter <= self.highest(party):
                return False
            self._db.execute("INSERT INTO counters (party, counter) VALUES (?, ?) "
                             "ON CONFLICT(party) DO UPDATE SET counter = excluded.counter",
                             (name, str(counter)))
        return True

    # snapshots

    def snapshot(self) -> bytes:
        """The whole database as bytes (copied with the SQLite backup API)."""
        self._idle("snapshot")
        copy = sqlite3.connect(MEMORY)
        try:
            self._db.backup(copy)
            image = bytearray(copy.serialize())
        finally:
            copy.close()
        # A WAL database's header says so (read/write versions 2 at offsets 18-19); an
        # image marked WAL cannot be deserialized, so mark it a rollback-journal one (1).
        image[18:20] = b"\x01\x01"
        return bytes(image)

    def restore(self, state: bytes) -> None:
        """Put the database back to a `snapshot()`."""
        self._idle("restore")
        source = sqlite3.connect(MEMORY)
        try:
            source.deserialize(state)
            source.backup(self._db)
        except sqlite3.Error as exc:
            raise NvmError(f"{self.path}: cannot restore the snapshot: {exc}") from exc
        finally:
            source.close()

    def _idle(self, what: str) -> None:
        if self._depth:
            raise NvmError(f"{self.path}: cannot {what} inside a transaction")
