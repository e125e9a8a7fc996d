"""`smetslab bench fleet`: end-to-end non-critical service requests per second across N
premises held in one process, and the memory each premises costs.

Each premises is a CHF and an ESME (single element), each with its own EUI-64, its own
DS and KA key pairs and its own in-memory SQLite store; the CHF routes to its ESME
directly (no HAN radio: the fleet measures the DCC, the crypto and the firmware, not
the virtual medium). The remote parties (Supplier, ACB, ...) are shared by every
premises, as the DCC's are. One `Dcc` serves the fleet: the Supplier's SRV 4.1.1 (ECS17b
Read Instantaneous Import Registers) goes through the DCC's checks and transform, gets
the ACB MAC, the ESME verifies the MAC and its anti-replay counter, runs the DLMS
Access-Request against its engine and MACs its response, the DCC matches the response
to the request, and the User (who holds the Supplier's KA key) verifies its MAC.

DUIS XML parsing and schema validation are left out of the hot path: the requests are
built as `ServiceRequest` objects, as a DCC User client that already parsed them would.

The rate is the steady state of a DCC that has talked to its premises before: every
premises first gets one request (timed apart and reported as the first-contact cost:
it pays the four static-static ECDH agreements, one per key pair, that `gbcs.crypto`
then keeps), then `requests` go round-robin over the fleet. Every message is still
MAC'd and checked with a fresh KDF key and AES-GCM, the response payload encrypted and
opened, and the ESME's anti-replay counter checked and committed.

The baseline, measured in the same run, is the floor of a request: the four KDF +
AES-GCM MACs it needs (ACB MAC, device check, device response MAC, User check) over
static-static ECDH secrets cached per key pair (the uncached ECDH is reported beside
it), and four bare decodes (command and response, once at each end). The time of each
party (DCC submit, CHF, ESME, DCC receive, User) is reported to show where a request
goes, and the process CPU time beside the wall time: on a busy machine the wall time
grows, the CPU time much less. Memory per premises is the growth of the process's
resident set while the fleet is built, over N, extrapolated to 24 GiB.

Goals (issue 6): at least 1,000 service requests/s and 10,000 premises in 24 GiB.
"""

from __future__ import annotations

import gc
import os
import random
import resource
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from time import perf_counter, process_time

from cryptography.hazmat.primitives.asymmetric import ec

from boards.board import DeviceType
from boards.nvm import MEMORY, SqliteStore
from boards.simulator import Simulator
from firmware.chf.chf import DEVICE_LOG_KEY, Chf
from firmware.chf.device_log import INSTALL_CODE, DeviceLog, LogEntry
from firmware.core.credentials import DeviceCredentials, Role
from firmware.esme.esme import Esme
from firmware.esme.objects import Variant
from gbcs import crypto
from gbcs import keystore as keystores
from gbcs.content import CRA_COMMAND, CRA_RESPONSE
from gbcs.message import VALID, decode
from tools.headend import access
from tools.headend.access import COMMISSIONED, Device, User
from tools.headend.dcc import Accepted, Dcc, DccKeys
from tools.headend.duis import Element, RequestId, ServiceRequest
from tools.lab.hub import DEVICE_TYPE
from tools.lab.pki import USER_ROLES, LabPki, generated_parties, install_code, \
    seeded_private_key

GOAL_REQUESTS_PER_S = 1_000.0
GOAL_PREMISES = 10_000
BUDGET_BYTES = 24 * 2**30
START = datetime(2026, 1, 1, tzinfo=UTC)
SRV, SERVICE = "4.1.1", "ReadInstantaneousImportRegisters"
_OUI = 0x02534C  # locally administered ("SL"), as the lab's generated parties


class FleetError(RuntimeError):
    """A request that did not come back verified: which premises and why."""


@dataclass
class Premises:
    """One premises of the fleet: its comms hub and its electricity meter."""

    chf: Chf
    esme: Esme
    mpan: str


