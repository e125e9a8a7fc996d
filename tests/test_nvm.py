"""The SQLite non-volatile store: typed values, transactions, circular logs, anti-replay
counters, snapshots, and kill-safety (SIGKILL at random points loses nothing committed)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from boards.nvm import EVENT_LOG_CAPACITY, NvmError, SqliteStore
from firmware.core.hal import NonVolatileStore
from firmware.core.security import CounterStore

ACB = bytes.fromhex("90b3d51f30010000")
SUPPLIER = bytes.fromhex("90b3d51f30000002")


@pytest.fixture(params=["memory", "file"])
def store(request, tmp_path):
    path = ":memory:" if request.param == "memory" else tmp_path / "esme.db"
    s = SqliteStore(path)
    yield s
    s.close()


def test_implements_the_firmware_interfaces(store):
    assert isinstance(store, NonVolatileStore)
    # security.CounterStore is not runtime-checkable: compare its methods by name.
    for name in ("highest", "accept"):
        assert hasattr(CounterStore, name) and callable(getattr(store, name))


def test_typed_values_round_trip(store):
    value = {"credit": 12.5, "debt": -3, "armed": True, "none": None,
             "key": b"\x00\x01\xfe", "list": [b"\xaa", "x", [1, {"y": b""}]]}
    store.put("registers", value)
    assert store.get("registers") == value
    assert isinstance(store.get("registers")["key"], bytes)
    assert store.get("absent", "default") == "default"


def test_keys_delete_and_prefix(store):
    for key in ("esme.a", "esme.b", "gsme.a"):
        store.put(key, 1)
    assert store.keys("esme.") == ["esme.a", "esme.b"]
    assert store.delete("esme.a") is True
    assert store.delete("esme.a") is False
    assert store.keys() == ["esme.b", "gsme.a"]


@pytest.mark.parametrize("value, where", [
    (object(), "k: a object"), (float("nan"), "not a finite"), ({1: 2}, "not a string"),
    ({"$bytes": "00"}, "reserved"), ([1, {2.5}], "k[1]: a set"),
])
def test_unstorable_values_are_typed_errors(store, value, where):
    with pytest.raises(NvmError, match=where.replace("[", r"\[").replace("]", r"\]")):
        store.put("k", value)
    assert store.get("k") is None


def test_transaction_groups_writes_and_rolls_back_on_failure(store):
    store.declare_log("event", 10)
    with pytest.raises(RuntimeError), store.transaction():
        store.put("credit", 10)
        store.append("event", "top-up")
        assert store.accept_counter(SUPPLIER, 7)
        raise RuntimeError("power failed")
    assert store.get("credit") is None
    assert store.entries("event") == []
    assert store.highest(SUPPLIER) == 0
    with store.transaction():
        store.put("credit", 10)
        assert store.accept_counter(SUPPLIER, 7)
    assert store.get("credit") == 10 and store.highest(SUPPLIER) == 7


def test_nested_transaction_is_a_savepoint(store):
    with store.transaction():
        store.put("outer", 1)
        with pytest.raises(ValueError), store.transaction():
            store.put("inner", 2)
            raise ValueError
        assert store.in_transaction
    assert store.get("outer") == 1 and store.get("inner") is None
    assert not store.in_transaction


def test_log_is_circular_and_numbers_are_never_reused(store):
    store.declare_log("event", EVENT_LOG_CAPACITY)
    for i in range(250):
        assert store.append("event", {"code": 0x8F1E, "n": i}) == i + 1
    entries = store.entries("event")
    assert len(entries) == EVENT_LOG_CAPACITY
    assert [e.seq for e in entries] == list(range(151, 251))
    assert entries[-1].value == {"code": 0x8F1E, "n": 249}
    store.declare_log("event", 10)  # shrinking keeps the newest
    assert [e.seq for e in store.entries("event")] == list(range(241, 251))
    with pytest.raises(NvmError, match="'security' is not declared"):
        store.append("security", 1)
    with pytest.raises(NvmError, match="capacity 0"):
        store.declare_log("x", 0)


def test_counters_are_strictly_increasing_per_party(store):
    assert store.highest(ACB) == 0
    assert store.accept_counter(ACB, 5)
    assert not store.accept_counter(ACB, 5)
    assert not store.accept_counter(ACB, 4)
    assert store.accept_counter(SUPPLIER, 1)   # another party has its own counter
    assert store.accept_counter(ACB, 2**64 - 1)  # the whole 64-bit range
    assert store.highest(ACB) == 2**64 - 1
    with pytest.raises(NvmError, match="not greater"):
        store.accept(SUPPLIER, 1)
    with pytest.raises(NvmError, match="64-bit"):
        store.accept_counter(SUPPLIER, 2**64)
    with pytest.raises(NvmError, match="EUI-64"):
        store.accept_counter(b"\x01", 3)


def test_counters_persist_across_reopen(tmp_path):
    path = tmp_path / "chf.db"
    with SqliteStore(path) as s:
        s.accept(ACB, 0x0123456789ABCDEF)
    with SqliteStore(path) as s:
        assert s.highest(ACB) == 0x0123456789ABCDEF
        assert s._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_snapshot_and_restore(store):
    store.declare_log("event", 5)
    store.put("credit", 1)
    store.append("event", "a")
    snap = store.snapshot()
    store.put("credit", 2)
    store.append("event", "b")
    store.accept_counter(ACB, 9)
    store.restore(snap)
    assert store.get("credit") == 1
    assert [e.value for e in store.entries("event")] == ["a"]
    assert store.highest(ACB) == 0
    store.put("credit", 3)  # still writable after a restore
    assert store.get("credit") == 3
    with store.transaction(), pytest.raises(NvmError, match="inside a transaction"):
        store.snapshot()
    with pytest.raises(NvmError, match="cannot restore"):
        store.restore(b"not a database" * 100)


def test_bad_open_is_a_typed_error(tmp_path):
    with pytest.raises(NvmError, match="cannot open"):
        SqliteStore(tmp_path / "missing" / "x.db")
    with pytest.raises(NvmError, match="synchronous"):
        SqliteStore(synchronous="SOMETIMES")


# A writer that applies command i as one transaction (credit register, a per-command key,
# an event log entry, the remote party's counter) and reports i only after the commit.
WRITER = textwrap.dedent("""
    import sys
    from boards.nvm import SqliteStore
    store = SqliteStore(sys.argv[1])
    store.declare_log("event", 100)
    party = bytes.fromhex("90b3d51f30000002")
    i = store.highest(party)
    while True:
        i += 1
        with store.transaction():
            store.put("credit", store.get("credit", 0) + i)
            store.put(f"cmd.{i}", {"n": i, "blob": bytes([i % 256]) * 64})
            store.append("event", i)
            assert store.accept_counter(party, i)
        sys.stdout.write(f"{i}\\n")
        sys.stdout.flush()
