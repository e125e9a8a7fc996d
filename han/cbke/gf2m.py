"""Arithmetic in GF(2^m) over a pentanomial basis, on plain Python ints.

An element is an int whose bit i is the coefficient of x^i. CPython has no carry-less
multiply, so a product is a windowed comb: two 16-entry tables of the multiplicand's small
multiples (u(x)·a and u(x)·x^4·a), indexed by the high and low nibble of each byte of the
multiplier (split by byte-translation tables, which run in C), one shift per byte; then the
high half is folded back twice with the sparse reduction polynomial. Squaring is linear in
GF(2), so it only spreads bits (again by byte tables). Inversion is the binary extended
Euclid on ints, which CPython runs fast enough (about seven multiplications' worth) that
affine conversions stay cheap. None of this is constant-time: it is lab code.
"""

from __future__ import annotations

from collections.abc import Callable

_HIGH_NIBBLE = bytes(i >> 4 for i in range(256))
_LOW_NIBBLE = bytes(i & 15 for i in range(256))
# A nibble's bits spread to the even positions of a byte: squaring one nibble at a time.
_SPREAD_HIGH = bytes(sum(((i >> 4) >> k & 1) << (2 * k) for k in range(4)) for i in range(256))
_SPREAD_LOW = bytes(sum(((i & 15) >> k & 1) << (2 * k) for k in range(4)) for i in range(256))


class BinaryField:
    """GF(2^m) with reduction polynomial x^m + x^k1 + x^k2 + x^k3 + 1 (m > 2·k1 > ...).

    `mul`, `sqr`, `sqr3` and `reduce` are closures built for this field so the hot loops of
    point arithmetic pay no attribute lookups for m, the mask or the taps.
    """

    __slots__ = ("m", "taps", "modulus", "byte_length", "mul", "sqr", "sqr3", "reduce")

    def __init__(self, m: int, taps: tuple[int, int, int]) -> None:
        if not (m > 2 * taps[0] and taps[0] > taps[1] > taps[2] > 0):
            raise ValueError(f"x^{m} + x^{taps[0]} + x^{taps[1]} + x^{taps[2]} + 1 is not "
                             "a pentanomial this field can fold in two steps")
        self.m = m
        self.taps = taps
        self.modulus = (1 << m) | (1 << taps[0]) | (1 << taps[1]) | (1 << taps[2]) | 1
        self.byte_length = (m + 7) // 8
        self.reduce, self.mul, self.sqr, self.sqr3 = _kernels(m, taps, self.byte_length)

    def inv(self, a: int) -> int:
        """a^-1, by the extended Euclidean algorithm on polynomials over GF(2)."""
        if a == 0:
            raise ZeroDivisionError("0 has no inverse in GF(2^m)")
        u, v, g1, g2 = a, self.modulus, 1, 0
        lu, lv = u.bit_length(), v.bit_length()
        while lu > 1:
            j = lu - lv
            if j < 0:
                u, v, g1, g2, lu, lv, j = v, u, g2, g1, lv, lu, -j
            u ^= v << j
            g1 ^= g2 << j
            lu = u.bit_length()
        return self.reduce(g1)

    def half_trace(self, a: int) -> int:
        """Sum of a^(4^i) for i <= (m-1)/2: a root z of z^2 + z = a when Tr(a) = 0 (m odd)."""
        sqr = self.sqr
        z = a
        for _ in range((self.m - 1) // 2):
            z = sqr(sqr(z)) ^ a
        return z

    def solve_quadratic(self, beta: int) -> int | None:
        """A z with z^2 + z = beta, or None when there is none (trace of beta is 1)."""
        z = self.half_trace(beta)
        return z if self.sqr(z) ^ z == beta else None

    def element(self, data: bytes) -> int | None:
        """The field element big-endian `data` encodes, or None if it has bits past x^(m-1)."""
        value = int.from_bytes(data, "big")
        return value if value >> self.m == 0 else None

    def to_bytes(self, a: int) -> bytes:
        return a.to_bytes(self.byte_length, "big")


def _kernels(m: int, taps: tuple[int, int, int], byte_length: int
             ) -> tuple[Callable[[int], int], Callable[[int, int], int], Callable[[int], int],
                        Callable[[int, int, int], tuple[int, int, int]]]:
    k1, k2, k3 = taps
    mask = (1 << m) - 1
    high, low = _HIGH_NIBBLE, _LOW_NIBBLE
    spread_high, spread_low = _SPREAD_HIGH, _SPREAD_LOW
    doubled = 2 * byte_length

    def reduce(c: int) -> int:
        """c mod f for c below x^(2m): two folds suffice because 2·k1 < m."""
        t = c >> m
        if t:
            c = (c & mask) ^ t ^ (t << k1) ^ (t << k2) ^ (t << k3)
            t = c >> m
            if t:
                c = (c & mask) ^ t ^ (t << k1) ^ (t << k2) ^ (t << k3)
        return c

    def multiples(a: int) -> tuple[int, ...]:
        """u(x)·a for the 16 polynomials u of degree < 4, indexed by u's bits."""
        a2, a4, a8 = a << 1, a << 2, a << 3
        a3, a5, a6 = a2 ^ a, a4 ^ a, a4 ^ a2
        a7 = a6 ^ a
        return (0, a, a2, a3, a4, a5, a6, a7,
                a8, a8 ^ a, a8 ^ a2, a8 ^ a3, a8 ^ a4, a8 ^ a5, a8 ^ a6, a8 ^ a7)

    def mul(a: int, b: int) -> int:
        low_table, high_table = multiples(a), multiples(a << 4)
        r = 0
        digits = b.to_bytes(byte_length, "big")
        for h, lo in zip(digits.translate(high), digits.translate(low), strict=True):
            r = (r << 8) ^ high_table[h] ^ low_table[lo]
        return reduce(r)

    def sqr(a: int) -> int:
        digits = a.to_bytes(byte_length, "big")
        spread = bytearray(doubled)
        spread[0::2] = digits.translate(spread_high)
        spread[1::2] = digits.translate(spread_low)
        return reduce(int.from_bytes(spread, "big"))

    def sqr3(x: int, y: int, z: int) -> tuple[int, int, int]:
        """(x^2, y^2, z^2) in one pass over the bytes: a López-Dahab point's Frobenius map."""
        digits = x.to_bytes(byte_length, "big") + y.to_bytes(byte_length, "big") \
            + z.to_bytes(byte_length, "big")
        spread = bytearray(3 * doubled)
        spread[0::2] = digits.translate(spread_high)
        spread[1::2] = digits.translate(spread_low)
        return (reduce(int.from_bytes(spread[:doubled], "big")),
                reduce(int.from_bytes(spread[doubled:2 * doubled], "big")),
                reduce(int.from_bytes(spread[2 * doubled:], "big")))

    return reduce, mul, sqr, sqr3