@dataclass
class Fleet:
    """N premises, one DCC and the Supplier as its DCC User."""

    sim: Simulator
    pki: LabPki
    dcc: Dcc
    supplier: User
    premises: dict[bytes, Premises] = field(default_factory=dict)   # by ESME EUI
    user_keys: keystores.Keystore = field(default_factory=keystores.Keystore)
    responses: list[bytes] = field(default_factory=list)
    counter: int = 0
    # Wall seconds spent in each party while sending: where a request's time goes.
    seconds: Counter[str] = field(default_factory=Counter)

    def request(self, esme: bytes) -> ServiceRequest:
        """The Supplier's next 4.1.1 to `esme`, built directly (no XML)."""
        self.counter += 1
        return ServiceRequest(RequestId(self.supplier.eui, esme, self.counter), 1, "4.1",
                              SRV, Element(SERVICE))

    def send(self, esme: bytes) -> tuple[bytes, bytes]:
        """One request end to end: the MAC'd command and the response's GBCS, whose MAC
        the User checked."""
        start = perf_counter()
        accepted = self.dcc.submit(self.request(esme), self.supplier)
        self.seconds["submit"] += perf_counter() - start
        if not isinstance(accepted, Accepted) or accepted.data is None:
            raise FleetError(f"{esme.hex().upper()}: DCC did not send the request: "
                             f"{accepted}")
        if not self.responses:
            raise FleetError(f"{esme.hex().upper()}: no response (see the ESME's security "
                             "log)")
        data = self.responses.pop()
        start = perf_counter()
        msg = decode(data, self.user_keys, acb=self.pki.acb.eui)
        self.seconds["user"] += perf_counter() - start
        if msg.header.cra != CRA_RESPONSE or msg.mac != VALID:
            raise FleetError(f"{esme.hex().upper()}: response CRA {msg.header.cra}, MAC "
                             f"{msg.mac}")
        return accepted.data, data

    def _up(self, message: bytes) -> None:
        """CHF -> DCC: the DCC matches it; the User gets it."""
        start = perf_counter()
        response = self.dcc.receive(message)
        self.seconds["dcc_receive"] += perf_counter() - start
        if response is not None and response.gbcs_payload is not None:
            self.responses.append(response.gbcs_payload)


def _eui(kind: int, n: int) -> bytes:
    return (_OUI.to_bytes(3, "big") + bytes([kind]) + n.to_bytes(4, "big"))


