"""Power-loss safety (issue 9, item 2): an ESME in its own process, on a SQLite store, is
SIGKILLed at seeded points in a run of balance adjustments, tariff updates and reads,
restarted from its store and sent the command it died on again. Nothing acknowledged is
lost, nothing is applied twice, and the store stays sound.

Kill points are deterministic: the child pauses at the k-th SQL statement of a command
(or, past its last one, after receive() returned but before answering) and the parent
kills it there."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys

from boards.nvm import SqliteStore
from gbcs import crypto, dlms
from gbcs.axdr import axdr_value, data_node
from gbcs.build import build_message
from gbcs.keystore import DS, KA, KeyPair, Keystore
from gbcs.message import decode
from gbcs.node import encode
from gbcs.usecases import by_code
from tests.test_esme_device import (ACB, ECS01A, ECS04A, ECS82, ESME, I32, METER_BALANCE,
                                    START, SUPPLIER, _tariff_request)

SEED = 20261123
COMMANDS = 300
KILLS = 10

CHILD = r"""
import datetime as dt, hashlib, json, os, signal, sys
from boards.board import Board, DeviceType, LoadProfile, Variant
from boards.esme_board import build_esme
from firmware.core.credentials import DeviceCredentials, Role, TrustAnchor, TrustAnchors
from firmware.core.device import SECURITY_LOG
from gbcs import crypto

path, start, mode = sys.argv[1], dt.datetime.fromisoformat(sys.argv[2]), sys.argv[3]
ESME, SUPPLIER, ACB = (bytes.fromhex(h) for h in sys.argv[4:7])

def key(name, use):
    return crypto.private_key_from_bytes(hashlib.sha256(f"{name}-{use}".encode()).digest())

anchors = TrustAnchors()
for role, name, eui in ((Role.SUPPLIER, "supplier", SUPPLIER),
                        (Role.ACCESS_CONTROL_BROKER, "acb", ACB)):
    anchors.set(TrustAnchor(role, eui, key(name, "ds").public_key(),
                            key(name, "ka").public_key()))
board = build_esme(Board("esme", DeviceType.ESME, ESME, Variant.SINGLE_ELEMENT,
                         load=LoadProfile((0.0,))),
                   DeviceCredentials(ESME, key("esme", "ds"), key("esme", "ka")),
                   anchors, start=start, store=path)
if mode == "check":
    print(json.dumps({"balance": board.esme.engine.meter_balance,
                      "highest": board.store.highest(SUPPLIER)}))
    sys.exit()

pause = {"at": 0, "seen": 0}

def stop(where):
    print("paused", where, flush=True)
    sys.stdin.readline()  # the parent kills us here
    os.kill(os.getpid(), signal.SIGKILL)

def trace(sql):
    pause["seen"] += 1
    if pause["at"] and pause["seen"] == pause["at"]:
        stop(sql.split()[0] if sql.split() else "-")

board.store._db.set_trace_callback(trace)
print("ready", flush=True)
while line := sys.stdin.readline():
    at, data = line.split()
    pause.update(at=int(at), seen=0)
    out = board.esme.receive(bytes.fromhex(data))
    if pause["at"]:
        stop("answer")
    if out:
        print("ok", out[0].hex(), flush=True)
    else:
        print("rejected", board.store.entries(SECURITY_LOG)[-1].value["reason"], flush=True)
