"""The spread of a few numbers (seeds): mean, sample standard deviation, n and a t interval.

Every spread the experiment reports comes from `describe`: the standard deviation is the sample
one (ddof = 1: with 3 seeds, the population formula underestimates it by a factor √(2/3)), and
the interval of the mean uses Student's t with n − 1 degrees of freedom. With one value neither
is defined: they are None, and `spread_text` / `interval_text` say "n/a", never 0.

No scipy: the t quantile is the exact inverse of the t distribution function, written with the
regularized incomplete beta function (a continued fraction, as in Numerical Recipes §6.4).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Iterable, Mapping

UNDEFINED = "n/a"


@dataclass(frozen=True)
class Spread:
    """mean, sample std (ddof 1), n and the `confidence` t interval of the mean; std, low and
    high are None when n < 2 (undefined, not zero)."""

    mean: float
    std: float | None
    n: int
    low: float | None
    high: float | None
    confidence: float = 0.95

    def as_dict(self) -> dict:
        return asdict(self)


def describe(values: Iterable[float], confidence: float = 0.95) -> Spread:
    """Mean, sample standard deviation (ddof 1), n and the t interval of the mean of `values`."""
    values = [float(v) for v in values]
    n = len(values)
    if n == 0:
        raise ValueError("describe() needs at least one value")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence = {confidence}: give a number between 0 and 1")
    mean = math.fsum(values) / n
    if n < 2:
        return Spread(mean, None, n, None, None, confidence)
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    half = t_quantile(0.5 + confidence / 2, n - 1) * std / math.sqrt(n)
    return Spread(mean, std, n, mean - half, mean + half, confidence)


def t_quantile(p: float, df: float) -> float:
    """The p-quantile of Student's t with df degrees of freedom (scipy.stats.t.ppf(p, df))."""
    if not 0 < p < 1:
        raise ValueError(f"p = {p}: give a probability strictly between 0 and 1")
    if df <= 0:
        raise ValueError(f"df = {df}: the degrees of freedom must be positive")
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_quantile(1 - p, df)
    high = 1.0
    while t_cdf(high, df) < p:
        high *= 2
    low = 0.0
    for _ in range(200):  # bisection: the bracket halves each time, far below float precision
        middle = (low + high) / 2
        if middle in (low, high):
            break
        low, high = (middle, high) if t_cdf(middle, df) < p else (low, middle)
    return (low + high) / 2


def t_cdf(t: float, df: float) -> float:
    """P(T ≤ t) for Student's t with df degrees of freedom."""
    tail = 0.5 * regularized_beta(df / (df + t * t), df / 2, 0.5)  # P(T > |t|)
    return 1 - tail if t >= 0 else tail


def regularized_beta(x: float, a: float, b: float) -> float:
    """I_x(a, b), the regularized incomplete beta function, for 0 ≤ x ≤ 1 and a, b > 0."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):  # the continued fraction converges fast on this side
        return front * _beta_fraction(x, a, b) / a
    return 1 - front * _beta_fraction(1 - x, b, a) / b


def _beta_fraction(x: float, a: float, b: float) -> float:
    """The continued fraction of I_x(a, b) by the modified Lentz method."""
    tiny, epsilon = 1e-300, 1e-15
    c, d = 1.0, 1 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    fraction = d
    for m in range(1, 100_000):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1 + numerator * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + numerator / c
            c = c if abs(c) > tiny else tiny
            fraction *= c * d
        if abs(c * d - 1) < epsilon:
            return fraction
    raise ArithmeticError(f"the incomplete beta fraction did not converge for x={x}, a={a}, b={b}")


# -- as text: one way for the report (and anything else that shows a spread) -----------------

def spread_text(spread: Mapping | Spread, digits: int = 2, *, signed: bool = False) -> str:
    """"0.42 ± 0.03 (n = 3)"; with one value "0.42 ± n/a (n = 1)" (the std is undefined, not 0)."""
    s = _as_dict(spread)
    sign = "+" if signed else ""
    std = UNDEFINED if s.get("std") is None else f"{s['std']:.{digits}f}"
    return f"{s['mean']:{sign}.{digits}f} ± {std} (n = {s['n']})"


def interval_text(spread: Mapping | Spread, digits: int = 3) -> str:
    """"[-0.012, +0.046]" (the t interval of the mean); "n/a" when it is undefined (n < 2)."""
    s = _as_dict(spread)
    if s.get("low") is None or s.get("high") is None:
        return UNDEFINED
    return f"[{s['low']:+.{digits}f}, {s['high']:+.{digits}f}]"


def _as_dict(spread: Mapping | Spread) -> Mapping:
    return spread.as_dict() if isinstance(spread, Spread) else spread