def build(count: int, seed: int = 0) -> Fleet:
    """A fleet of `count` premises sharing one DCC and one set of remote parties."""
    rng = random.Random(seed)
    sim = Simulator(START, seed, keep_trace=False)
    pki = LabPki(generated_parties(rng))
    anchors = pki.anchors()
    acb, supplier_party = pki.acb, pki.supplier
    device_ka: dict[bytes, crypto.PublicKey] = {}

    def wan(recipient: bytes, message: bytes) -> None:
        start = perf_counter()
        answers = chfs[recipient].deliver(message)
        fleet.seconds["wan"] += perf_counter() - start
        for answer in answers:
            fleet._up(answer)

    chfs: dict[bytes, Chf] = {}      # by recipient (ESME or CHF) EUI
    dcc = Dcc(db_path=MEMORY, keys=DccKeys(acb.eui, acb.ka, device_ka.get), wan=wan,
              clock=sim)
    supplier = User(supplier_party.eui, USER_ROLES[Role.SUPPLIER], Role.SUPPLIER.value)
    dcc.add_user(supplier)
    fleet = Fleet(sim, pki, dcc, supplier)
    fleet.user_keys.add(supplier_party.eui, keystores.KA,
                        keystores.KeyPair(supplier_party.ka.public_key(), supplier_party.ka))
    for n in range(count):
        chf_creds = DeviceCredentials(_eui(0x00, n), seeded_private_key(rng),
                                      seeded_private_key(rng))
        esme_creds = DeviceCredentials(_eui(0x01, n), seeded_private_key(rng),
                                       seeded_private_key(rng))
        chf_store, esme_store = SqliteStore(MEMORY), SqliteStore(MEMORY)
        DeviceLog(chf_store, DEVICE_LOG_KEY).restore([LogEntry(
            esme_creds.eui, DEVICE_TYPE[DeviceType.ESME], install_code(rng), INSTALL_CODE)])
        esme = Esme(esme_creds, anchors, esme_store, sim, Variant.SINGLE_ELEMENT)

        def route(recipient: bytes, message: bytes, esme: Esme = esme) -> None:
            start = perf_counter()
            answers = esme.receive(message)
            fleet.seconds["esme"] += perf_counter() - start
            for answer in answers:
                fleet._up(answer)

        chf = Chf(chf_creds, anchors, chf_store, sim, route=route)
        chfs[chf_creds.eui] = chfs[esme_creds.eui] = chf
        mpan = f"{1_000_000_000_000 + n}"
        for creds, kind in ((chf_creds, "CHF"), (esme_creds, "ESME")):
            pki.devices[creds.eui] = creds
            device_ka[creds.eui] = creds.ka.public_key()
            fleet.user_keys.add(creds.eui, keystores.KA,
                                keystores.KeyPair(device_ka[creds.eui]))
            dcc.inventory.add(Device(creds.eui, kind, COMMISSIONED,
                                     mpan if kind == "ESME" else "", chf_creds.eui, ""))
        dcc.inventory.register(mpan, access.IS, supplier.eui)
        fleet.premises[esme_creds.eui] = Premises(chf, esme, mpan)
    return fleet


def baseline(command: bytes, response: bytes, rounds: int, seed: int = 1) -> float:
    """Seconds for the floor of one request: the four KDF + AES-GCM MACs it needs (ACB
    MAC, device check, response MAC, User check) over a static-static ECDH Z computed
    once per key pair, as `gbcs.crypto` caches it, and a bare decode (no verification)
    of the command and of the response, each twice (once at each end)."""
    rng = random.Random(seed)
    acb, device, user = (seeded_private_key(rng) for _ in range(3))
    pairs = [(acb, device.public_key()), (device, acb.public_key()),
             (device, user.public_key()), (user, device.public_key())]
    originator, recipient = _eui(0xFF, 1), _eui(0xFF, 2)
    start = perf_counter()
    for counter in range(rounds):
        for private, public in pairs:
            key = crypto.derive_key(crypto.shared_secret(private, public), originator,
                                    CRA_COMMAND, counter, recipient)
            crypto.gcm_mac(key, crypto.iv_for(originator), command)
        for message in (command, command, response, response):
            decode(message, verify=False)
    return (perf_counter() - start) / rounds


def ecdh_seconds(rounds: int = 200, seed: int = 2) -> float:
    """Seconds for one uncached P-256 ECDH: what the first request to a premises adds
    (four of them) before the key-pair cache holds its Z."""
    rng = random.Random(seed)
    private, public = seeded_private_key(rng), seeded_private_key(rng).public_key()
    start = perf_counter()
    for _ in range(rounds):
        private.exchange(ec.ECDH(), public)
    return (perf_counter() - start) / rounds


