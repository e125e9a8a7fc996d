"""Integer arithmetic in Z[tau] for Koblitz curves: partial reduction and width-w TNAF.

On a Koblitz curve y^2 + xy = x^3 + a·x^2 + 1 the Frobenius map tau(x, y) = (x^2, y^2)
satisfies tau^2 = mu·tau - 2 with mu = (-1)^(1-a). An element r0 + r1·tau is the pair
(r0, r1). A scalar k is first replaced by rho = k mod delta, delta = (tau^m - 1)/(tau - 1),
which acts as zero on the order-n subgroup and has norm n, so rho's expansion is about m
digits long (not 2m); then rho is written in width-w tau-adic NAF, digits 0 or odd
u with |u| < 2^(w-1), each nonzero digit followed by at least w-1 zeros. Evaluating it costs
m Frobenius maps (three squarings each) and about m/(w+1) point additions, no doublings.
Reference: Solinas, "Efficient arithmetic on Koblitz curves" (2000).
"""

from __future__ import annotations

from functools import cache

ZTau = tuple[int, int]


def mul(a: ZTau, b: ZTau, mu: int) -> ZTau:
    """(a0 + a1·tau)(b0 + b1·tau), using tau^2 = mu·tau - 2."""
    a0, a1 = a
    b0, b1 = b
    return a0 * b0 - 2 * a1 * b1, a0 * b1 + a1 * b0 + mu * a1 * b1


def conjugate(a: ZTau, mu: int) -> ZTau:
    """The image under tau -> mu - tau; a times its conjugate is its norm."""
    return a[0] + mu * a[1], -a[1]


def norm(a: ZTau, mu: int) -> int:
    return a[0] * a[0] + mu * a[0] * a[1] + 2 * a[1] * a[1]


def tau_power(k: int, mu: int) -> ZTau:
    """tau^k = U_k·tau - 2·U_(k-1), for the Lucas sequence U_0 = 0, U_1 = 1,
    U_(i+1) = mu·U_i - 2·U_(i-1)."""
    previous, current = 0, 1
    for _ in range(k - 1):
        previous, current = current, mu * current - 2 * previous
    return (-2 * previous, current) if k else (1, 0)


def _round_div(a: int, b: int) -> int:
    """a/b rounded to the nearest integer (b > 0)."""
    return (2 * a + b) // (2 * b)


def divide_round(a: ZTau, b: ZTau, mu: int) -> ZTau:
    """The element of Z[tau] nearest a/b, rounding each coordinate of a·conj(b)/N(b)."""
    numerator = mul(a, conjugate(b, mu), mu)
    n = norm(b, mu)
    return _round_div(numerator[0], n), _round_div(numerator[1], n)


def subtract_multiple(a: ZTau, q: ZTau, b: ZTau, mu: int) -> ZTau:
    """a - q·b."""
    qb = mul(q, b, mu)
    return a[0] - qb[0], a[1] - qb[1]


def partial_modulus(m: int, mu: int) -> ZTau:
    """delta = (tau^m - 1)/(tau - 1), an exact division in Z[tau]."""
    t0, t1 = tau_power(m, mu)
    numerator, divisor = (t0 - 1, t1), (-1, 1)
    q = divide_round(numerator, divisor, mu)
    if subtract_multiple(numerator, q, divisor, mu) != (0, 0):
        raise ArithmeticError("tau - 1 does not divide tau^m - 1")
    return q


def partial_reduce(k: int, delta: ZTau, mu: int) -> ZTau:
    """rho = k - round(k/delta)·delta: congruent to k modulo delta, of norm at most N(delta)."""
    return subtract_multiple((k, 0), divide_round((k, 0), delta, mu), delta, mu)


@cache
def window(w: int, mu: int) -> tuple[int, dict[int, ZTau]]:
    """t_w (tau's image in Z/2^w) and the digit values alpha_u = u mods tau^w for odd u.

    t_w = 2·U_(w-1)/U_w mod 2^w; r0 + r1·t_w mod 2^w then tells which alpha_u makes r
    divisible by tau^w. alpha_u is u minus the nearest multiple of tau^w, so of small norm.
    """
    previous, current = 0, 1
    for _ in range(w - 1):
        previous, current = current, mu * current - 2 * previous
    modulus = 1 << w
    t_w = 2 * previous * pow(current, -1, modulus) % modulus
    tau_w = tau_power(w, mu)
    alphas = {u: subtract_multiple((u, 0), divide_round((u, 0), tau_w, mu), tau_w, mu)
              for u in range(1, 1 << (w - 1), 2)}
    return t_w, alphas


def tnaf(rho: ZTau, w: int, mu: int) -> list[int]:
    """Width-w TNAF digits of rho, least significant first: rho = sum u_i·tau^i with u_i
    meaning sign(u_i)·alpha_|u_i|."""
    t_w, alphas = window(w, mu)
    full = 1 << w
    half = full >> 1
    r0, r1 = rho
    digits: list[int] = []
    append = digits.append
    while r0 or r1:
        if r0 & 1:
            u = (r0 + r1 * t_w) & (full - 1)
            if u >= half:
                u -= full
            if u > 0:
                b0, b1 = alphas[u]
                r0, r1 = r0 - b0, r1 - b1
            else:
                b0, b1 = alphas[-u]
                r0, r1 = r0 + b0, r1 + b1
            append(u)
        else:
            append(0)
        half_r0 = r0 >> 1
        r0, r1 = r1 + mu * half_r0, -half_r0
    return digits
