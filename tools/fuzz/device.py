"""`smetslab fuzz device`: mutated and malicious GBCS commands against the emulated
ESME, GSME, GPF and CHF, through the command pipeline every device shares
(`GbcsDevice.receive`).

An input is `device index, flood byte, GBCS message`: the index picks the device type
(modulo how many there are), the flood byte how many times the message is sent in a row
(once, unless it is 0xF0 or more: then 2 to 9 times, so replays of an accepted command
are tried), the message is what is sent. Seeds are the RTDS commands of each type,
re-MAC'd for the emulated device (as `tools.conformance` replays them); mutants are
field-level edits through the codec's model (counters, codes, dates, lengths, nested
payloads, octets: wrong signer, wrong recipient, stale counters, out-of-range values,
future dates) that are re-MAC'd half of the time so they get past the MAC check, and
byte-level edits that are not (wrong MAC, oversized or broken GBT, junk).

Every input runs from the device's snapshot (its SQLite store restored, its in-memory
keys, anchors and timers reloaded from it), so a finding replays alone. Invariants:
- nothing escapes `receive` (the runner counts an exception as a crash);
- a message that gets no Response changes no state but the logs (a digest of the
  store's key-value cells and anti-replay counters is the same before and after);
- originator counters never go backwards, and a Response means the command's counter is
  now its originator's highest;
- an answer is a Response (CRA 2) to the command's message code under the command's
  counter, sent by the device, before any alerts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from random import Random
from typing import Hashable, Iterator, Sequence

from boards.nvm import SqliteStore, encode_value
from firmware.core.device import EVENT_LOG, SECURITY_LOG, GbcsDevice
from gbcs.errors import GbcsDecodeError, GbcsError
from gbcs.keystore import Keystore
from gbcs.message import DecodedMessage, decode
from gbcs.usecases import by_code
from tools import conformance
from tools.fuzz import campaign, mutate
from tools.fuzz import corpus as corpora
from tools.fuzz.codec import CodecTarget, _tree, write_opened
from tools.fuzz.target import Violation, register

import json
import re

FLOOD_FROM = 0xF0  # flood bytes from here send the message 2 + (byte & 7) times
REMAC_SHARE = 0.5  # of field-level mutants re-MAC'd for the device
CRA_RESPONSE = 2
# No time passes while an input runs, so no command may move an energy or volume
# register: the ESME's import/export registers and CurrentSummationDelivered of gas.
ESME_STATE, ESME_REGISTERS = "esme.state", ("imp", "exp", "rimp", "rexp")
GAS_REGISTERS = ("gas/attr/0702/0000",)
# The use cases that may move an ESME's credit (balance, emergency credit, debts).
CREDIT_USE_CASES = re.compile(r"Top Up|Balance|Debt|Emergency Credit|Payment Mode|"
                              r"Prepayment Configuration|Tariff")


class DeviceFuzzError(ValueError):
    """The RTDS or key store the device campaign needs cannot be used."""


@dataclass
class Subject:
    """One emulated device and the state every input starts from."""

    kind: str
    device: GbcsDevice
    store: SqliteStore
    commands: list[bytes]  # RTDS commands for this device, re-MAC'd for it

    def __post_init__(self) -> None:
        self.snapshot = self.store.snapshot()
        self.clock = self.device.clock.snapshot()
        engine = getattr(self.device, "engine", None)  # the ESME's metering engine
        self.engine = engine.snapshot() if engine is not None else None

    def reset(self) -> None:
        """Back to the snapshot: the virtual clock and its timers, the store, the
        metering engine's volatile state, and what the device keeps in memory of its
        store (keys, anchors, future-dated timers)."""
        self.device.clock.restore(self.clock)
        self.store.restore(self.snapshot)
        if self.engine is not None:
            self.device.engine.restore(self.engine)
        self.device.take_alerts()
        self.device._reload()


@dataclass(frozen=True, slots=True)
class Result:
    """What one input did: the device type, the answers, the state digests and counters
    before and after, and the last log entries the input made."""

    kind: str
    sent: list[tuple[bytes, list[bytes]]]  # (message, answers) per send
    before: str
    after: str
    counters_before: dict[bytes, int]
    counters_after: dict[bytes, int]
    logged: tuple[str, ...]
    conserved_before: dict[str, object]
    conserved_after: dict[str, object]


class DeviceTarget:
    """The emulated devices as a fuzz target."""

    name = "device"
    rejections: tuple[type[BaseException], ...] = ()

    def __init__(self, rtds: Path | None = None, keystore: Path | None = None) -> None:
        rtds = rtds or corpora.default_corpus()
        keystore = keystore or corpora.default_keystore()
        try:
            self.parties = conformance.Parties.load(Keystore.from_dir(keystore))
            cases = conformance.find_cases(rtds)
        except (OSError, GbcsError, ValueError, conformance.ConformanceError) as err:
            raise DeviceFuzzError(f"cannot set up the device campaign: {err}") from None
        self.replay = conformance.Replay(self.parties)
        self.subjects = self._build(cases)
        if not self.subjects:
            raise DeviceFuzzError(f"{rtds}: no RTDS command for any emulated device")

    def _build(self, cases: list[conformance.Case]) -> list[Subject]:
        """One device per emulated type, at the recipient most of its RTDS commands go
        to; its commands re-MAC'd for it (commands to other EUIs stay, as wrong-recipient
        seeds)."""
        by_kind: dict[str, dict[bytes, list[DecodedMessage]]] = {}
        raw: dict[int, bytes] = {}
        decoded = []
        for case in cases:
            try:
                case.message = decode(case.command, verify=False)
            except GbcsDecodeError:
                continue
            decoded.append(case)
            raw[id(case.message)] = case.command
        kinds = conformance.eui_kinds(decoded, self.replay.kinds)
        self.replay.premises = kinds
        for case in decoded:
            h = case.message.header
            uc = by_code(h.message_code)
            if uc is None or h.cra != 1 or self.parties.keystore.is_device(h.originator):
                continue
            kind = self.replay._kind(uc, h.recipient, kinds)
            if kind in self.replay.kinds and uc.payload in self.replay.kinds[kind].payloads:
                by_kind.setdefault(kind, {}).setdefault(h.recipient, []).append(case.message)
        subjects = []
        for kind in sorted(by_kind):
            recipients = by_kind[kind]
            eui = max(sorted(recipients), key=lambda e: len(recipients[e]))
            senders = {m.header.originator for m in recipients[eui]}
            device = self.replay.kinds[kind].make(self.replay, eui, senders, None)
            ka = device.credentials.ka.public_key()
            commands = [self.parties.remac(raw[id(m)], m, ka)
                        for r in sorted(recipients) for m in recipients[r]]
            subjects.append(Subject(kind, device, device.store, commands))
        return subjects

    # -- the Target protocol -----------------------------------------------------------

    def seeds(self, rng: Random) -> Iterator[bytes]:
        inputs = [bytes((i, 0)) + c for i, s in enumerate(self.subjects) for c in s.commands]
        rng.shuffle(inputs)
        for data in inputs:
            yield data
            if rng.random() < 0.1:  # the same command flooded: replays after acceptance
                yield data[:1] + bytes((FLOOD_FROM | rng.randrange(8),)) + data[2:]

    def mutate(self, data: bytes, rng: Random, pool: Sequence[bytes]) -> bytes:
        """A field-level mutant (re-MAC'd half of the time), else byte-level ones; now
        and then the device or the flood count changes instead."""
        head, message = data[:2].ljust(2, b"\x00"), data[2:]
        roll = rng.random()
        if roll < 0.05:
            return bytes((rng.randrange(len(self.subjects)), head[1])) + message
        if roll < 0.08:
            return bytes((head[0], rng.choice((0, FLOOD_FROM | rng.randrange(8))))) + message
        out = None
        if rng.random() < 0.7:
            tree = _tree(message)
            if tree is not None:
                donor = _tree(rng.choice(pool)[2:]) if pool and rng.random() < 0.3 else None
                out = mutate.structural(mutate.Subject(message, tree, donor,
                                                       write_opened), rng)
                if out is not None and rng.random() < REMAC_SHARE:
                    out = self._remac(out, self._subject(head))
        if out is None or rng.random() < 0.2:
            out = mutate.byte_level(message if out is None else out, rng,
                                    [p[2:] for p in pool[-64:]])
        return head + out

    def execute(self, data: bytes) -> Result:
        subject = self._subject(data)
        subject.reset()
        store, device = subject.store, subject.device
        parties = sorted(self.parties.roles)
        before, counters_before = _digest(store), _counters(store, parties)
        conserved = _conserved(store)
        logs_before = {log: _last_seq(store, log) for log in (SECURITY_LOG, EVENT_LOG)}
        message = data[2:]
        sent = [(message, device.receive(message)) for _ in range(_repeats(data))]
        logged = tuple(_new_entries(store, logs_before))
        return Result(subject.kind, sent, before, _digest(store), counters_before,
                      _counters(store, parties), logged, conserved, _conserved(store))

    def check(self, data: bytes, result: Result) -> Violation | None:
        for party, was in result.counters_before.items():
            now = result.counters_after.get(party, 0)
            if now < was:
                return Violation("counter-went-back", f"{result.kind}: originator "
                                 f"{party.hex().upper()} counter {was} -> {now}", "counters")
        answered = [(m, a) for m, a in result.sent if a]
        if not answered and result.before != result.after:
            return Violation("rejected-changed-state", f"{result.kind}: no Response, yet "
                             f"the store changed (logged: {', '.join(result.logged)})",
                             result.kind)
        violation = _check_conserved(result, [m for m, _ in answered])
        if violation is not None:
            return violation
        device = self._subject(data).device
        for message, answers in answered:
            violation = _check_response(result, message, answers[0], device.eui)
            if violation is not None:
                return violation
        return None

    def feedback(self, data: bytes, result: Result) -> Hashable:
        """The device type, the log entries the input made and the message codes of the
        answers: which check refused it, or which command ran."""
        codes = tuple(_code(a[0]) for _, a in result.sent if a)
        return (result.kind, result.logged, codes, result.before != result.after)

    def reductions(self, data: bytes) -> Iterator[bytes]:
        """Flooding off, then the message's own structural cuts (as the codec's)."""
        if len(data) >= 2 and data[1] >= FLOOD_FROM:
            yield data[:1] + b"\x00" + data[2:]
        for cut in CodecTarget(generate=False).reductions(data[2:]):
            yield data[:2] + cut

    # -- helpers --------------------------------------------------------------------------

    def _subject(self, data: bytes) -> Subject:
        return self.subjects[(data[0] if data else 0) % len(self.subjects)]

    def _remac(self, message: bytes, subject: Subject) -> bytes:
        """The message with a MAC the device accepts (when it decodes far enough)."""
        try:
            msg = decode(message, verify=False)
            return self.parties.remac(message, msg, subject.device.credentials.ka.public_key())
        except (GbcsError, ValueError, TypeError, OverflowError):
            return message


def _repeats(data: bytes) -> int:
    flood = data[1] if len(data) > 1 else 0
    return 2 + (flood & 7) if flood >= FLOOD_FROM else 1


def _digest(store: SqliteStore) -> str:
    """The store's key-value cells (logs aside: they may change) as one hash."""
    h = hashlib.sha256()
    for key in store.keys():
        h.update(key.encode() + b"\0" + encode_value(store.get(key), key).encode() + b"\0")
    return h.hexdigest()