def rss_bytes() -> int:
    """The resident set now (Linux /proc), else the peak resident set."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run(premises: int = 1000, requests: int = 2000, seed: int = 0) -> dict:
    """Build the fleet, send each premises its first 4.1.1, then time `requests` more
    round-robin over it."""
    if premises < 1 or requests < 1:
        raise ValueError("premises and requests must be at least 1")
    gc.collect()
    rss_before = rss_bytes()
    start = perf_counter()
    fleet = build(premises, seed)
    build_s = perf_counter() - start
    gc.collect()
    rss_after = rss_bytes()
    meters = list(fleet.premises)
    start = perf_counter()
    for esme in meters:                  # first contact: key agreement, first-use tables
        command, response = fleet.send(esme)
    first_contact_s = perf_counter() - start
    fleet.seconds.clear()
    start, cpu_start = perf_counter(), process_time()
    for i in range(requests):
        fleet.send(meters[i % len(meters)])
    seconds = perf_counter() - start
    cpu_seconds = process_time() - cpu_start
    spent = fleet.seconds
    stages = {   # exclusive ms per request
        "dcc_submit": spent["submit"] - spent["wan"],
        "chf": spent["wan"] - spent["esme"] - spent["dcc_receive"],
        "esme": spent["esme"], "dcc_receive": spent["dcc_receive"], "user": spent["user"]}
    floor = baseline(command, response, max(50, min(requests, 500)))
    ecdh = ecdh_seconds()
    rate = requests / seconds
    per_premises = max(rss_after - rss_before, 0) / premises
    fits = int(BUDGET_BYTES / per_premises) if per_premises else 0
    return {
        "premises": premises,
        "requests": requests,
        "seconds": round(seconds, 3),
        "requests_per_s": round(rate, 1),
        "ms_per_request": round(1000 * seconds / requests, 3),
        "cpu_ms_per_request": round(1000 * cpu_seconds / requests, 3),
        "first_contact_ms_per_request": round(1000 * first_contact_s / premises, 3),
        "baseline_ms_per_request": round(1000 * floor, 3),
        "ratio_to_baseline": round(seconds / requests / floor, 2),
        "ecdh_ms": round(1000 * ecdh, 3),
        "ms_per_request_by_party": {name: round(1000 * value / requests, 3)
                                    for name, value in stages.items()},
        "build_s": round(build_s, 2),
        "bytes_per_premises": round(per_premises),
        "premises_in_24_gib": fits,
        "xml_parsing": "skipped (requests built as ServiceRequest objects)",
        "goal_requests_per_s": GOAL_REQUESTS_PER_S,
        "goal_premises": GOAL_PREMISES,
        "meets_rate_goal": rate >= GOAL_REQUESTS_PER_S,
        "meets_memory_goal": fits >= GOAL_PREMISES,
        "meets_goal": rate >= GOAL_REQUESTS_PER_S and fits >= GOAL_PREMISES,
    }


def report(result: dict) -> str:
    return (f"fleet: {result['premises']:,} premises (CHF + ESME each), "
            f"{result['requests']:,} SRV 4.1.1 end to end, full crypto, no XML parsing\n"
            f"requests/s        {result['requests_per_s']:>10,.1f}  "
            f"({result['ms_per_request']:.3f} ms each; goal >= "
            f"{result['goal_requests_per_s']:,.0f}) "
            f"{'meets' if result['meets_rate_goal'] else 'MISSES'}\n"
            f"process CPU       {result['cpu_ms_per_request']:>10.3f} ms  per request "
            f"(wall above; more when the machine is busy)\n"
            f"first contact     {result['first_contact_ms_per_request']:>10.3f} ms  per "
            f"premises (its first request, before the rate: ECDH x 4)\n"
            f"baseline          {result['baseline_ms_per_request']:>10.3f} ms  "
            f"(4 x KDF + GCM on cached Z, 4 bare decodes; a request = "
            f"{result['ratio_to_baseline']:.2f} x)\n"
            f"uncached ECDH     {result['ecdh_ms']:>10.3f} ms  (4 on a premises' first "
            f"request)\n"
            f"memory/premises   {result['bytes_per_premises']:>10,} B  = "
            f"{result['premises_in_24_gib']:,} premises in 24 GiB (goal >= "
            f"{result['goal_premises']:,}) "
            f"{'meets' if result['meets_memory_goal'] else 'MISSES'}\n"
            f"ms/request by party: " + ", ".join(
                f"{name} {ms:.3f}" for name, ms in result["ms_per_request_by_party"].items())
            + f"\nbuilt in {result['build_s']:.2f} s\n"
            f"{'meets' if result['meets_goal'] else 'MISSES'} the goal")