"""


def _key(name: str, use: str):
    return crypto.private_key_from_bytes(hashlib.sha256(f"{name}-{use}".encode()).digest())


class Meter:
    """The ESME child process on `path`, restarted after each kill."""

    def __init__(self, tmp_path) -> None:
        self.path = tmp_path / "esme.db"
        self.script = tmp_path / "esme_child.py"
        self.script.write_text(CHILD)
        self.env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
        self.child: subprocess.Popen | None = None

    def _argv(self, mode: str) -> list[str]:
        return [sys.executable, str(self.script), str(self.path), START.isoformat(), mode,
                ESME.hex(), SUPPLIER.hex(), ACB.hex()]

    def start(self) -> None:
        self.child = subprocess.Popen(self._argv("run"), stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, env=self.env, text=True)
        assert self.child.stdout.readline() == "ready\n", "the meter did not start"

    def send(self, data: bytes, pause_at: int = 0) -> list[str]:
        self.child.stdin.write(f"{pause_at} {data.hex()}\n")
        self.child.stdin.flush()
        answer = self.child.stdout.readline().split()
        assert answer, f"the meter died: rc {self.child.poll()}"
        return answer

    def kill(self) -> None:
        self.child.send_signal(signal.SIGKILL)
        self.child.communicate()
        assert self.child.returncode == -signal.SIGKILL

    def stop(self) -> None:
        self.child.stdin.close()
        assert self.child.wait(timeout=30) == 0

    def check(self) -> dict:
        done = subprocess.run(self._argv("check"), env=self.env, check=True,
                              capture_output=True, text=True)
        return json.loads(done.stdout)


class Dcc:
    """Commands from the supplier, MAC'd by the ACB, and their responses decoded."""

    def __init__(self) -> None:
        self.counter = 1000
        self.keystore = Keystore()
        for name, eui in (("esme", ESME), ("supplier", SUPPLIER), ("acb", ACB)):
            for use, kind in (("ds", DS), ("ka", KA)):
                private = _key(name, use)
                self.keystore.add(eui, kind, KeyPair(private.public_key(), private))

    def command(self, request, code) -> bytes:
        self.counter += 1
        return build_message(cra=1, originator_counter=self.counter, originator=SUPPLIER,
                             recipient=ESME, message_code=code, content=encode(request),
                             signer=_key("supplier", "ds") if by_code(code).critical
                             else None,
                             mac_keys=(_key("acb", "ka"), _key("esme", "ka").public_key()))

    def results(self, response: bytes):
        msg = decode(response, self.keystore, ACB)
        assert msg.mac in ("valid", "absent") and msg.signature in ("valid", "absent")
        dl = next(n for n in msg.tree.walk() if n.name == "dlms")
        return ([r.children[0].value for r in dl["access_response_specification"].children],
                dl["access_response_list_of_data"].children)


def _plan(rng: random.Random, dcc: Dcc) -> list[tuple[str, int, bytes]]:
    """(kind, amount, command): mostly adjustments, some tariffs and balance reads."""
    plan = []
    for _ in range(COMMANDS):
        kind = rng.choices(("adjust", "tariff", "read"), (7, 1, 2))[0]
        if kind == "adjust":
            amount = rng.randint(-50_000, 200_000)
            request = dlms.action_request([(112, METER_BALANCE, 1,
                                            data_node("", amount, I32))], 1)
            plan.append((kind, amount, dcc.command(request, ECS04A)))
        elif kind == "tariff":
            prices = [rng.randint(1_000, 30_000), rng.randint(1_000, 30_000)]
            plan.append((kind, 0, dcc.command(
                _tariff_request(START, [(0, 1), (7, 2)], prices), ECS01A)))
        else:
            plan.append((kind, 0, dcc.command(
                dlms.get_request([(112, METER_BALANCE, 2)], 1), ECS82)))
    return plan


def test_sigkill_mid_command_loses_nothing_acknowledged_and_applies_nothing_twice(tmp_path):
    rng = random.Random(SEED)
    dcc = Dcc()
    plan = _plan(rng, dcc)
    kill_at = set(rng.sample(range(COMMANDS), KILLS))
    meter = Meter(tmp_path)
    meter.start()
    balance = 0                     # the sum of the adjustments applied
    paused_where = []
    for i, (kind, amount, data) in enumerate(plan):
        answer = meter.send(data, rng.randint(1, 40) if i in kill_at else 0)
        if answer[0] == "paused":
            paused_where.append(answer[1])
            print(f"killed in command {i} ({kind}) at {answer[1]}")
            meter.kill()
            meter.start()
            applied_before = answer[1] == "answer"
            answer = meter.send(data)
            if applied_before:      # committed, not acknowledged: the resend is a replay
                assert answer == ["rejected", "replayed"], (i, answer)
                balance += amount
                continue
        assert answer[0] == "ok", (i, kind, answer)
        results, values = dcc.results(bytes.fromhex(answer[1]))
        if kind == "adjust":
            assert results == [0]
            balance += amount
        elif kind == "tariff":
            assert results == [0] * 6
        else:
            assert results == [0] and axdr_value(values[0]) == balance, (i, balance)
    meter.stop()
    assert len(paused_where) == KILLS
    # Both kinds of kill happened: mid-transaction and after the commit.
    assert "answer" in paused_where and set(paused_where) - {"answer"}, paused_where

    state = meter.check()           # a fresh process, from the store alone
    assert state == {"balance": balance, "highest": dcc.counter}
    with SqliteStore(meter.path) as store:
        assert store.highest(SUPPLIER) == dcc.counter
    db = sqlite3.connect(meter.path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        db.close()
