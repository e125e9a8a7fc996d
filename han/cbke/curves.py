"""The two ZSE Koblitz curves, sect163k1 (crypto suite 1) and sect283k1 (suite 2).

Points are affine `(x, y)` tuples of field ints, or None for the point at infinity.
Scalar multiplication, the cost that dominates CBKE, works on López-Dahab projective
points (X, Y, Z) ~ (X/Z, Y/Z^2), so a point addition needs no field inversion, and walks a
width-w tau-adic NAF of the scalar (`tnaf`), so it needs no point doublings either: only
Frobenius maps (squarings) and about m/(w+1) additions of precomputed affine points.
The affine `add`/`double`/`multiply_reference` are the plain textbook formulas, kept as the
oracle the fast path is tested against and as the benchmark's baseline.

Domain parameters: SEC 2 v1.0 section 3.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property

from han.cbke import tnaf
from han.cbke.errors import CbkeDecodeError, CbkeError
from han.cbke.gf2m import BinaryField

Affine = tuple[int, int] | None
Projective = tuple[int, int, int]
Table = dict[int, tuple[int, int]]
RandomBytes = Callable[[int], bytes]

_INFINITY: Projective = (1, 0, 0)
VARIABLE_WIDTH = 4    # TNAF width for a point seen once: 4 precomputed points
GENERATOR_WIDTH = 7   # for G, whose 32 precomputed points are built once per process


class KoblitzCurve:
    """y^2 + xy = x^3 + a·x^2 + 1 over GF(2^m), with a subgroup of prime order n, cofactor h."""

    def __init__(self, name: str, suite: int, m: int, taps: tuple[int, int, int], a: int,
                 gx: int, gy: int, n: int, h: int) -> None:
        self.name = name
        self.suite = suite
        self.field = BinaryField(m, taps)
        self.a = a
        self.mu = 1 if a == 1 else -1
        self.generator: tuple[int, int] = (gx, gy)
        self.n = n
        self.h = h
        self.delta = tnaf.partial_modulus(m, self.mu)
        self.point_length = 1 + self.field.byte_length
        self.scalar_length = (n.bit_length() + 7) // 8

    def __repr__(self) -> str:
        return f"KoblitzCurve({self.name})"

    # -- affine arithmetic: the reference ---------------------------------------------

    def is_on_curve(self, point: Affine) -> bool:
        if point is None:
            return True
        x, y = point
        f = self.field
        if x >> f.m or y >> f.m:
            return False
        x2 = f.sqr(x)
        right = f.mul(x2, x) ^ 1 ^ (x2 if self.a else 0)
        return f.sqr(y) ^ f.mul(x, y) == right

    def add(self, p: Affine, q: Affine) -> Affine:
        if p is None:
            return q
        if q is None:
            return p
        (x1, y1), (x2, y2) = p, q
        if x1 == x2:
            return self.double(p) if y1 == y2 else None
        f = self.field
        slope = f.mul(y1 ^ y2, f.inv(x1 ^ x2))
        x3 = f.sqr(slope) ^ slope ^ x1 ^ x2 ^ self.a
        return x3, f.mul(slope, x1 ^ x3) ^ x3 ^ y1

    def double(self, p: Affine) -> Affine:
        if p is None or p[0] == 0:
            return None
        x, y = p
        f = self.field
        slope = x ^ f.mul(y, f.inv(x))
        x3 = f.sqr(slope) ^ slope ^ self.a
        return x3, f.sqr(x) ^ f.mul(slope ^ 1, x3)

    def multiply_reference(self, k: int, point: Affine) -> Affine:
        """k·point by affine double-and-add (one inversion per step): slow, but obviously right."""
        result: Affine = None
        for bit in bin(k)[2:] if k > 0 else "":
            result = self.double(result)
            if bit == "1":
                result = self.add(result, point)
        return result

    # -- fast scalar multiplication -------------------------------------------------------

    def multiply(self, k: int, point: Affine) -> Affine:
        """k·point for a point of the order-n subgroup (k is reduced modulo n and delta)."""
        return self.multiply_two(k, point, 0, None)

    def multiply_generator(self, k: int) -> Affine:
        """k·G, with G's precomputed table."""
        digits = self._expand(k, GENERATOR_WIDTH)
        return self._to_affine(self._evaluate([(digits, self._generator_table)]))

    def multiply_two(self, k1: int, p1: Affine, k2: int, p2: Affine) -> Affine:
        """k1·p1 + k2·p2 (points of the order-n subgroup) sharing one chain of Frobenius maps."""
        expansions = [(self._expand(k, VARIABLE_WIDTH), self._precompute(p, VARIABLE_WIDTH))
                      for k, p in ((k1, p1), (k2, p2)) if p is not None and k % self.n]
        return self._to_affine(self._evaluate(expansions)) if expansions else None

    def clear_cofactor(self, point: Affine) -> Affine:
        """h·point: lands in the order-n subgroup (or at infinity for a small-order point)."""
        if point is None:
            return None
        result: Projective = (point[0], point[1], 1)
        for _ in range(self.h.bit_length() - 1):
            result = self._double(result)
        return self._to_affine(result)

    def _expand(self, k: int, width: int) -> list[int]:
        rho = tnaf.partial_reduce(k % self.n, self.delta, self.mu)
        return tnaf.tnaf(rho, width, self.mu)

    @cached_property
    def _generator_table(self) -> Table:
        return self._precompute(self.generator, GENERATOR_WIDTH)

    def _precompute(self, point: tuple[int, int], width: int) -> Table:
        """alpha_u·point for the odd digits u of a width-`width` TNAF, and their negatives.

        Each alpha_u is small, so its own width-2 TNAF (digits ±1, i.e. ±point) is short;
        the results are brought to affine together with a single inversion.
        """
        _, alphas = tnaf.window(width, self.mu)
        x, y = point
        base: Table = {1: point, -1: (x, x ^ y)}
        others = [u for u in alphas if u != 1]
        projective = [self._evaluate([(tnaf.tnaf(alphas[u], 2, self.mu), base)]) for u in others]
        table = dict(base)
        for u, p in zip(others, self._to_affine_many(projective), strict=True):
            if p is None:
                raise ArithmeticError("a TNAF digit multiple of the point is at infinity")
            table[u] = p
            table[-u] = (p[0], p[0] ^ p[1])
        return table

    def _evaluate(self, expansions: list[tuple[list[int], Table]]) -> Projective:
        """Sum over expansions of sum_i digit_i·tau^i·P, Horner-wise from the top digit."""
        frobenius = self.field.sqr3
        add = self._add_mixed
        length = max(len(digits) for digits, _ in expansions)
        padded = [(digits + [0] * (length - len(digits)), table) for digits, table in expansions]
        x, y, z = _INFINITY
        for i in range(length - 1, -1, -1):
            if z:
                x, y, z = frobenius(x, y, z)
            for digits, table in padded:
                u = digits[i]
                if u:
                    x, y, z = add(x, y, z, table[u])
        return x, y, z

    def _add_mixed(self, x1: int, y1: int, z1: int, q: tuple[int, int]) -> Projective:
        """(x1, y1, z1) + q, q affine: 8 multiplications and 5 squarings, no inversion."""
        x2, y2 = q
        if not z1:
            return x2, y2, 1
        f = self.field
        mul, sqr = f.mul, f.sqr
        z1_2 = sqr(z1)
        a = mul(y2, z1_2) ^ y1
        b = mul(x2, z1) ^ x1
        if not b:
            return self._double((x2, y2, 1)) if not a else _INFINITY
        c = mul(z1, b)
        d = mul(sqr(b), c ^ z1_2 if self.a else c)
        z3 = sqr(c)
        e = mul(a, c)
        x3 = sqr(a) ^ d ^ e
        g = mul(x2 ^ y2, sqr(z3))
        return x3, mul(e ^ z3, x3 ^ mul(x2, z3)) ^ g, z3

    def _double(self, p: Projective) -> Projective:
        """2·p in López-Dahab coordinates (b = 1): 3 multiplications and 5 squarings."""
        x1, y1, z1 = p
        if not z1 or not x1:
            return _INFINITY
        f = self.field
        mul, sqr = f.mul, f.sqr
        x1_2, z1_2 = sqr(x1), sqr(z1)
        z3 = mul(x1_2, z1_2)
        z1_4 = sqr(z1_2)
        x3 = sqr(x1_2) ^ z1_4
        t = sqr(y1) ^ z1_4 ^ (z3 if self.a else 0)
        return x3, mul(z1_4, z3) ^ mul(x3, t), z3

    def _to_affine(self, p: Projective) -> Affine:
        x, y, z = p
        if not z:
            return None
        f = self.field
        z_inv = f.inv(z)
        return f.mul(x, z_inv), f.mul(y, f.sqr(z_inv))

    def _to_affine_many(self, points: list[Projective]) -> list[Affine]:
        """Affine forms of many points for one inversion (Montgomery's trick)."""
        f = self.field
        mul = f.mul
        prefix = []
        running = 1
        for _, _, z in points:
            if z:
                running = mul(running, z)
            prefix.append(running)
        inverse = f.inv(running)
        result: list[Affine] = [None] * len(points)
        for i in range(len(points) - 1, -1, -1):
            x, y, z = points[i]
            if not z:
                continue
            z_inv = mul(inverse, prefix[i - 1]) if i else inverse
            inverse = mul(inverse, z)
            result[i] = (mul(x, z_inv), mul(y, f.sqr(z_inv)))
        return result

    # -- encodings (SEC 1 section 2.3) ------------------------------------------------

    def encode_point(self, point: Affine) -> bytes:
        """Compressed form: 02 or 03 (the low bit of y/x) then x."""
        if point is None:
            raise CbkeError("the point at infinity has no compressed form here")
        x, y = point
        f = self.field
        y_bit = f.mul(y, f.inv(x)) & 1 if x else 0
        return bytes([2 | y_bit]) + f.to_bytes(x)

    def decode_point(self, data: bytes, field: str = "point", offset: int = 0
                     ) -> tuple[int, int]:
        """A compressed point on the curve, other than the point of order 2 (x = 0).

        The check is SEC 1's partial validation; small-order components are removed by the
        cofactor in ECMQV.
        """
        if len(data) != self.point_length:
            raise CbkeDecodeError(f"a {self.name} point is {self.point_length} bytes, "
                                  f"not {len(data)}", offset, field)
        if data[0] not in (2, 3):
            raise CbkeDecodeError(f"point encoding {data[0]:#04x} is not compressed "
                                  "(02 or 03)", offset, field)
        f = self.field
        x = f.element(data[1:])
        if x is None:
            raise CbkeDecodeError(f"x has bits beyond GF(2^{f.m})", offset + 1, field)
        if x == 0:
            raise CbkeDecodeError("x = 0 is the point of order 2, not a public key",
                                  offset + 1, field)
        x_inv = f.inv(x)
        z = f.solve_quadratic(x ^ self.a ^ f.sqr(x_inv))
        if z is None:
            raise CbkeDecodeError(f"no point of {self.name} has this x", offset + 1, field)
        if z & 1 != data[0] & 1:
            z ^= 1
        return x, f.mul(x, z)

    def encode_scalar(self, k: int) -> bytes:
        return k.to_bytes(self.scalar_length, "big")

    def random_scalar(self, randbytes: RandomBytes) -> int:
        """A key in [1, n-1]; 64 spare random bits make the modulo bias negligible."""
        return int.from_bytes(randbytes(self.scalar_length + 8), "big") % (self.n - 1) + 1

    def decode_scalar(self, data: bytes, field: str = "private key") -> int:
        """A private key: `scalar_length` big-endian bytes holding 0 < k < n."""
        if len(data) != self.scalar_length:
            raise CbkeDecodeError(f"a {self.name} private key is {self.scalar_length} bytes, "
                                  f"not {len(data)}", 0, field)
        k = int.from_bytes(data, "big")
        if not 0 < k < self.n:
            raise CbkeDecodeError("a private key must lie in [1, n-1]", 0, field)
        return k


SECT163K1 = KoblitzCurve(
    "sect163k1", 1, 163, (7, 6, 3), 1,
    0x02FE13C0537BBC11ACAA07D793DE4E6D5E5C94EEE8,
    0x0289070FB05D38FF58321F2E800536D538CCDAA3D9,
    0x04000000000000000000020108A2E0CC0D99F8A5EF, 2)

SECT283K1 = KoblitzCurve(
    "sect283k1", 2, 283, (12, 7, 5), 0,
    0x0503213F78CA44883F1A3B8162F188E553CD265F23C1567A16876913B0C2AC2458492836,
    0x01CCDA380F1C9E318D90F95D07E5426FE87E45C0E8184698E45962364E34116177DD2259,
    0x01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFE9AE2ED07577265DFF7F94451E061E163C61, 4)

CURVES = {1: SECT163K1, 2: SECT283K1}


def curve_for_suite(suite: int) -> KoblitzCurve:
    try:
        return CURVES[suite]
    except KeyError:
        raise CbkeError(f"no crypto suite {suite} (1 is sect163k1, 2 is sect283k1)") from None