def _conserved(store: SqliteStore) -> dict[str, object]:
    """The registers and credit the invariants follow, by name."""
    out: dict[str, object] = {key: store.get(key) for key in GAS_REGISTERS
                              if store.get(key) is not None}
    raw = store.get(ESME_STATE)
    if raw is not None:
        state = json.loads(raw)
        out.update({f"esme.{name}": state.get(name) for name in ESME_REGISTERS})
        out["esme.credit"] = state.get("credit")
    return out


def _check_conserved(result: Result, accepted: list[bytes]) -> Violation | None:
    """Registers never move; credit moves only under a command that may move it."""
    may_move_credit = False
    for message in accepted:
        uc = by_code(_header(message).message_code)
        may_move_credit |= uc is not None and bool(CREDIT_USE_CASES.search(uc.name))
    for name, was in result.conserved_before.items():
        now = result.conserved_after.get(name)
        if now == was or (name == "esme.credit" and may_move_credit):
            continue
        return Violation("not-conserved", f"{result.kind}: {name} {was!r} -> {now!r}", name)
    return None


def _counters(store: SqliteStore, parties: list[bytes]) -> dict[bytes, int]:
    return {party: store.highest(party) for party in parties}


def _last_seq(store: SqliteStore, log: str) -> int:
    entries = store.entries(log)
    return entries[-1].seq if entries else 0


