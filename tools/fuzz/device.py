"""`smetslab fuzz device`: mutated and malicious GBCS commands against the emulated
ESME, GSME, GPF and CHF, sent over the WAN to the comms hub as the DCC sends them: the
CHF answers its own, hands the GPF's over inside the hub and routes the rest by
recipient (and device log) to the device's command pipeline (`GbcsDevice.receive`).

An input is `device index, mode byte, GBCS message`: the index picks the device type
(modulo how many there are); the mode byte says how the message is sent:
- below 0xE0: once;
- 0xE0-0xEF: cut into GBT blocks of 2**(4 + (mode & 7)) bytes, which the device puts
  back together (0xE8 and up: the blocks in reverse order, the last one twice);
- 0xF0-0xF7: 2 + (mode & 7) times in a row (replays of an accepted command);
- 0xF8-0xFF: once, then the device's clock runs 2**(mode & 7) hours (future-dated
  commands fire, credit and timers move): compared with a twin run of the same hours
  without the message.
Seeds are the RTDS commands of each type, re-MAC'd for the emulated device (as
`tools.conformance` replays them); mutants are field-level edits through the codec's
model (counters, codes, dates, lengths, nested payloads, octets: wrong signer, wrong
recipient, stale counters, out-of-range values, future dates) that are re-MAC'd half of
the time so they get past the MAC check, and byte-level edits that are not (wrong MAC,
oversized or broken GBT, junk).

Every input runs from the devices' snapshots (stores restored, in-memory keys, anchors
and timers reloaded from them), so a finding replays alone. Invariants:
- nothing escapes the hub or a device (the runner counts an exception as a crash);
- a message that gets no Response changes no state but the logs, in any device (a
  digest of each store's key-value cells and anti-replay counters equals the one before,
  or the twin run's when the clock ran);
- originator counters never go backwards, and a Response means the command's counter is
  now its originator's highest;
- an answer is a Response (CRA 2) to the command's message code under the command's
  counter, sent by the device, before any alerts; what else the device sends (security
  alerts on a rejection, alerts while its clock runs) is its own alerts;
- registers never move and credit only under a command that may move it (against the
  twin run when the clock ran).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from random import Random
from typing import Hashable, Iterator, Sequence

from boards.nvm import SqliteStore, encode_value
from firmware.core.device import EVENT_LOG, ORIGINATOR_COUNTER, SECURITY_LOG, GbcsDevice
from gbcs import gbt
from gbcs.errors import GbcsDecodeError, GbcsEncodeError, GbcsError
from gbcs.keystore import Keystore
from gbcs.message import DecodedMessage, decode
from gbcs.usecases import by_code
from tools import conformance
from tools.fuzz import campaign, mutate
from tools.fuzz import corpus as corpora
from tools.fuzz.codec import CodecTarget, _tree, write_opened
from tools.fuzz.target import Violation, register

GBT_FROM, GBT_SHUFFLED = 0xE0, 0x08  # mode bytes 0xE0-0xEF: sent as GBT blocks
FLOOD_FROM = 0xF0  # mode bytes 0xF0-0xF7 send the message 2 + (byte & 7) times
CLOCK_FROM = 0xF8  # mode bytes 0xF8-0xFF: once, then 2**(byte & 7) hours of clock
CRA_ALERT = 3
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
        self.digest = _digest(self.store)
        self.clock = self.device.clock.snapshot()
        engine = getattr(self.device, "engine", None)  # the ESME's metering engine
        self.engine = engine.snapshot() if engine is not None else None

    def reset(self) -> None:
        """Back to the snapshot: the virtual clock and its timers, the store, the
        metering engine's volatile state, open GBT transfers, and what the device
        keeps in memory of its store (keys, anchors, future-dated timers)."""
        self.device.clock.restore(self.clock)
        self.store.restore(self.snapshot)
        if self.engine is not None:
            self.device.engine.restore(self.engine)
        self.device.take_alerts()
        self.device.gbt.clear()
        self.device._reload()


@dataclass(slots=True)
class Result:
    """What one input did: the device type, the answers to each message sent, the
    alerts sent while the clock ran, and per device touched (by type) the state digests
    and counters before and after (or of the twin run), the conserved figures and the
    log entries the input made."""

    kind: str
    sent: list[tuple[bytes, list[bytes]]]  # (whole message, answers) per send
    before: dict[str, str]
    after: dict[str, str]
    counters_before: dict[bytes, int]
    counters_after: dict[bytes, int]
    logged: tuple[str, ...]
    conserved_before: dict[str, object]
    conserved_after: dict[str, object]
    alerts: list[bytes] = field(default_factory=list)
    eui: bytes = b""


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
        self._by_kind = {s.kind: s for s in self.subjects}
        self._touched = set(self._by_kind)  # reset before the first input
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
            if rng.random() < 0.15:  # the same command flooded, in GBT, or run in time
                yield data[:1] + bytes((_mode(rng),)) + data[2:]

    def mutate(self, data: bytes, rng: Random, pool: Sequence[bytes]) -> bytes:
        """A field-level mutant (re-MAC'd half of the time), else byte-level ones; now
        and then the device or the mode changes instead, or the message becomes one
        stray GBT block of itself (any block number, oversized ones included)."""
        head, message = data[:2].ljust(2, b"\x00"), data[2:]
        roll = rng.random()
        if roll < 0.05:
            return bytes((rng.randrange(len(self.subjects)), head[1])) + message
        if roll < 0.1:
            return bytes((head[0], _mode(rng))) + message
        if roll < 0.13:
            block = _stray_block(message, rng)
            if block is not None:
                return head + block
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
        """Send the input through the hub; counters, conserved figures and alerts are
        the addressed device's (the picked one when the recipient is none of them)."""
        mode = data[1] if len(data) > 1 else 0
        message = data[2:]
        target = next((s for s in self.subjects if s.device.eui == _recipient(message)),
                      self._subject(data))
        parties = sorted(self.parties.roles)
        hours = 1 << (mode & 7) if mode >= CLOCK_FROM else 0
        twin = self._twin(target, hours) if hours else None
        self._reset()
        before = twin or {s.kind: s.digest for s in self.subjects}
        counters_before = _counters(target.store, parties)
        conserved = twin.conserved if twin else _conserved(target.store)
        logs_before = {(s.kind, log): _last_seq(s.store, log)
                       for s in self.subjects for log in (SECURITY_LOG, EVENT_LOG)}
        sent = [(message, self._send(message, mode)) for _ in range(_repeats(mode))]
        alerts = self._run_clock(target, hours) if hours else target.device.take_alerts()
        after = self._digests()
        logged = tuple(_new_entries(self.subjects, logs_before))
        return Result(target.kind, sent, dict(before), after, counters_before,
                      _counters(target.store, parties), logged, conserved,
                      _conserved(target.store), alerts, target.device.eui)

    def check(self, data: bytes, result: Result) -> Violation | None:
        for party, was in result.counters_before.items():
            now = result.counters_after.get(party, 0)
            if now < was:
                return Violation("counter-went-back", f"{result.kind}: originator "
                                 f"{party.hex().upper()} counter {was} -> {now}", "counters")
        answered = [(m, a) for m, a in result.sent if a]
        changed = sorted(k for k in result.after if result.before.get(k) != result.after[k])
        if not answered and changed:
            return Violation("rejected-changed-state", f"{result.kind}: no Response, yet "
                             f"the store of {', '.join(changed)} changed (logged: "
                             f"{', '.join(result.logged)})", result.kind)
        violation = _check_conserved(result, [m for m, _ in answered])
        if violation is not None:
            return violation
        for message, answers in answered:
            violation = _check_response(result, message, answers[0], result.eui)
            if violation is not None:
                return violation
        for alert in result.alerts:
            violation = _check_alert(result, alert)
            if violation is not None:
                return violation
        return None

    # -- sending through the hub ------------------------------------------------------

    def _reset(self) -> None:
        """The devices the last input touched back to their snapshots."""
        for subject in self.subjects:
            if subject.kind in self._touched:
                subject.reset()
        self._touched.clear()

    def _digests(self) -> dict[str, str]:
        return {s.kind: _digest(s.store) if s.kind in self._touched else s.digest
                for s in self.subjects}

    def _send(self, message: bytes, mode: int) -> list[bytes]:
        """What the devices answer to `message` sent as `mode` says (whole, or GBT)."""
        if GBT_FROM <= mode < FLOOD_FROM:
            blocks = _gbt_blocks(message, 1 << (4 + (mode & 7)))
            if blocks is not None:
                if mode & GBT_SHUFFLED:
                    blocks = blocks[-1:] + blocks[::-1]  # the last block twice
                return [a for block in blocks for a in self._deliver(block)]
        return self._deliver(message)

    def _deliver(self, message: bytes) -> list[bytes]:
        """One message over the WAN: the hub's GPF takes its own; the CHF answers its own
        and routes the rest to the device its log names."""
        hub = self._by_kind.get("CHF")
        gpf = self._by_kind.get("GPF")
        if hub is None:  # no CHF firmware: straight to the device addressed
            return self._to_device(_recipient(message), message)
        if gpf is not None and _recipient(message) == gpf.device.eui:
            self._touched.add(gpf.kind)
            return gpf.device.receive(message)
        self._touched.add(hub.kind)
        routed: list[bytes] = []
        hub.device.route = lambda eui, m: routed.extend(self._to_device(eui, m))
        return hub.device.deliver(message) + routed

    def _to_device(self, eui: bytes | None, message: bytes) -> list[bytes]:
        subject = next((s for s in self.subjects if s.device.eui == eui), None)
        if subject is None:
            return []
        self._touched.add(subject.kind)
        return subject.device.receive(message)

    def _twin(self, subject: Subject, hours: int) -> _Twin:
        """The digests and conserved figures after `hours` of clock with nothing sent."""
        self._reset()
        self._run_clock(subject, hours)
        twin = _Twin(self._digests())
        twin.conserved = _conserved(subject.store)
        return twin

    def _run_clock(self, subject: Subject, hours: int) -> list[bytes]:
        self._touched.add(subject.kind)
        clock = subject.device.clock
        clock.run_until(clock.now() + timedelta(hours=hours))
        return subject.device.take_alerts()

    def feedback(self, data: bytes, result: Result) -> Hashable:
        """The device type, the log entries the input made and the message codes of the
        answers: which check refused it, or which command ran."""
        codes = tuple(_code(a[0]) for _, a in result.sent if a)
        return (result.kind, result.logged, codes, result.before != result.after)

    def reductions(self, data: bytes) -> Iterator[bytes]:
        """Sent once (no GBT, flood or clock), then the message's own structural cuts
        (as the codec's)."""
        if len(data) >= 2 and data[1] >= GBT_FROM:
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


class _Twin(dict):
    """Digests by device type after a run of the clock with nothing sent."""

    conserved: dict[str, object]


def _mode(rng: Random) -> int:
    """A mode byte other than 'once': GBT, flood or clock, evenly."""
    base = rng.choice((GBT_FROM, GBT_FROM | GBT_SHUFFLED, FLOOD_FROM, CLOCK_FROM))
    return base | rng.randrange(8)


def _repeats(mode: int) -> int:
    return 2 + (mode & 7) if FLOOD_FROM <= mode < CLOCK_FROM else 1


def _recipient(message: bytes) -> bytes | None:
    try:
        return _header(message).recipient
    except GbcsError:
        return None


def _stray_block(message: bytes, rng: Random) -> bytes | None:
    """A piece of `message` as one GBT block under its routing header: a random block
    number (up to far beyond what a device takes), last or not, long or empty."""
    try:
        h = _header(message)
        start = rng.randrange(len(message) + 1)
        return gbt.gbt_block_message(
            cra=h.cra, originator_counter=h.originator_counter, originator=h.originator,
            recipient=h.recipient, message_code=h.message_code,
            block_number=rng.choice((1, 2, rng.randrange(1, 0x10000))),
            data=message[start:start + rng.choice((0, 64, 4096))] * rng.choice((1, 8)),
            last=rng.random() < 0.5)
    except (GbcsError, GbcsEncodeError, ValueError, TypeError, OverflowError):
        return None


def _gbt_blocks(message: bytes, size: int) -> list[bytes] | None:
    """`message` as GBT block messages under its own routing header (None when the
    header does not decode or does not fit one)."""
    try:
        h = _header(message)
        return gbt.split(message, size, cra=h.cra, originator_counter=h.originator_counter,
                         originator=h.originator, recipient=h.recipient,
                         message_code=h.message_code)
    except (GbcsError, GbcsEncodeError, ValueError, TypeError, OverflowError):
        return None


def _digest(store: SqliteStore) -> str:
    """The store's key-value cells as one hash; aside: the logs and the device's own
    originator counter, which a rejected command may move by raising a security alert
    (whose sender and form `_check_alert` checks)."""
    h = hashlib.sha256()
    for key in store.keys():
        if key == ORIGINATOR_COUNTER:
            continue
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


def _new_entries(subjects: list[Subject], since: dict[tuple[str, str], int]) -> Iterator[str]:
    """The reasons (security log) and events (event log) logged since `since`, by
    device type and log."""
    stores = {s.kind: s.store for s in subjects}
    for (kind, log), seq in since.items():
        for entry in stores[kind].entries(log):
            if entry.seq > seq and isinstance(entry.value, dict):
                what = entry.value.get('reason') or entry.value.get('event')
                yield f"{kind}:{log}:{what}"


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


def _check_alert(result: Result, alert: bytes) -> Violation | None:
    """What a device sends besides Responses is an alert of its own."""
    try:
        h = _header(alert)
    except GbcsError as err:
        return Violation("alert-malformed", f"{result.kind}: {err}", result.kind)
    if h.cra != CRA_ALERT or h.originator != result.eui:
        return Violation("alert", f"{result.kind}: sent CRA {h.cra} from "
                         f"{h.originator.hex().upper()} besides its Responses", result.kind)
    return None


register("device", DeviceTarget)


def run_device(seconds: float, seed: int, rtds: Path | None = None, *,
               max_inputs: int | None = None, findings_dir: Path | None = None) -> dict:
    """Fuzz the emulated devices with the RTDS commands of `rtds` (default: the shared
    RTDS) as seeds; the summary `fuzz device --json` prints. DeviceFuzzError when the
    RTDS or key store cannot be used."""
    return campaign.run(DeviceTarget(rtds), seconds, seed, max_inputs=max_inputs,
                        findings_dir=findings_dir)
