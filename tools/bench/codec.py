"""`smetslab bench codec`: decode and fully verify the RTDS set, against the raw ECDSA
P-256 verify rate of `cryptography` measured in the same run.

Goal (issue 2): decode+verify >= 0.66 x raw verify rate; decode alone >= 20,000 msg/s.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from gbcs import crypto
from gbcs.keystore import Keystore
from gbcs.message import decode

VERIFY_RATIO_GOAL = 0.66
DECODE_ONLY_GOAL = 20_000


def default_shared() -> Path:
    env = os.environ.get("SMETSLAB_SHARED")
    return Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared"


def load_rtds(folder: Path) -> list[bytes]:
    return [bytes.fromhex(p.read_text().strip()) for p in sorted(folder.glob("*/*.HEX"))]


def _rate(fn, items: list, seconds: float) -> float:
    """Items per second over whole passes of `items`, for at least `seconds`."""
    done, start = 0, time.perf_counter()
    while True:
        for item in items:
            fn(item)
        done += len(items)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return done / elapsed


def raw_verify_rate(seconds: float) -> float:
    """ECDSA P-256/SHA-256 verifications per second of a 200-byte message."""
    key = crypto.generate_private_key()
    public = key.public_key()
    data = bytes(range(200))
    signature = crypto.sign(key, data)
    batch = [signature] * 200
    return _rate(lambda sig: crypto.verify(public, data, sig), batch, seconds)


def run(rtds: Path | None = None, keystore: Path | None = None,
        seconds: float = 3.0) -> dict:
    shared = default_shared()
    rtds = rtds or shared / "vectors" / "rtds" / "RTDS-4.5.0"
    keystore = keystore or shared / "vectors" / "rtds" / "keystore"
    messages = load_rtds(rtds)
    if not messages:
        raise SystemExit(f"no RTDS messages under {rtds}")
    store = Keystore.from_dir(keystore)
    checked = [decode(m, store) for m in messages]  # warm the shared-secret cache
    signatures = sum(m.signature == "valid" for m in checked)
    macs = sum(m.mac == "valid" for m in checked)

    decode_only = _rate(lambda m: decode(m, None, verify=False), messages, seconds)
    full = _rate(lambda m: decode(m, store), messages, seconds)
    ecdsa = raw_verify_rate(seconds)
    ratio = full / ecdsa
    return {
        "messages": len(messages),
        "signatures_checked": signatures,
        "macs_checked": macs,
        "messages_per_s": round(full, 1),
        "decode_only_per_s": round(decode_only, 1),
        "ecdsa_verify_per_s": round(ecdsa, 1),
        "ratio_to_ecdsa_verify": round(ratio, 3),
        "meets_goal": ratio >= VERIFY_RATIO_GOAL and decode_only >= DECODE_ONLY_GOAL,
    }


def report(result: dict) -> str:
    return (f"{result['messages']} RTDS messages ({result['signatures_checked']} signatures, "
            f"{result['macs_checked']} MACs)\n"
            f"decode + verify  {result['messages_per_s']:>10,.0f} msg/s  "
            f"= {result['ratio_to_ecdsa_verify']:.2f} x raw ECDSA verify "
            f"(goal {VERIFY_RATIO_GOAL})\n"
            f"decode only      {result['decode_only_per_s']:>10,.0f} msg/s  "
            f"(goal {DECODE_ONLY_GOAL:,})\n"
            f"raw ECDSA verify {result['ecdsa_verify_per_s']:>10,.0f} /s\n"
            f"{'meets' if result['meets_goal'] else 'MISSES'} the goal")