def _new_entries(store: SqliteStore, since: dict[str, int]) -> Iterator[str]:
    """The reasons (security log) and events (event log) logged since `since`."""
    for log, seq in since.items():
        for entry in store.entries(log):
            if entry.seq > seq and isinstance(entry.value, dict):
                yield f"{log}:{entry.value.get('reason') or entry.value.get('event')}"


def _code(answer: bytes) -> int | None:
    try:
        return _header(answer).message_code
    except GbcsError:
        return None


def _header(data: bytes):
    return decode(data, verify=False).header


def _check_response(result: Result, command: bytes, answer: bytes,
                    eui: bytes) -> Violation | None:
    """The first answer to an accepted command is its Response, from the device, under
    the command's counter, which is now its originator's highest."""
    try:
        asked = _header(command)
        got = _header(answer)
    except GbcsError as err:
        return Violation("response-malformed", f"{result.kind}: {err}", result.kind)
    wrong = []
    if got.cra != CRA_RESPONSE:
        wrong.append(f"CRA {got.cra}")
    if got.message_code != asked.message_code:
        wrong.append(f"message code 0x{got.message_code:04X} for 0x{asked.message_code:04X}")
    if got.originator_counter != asked.originator_counter:
        wrong.append(f"counter {got.originator_counter} for {asked.originator_counter}")
    if got.originator != eui:
        wrong.append(f"originator {got.originator.hex().upper()}")
    if result.counters_after.get(asked.originator, 0) != asked.originator_counter and \
            asked.originator in result.counters_after:
        wrong.append(f"counter kept {result.counters_after[asked.originator]}, "
                     f"accepted {asked.originator_counter}")
    if wrong:
        return Violation("response", f"{result.kind}: " + "; ".join(wrong), result.kind)
    return None


register("device", DeviceTarget)


def run_device(seconds: float, seed: int, rtds: Path | None = None, *,
               max_inputs: int | None = None, findings_dir: Path | None = None) -> dict:
    """Fuzz the emulated devices with the RTDS commands of `rtds` (default: the shared
    RTDS) as seeds; the summary `fuzz device --json` prints. DeviceFuzzError when the
    RTDS or key store cannot be used."""
    return campaign.run(DeviceTarget(rtds), seconds, seed, max_inputs=max_inputs,
                        findings_dir=findings_dir)
