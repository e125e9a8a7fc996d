"""`smetslab bench cbke`: full CBKE exchanges on crypto suite 2 (sect283k1), against a
naive affine double-and-add scalar multiplication measured in the same run.

An exchange is everything both devices compute from the first command to the last: each
reconstructs the other's public key from its certificate (ECQV), makes an ephemeral key,
computes the ECMQV shared secret, derives MacKey and the link key, and makes and checks
the confirmation MACs. Goal: under 200 ms per exchange. The ratio to the baseline (one
naive k·G) says how many naive scalar multiplications an exchange costs, which travels
between machines better than milliseconds do.
"""

from __future__ import annotations

import random
import statistics
import time

from han.cbke import CertificateAuthority, Credentials, KeyEstablishment, Role
from han.cbke.curves import curve_for_suite

GOAL_MS = 200.0
SUITE = 2


def exchange(initiator: Credentials, responder: Credentials) -> bytes:
    """One complete key establishment; returns the agreed link key."""
    u = KeyEstablishment(Role.INITIATOR, initiator)
    v = KeyEstablishment(Role.RESPONDER, responder)
    identity_v = v.on_identity(u.initiate())
    ephemeral_v = v.on_ephemeral(u.on_identity(identity_v))
    mac_v = v.confirm(u.on_ephemeral(ephemeral_v))
    if mac_v is None or u.confirm(mac_v) is not None or u.link_key != v.link_key:
        raise AssertionError("the exchange did not end with one link key on both sides")
    return u.link_key


def _milliseconds(fn, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return times


def run(exchanges: int = 10, baselines: int = 3) -> dict:
    """Time `exchanges` full exchanges and `baselines` naive k·G."""
    rng = random.Random(2024)
    randbytes = rng.randbytes
    ca = CertificateAuthority.generate(SUITE, randbytes=randbytes)
    meter = ca.enrol(bytes.fromhex("0022080000000001"), randbytes=randbytes)
    hub = ca.enrol(bytes.fromhex("0022080000000002"), randbytes=randbytes)
    curve = curve_for_suite(SUITE)

    times = _milliseconds(lambda: exchange(hub, meter), exchanges)
    scalars = [rng.randrange(1, curve.n) for _ in range(baselines)]
    baseline = _milliseconds(lambda: curve.multiply_reference(scalars.pop(), curve.generator),
                             baselines)
    fast_scalars = [rng.randrange(1, curve.n) for _ in range(exchanges)]
    point = curve.multiply_generator(fast_scalars[0])
    fast = _milliseconds(lambda: curve.multiply(fast_scalars.pop(), point), exchanges)

    per_exchange = statistics.mean(times)
    baseline_ms = statistics.mean(baseline)
    result = {
        "suite": SUITE,
        "curve": curve.name,
        "exchanges": exchanges,
        "ms_per_exchange": round(per_exchange, 2),
        "ms_per_exchange_min": round(min(times), 2),
        "baseline_scalar_mult_ms": round(baseline_ms, 2),
        "tnaf_scalar_mult_ms": round(statistics.mean(fast), 2),
        "exchange_to_baseline_ratio": round(per_exchange / baseline_ms, 3),
        "scalar_mult_speedup": round(baseline_ms / statistics.mean(fast), 2),
        "goal_ms": GOAL_MS,
        "meets_goal": per_exchange < GOAL_MS,
    }
    return result


def report(result: dict) -> str:
    return (f"CBKE suite {result['suite']} ({result['curve']}), {result['exchanges']} exchanges\n"
            f"full exchange      {result['ms_per_exchange']:>8.2f} ms  (min "
            f"{result['ms_per_exchange_min']:.2f}; goal < {result['goal_ms']:.0f})\n"
            f"naive affine k·G   {result['baseline_scalar_mult_ms']:>8.2f} ms  "
            f"(exchange = {result['exchange_to_baseline_ratio']:.2f} x baseline)\n"
            f"TNAF k·P           {result['tnaf_scalar_mult_ms']:>8.2f} ms  "
            f"({result['scalar_mult_speedup']:.1f} x faster than the baseline)\n"
            f"{'meets' if result['meets_goal'] else 'MISSES'} the goal")