""")


def _check_consistent(path, acknowledged: int) -> int:
    with SqliteStore(path) as s:
        n = s.highest(SUPPLIER)
        assert n >= acknowledged, "an acknowledged write was lost"
        assert s.get("credit", 0) == n * (n + 1) // 2, "credit half-applied"
        assert s.keys("cmd.") == sorted(f"cmd.{i}" for i in range(1, n + 1))
        if n:
            assert s.get(f"cmd.{n}") == {"n": n, "blob": bytes([n % 256]) * 64}
        entries = s.entries("event")
        assert [e.value for e in entries] == list(range(max(1, n - 99), n + 1))
        return n


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_at_random_points_loses_nothing_acknowledged(tmp_path):
    path = tmp_path / "esme.db"
    rng = random.Random(20261123)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    acknowledged = 0
    for _ in range(6):
        child = subprocess.Popen([sys.executable, "-c", WRITER, str(path)],
                                 stdout=subprocess.PIPE, env=env, text=True)
        first = child.stdout.readline()  # wait until it is writing
        assert first, "writer did not start"
        acknowledged = max(acknowledged, int(first))
        time.sleep(rng.uniform(0.0, 0.15))
        child.send_signal(signal.SIGKILL)
        out, _ = child.communicate()
        for line in out.splitlines():  # everything reported before the kill
            acknowledged = max(acknowledged, int(line))
        assert child.returncode == -signal.SIGKILL
        reached = _check_consistent(path, acknowledged)
        print(f"killed after {reached} committed commands ({acknowledged} acknowledged)")
    assert reached >= acknowledged > 6
