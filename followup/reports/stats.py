"""Intervals from aggregates: Wilson for proportions, Student's t for means, the
order-statistic ranks of the median's interval. Pure: no Django, no database; the
aggregates come from SQL (outcomes.py), never the rows."""

import functools
import math
from dataclasses import dataclass

Z95 = 1.959963984540054  # the 97.5th percentile of the standard normal


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def scaled(self, by: float) -> "Interval":
        return Interval(self.low * by, self.high * by)


def wilson(successes: int, n: int, z: float = Z95) -> Interval | None:
    """Wilson's score interval for a proportion (Wilson 1927; Newcombe 1998, method 3):
    never outside [0, 1], sensible at 0 and n successes, where the Wald interval is not."""
    if n <= 0:
        return None
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # Exactly 0 and 1 at the ends, where rounding would leave 1e-16 off.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return Interval(low, high)


def mean_interval(n: int, mean: float | None, sd: float | None) -> Interval | None:
    """mean +- t(0.975, n - 1) * sd / sqrt(n)."""
    if n < 2 or mean is None or sd is None:
        return None
    half = t_quantile(0.975, n - 1) * sd / math.sqrt(n)
    return Interval(mean - half, mean + half)


def median_ranks(n: int, z: float = Z95) -> tuple[int, int] | None:
    """The 1-based ranks of the sorted values bounding the median's 95% interval
    (distribution-free, from the binomial's normal approximation: Campbell & Gardner,
    BMJ 1988): n/2 - z*sqrt(n)/2 and 1 + n/2 + z*sqrt(n)/2, rounded. None when a rank
    falls outside the sample (n < 6)."""
    spread = z * math.sqrt(n) / 2
    low, high = round(n / 2 - spread), round(1 + n / 2 + spread)
    if low < 1 or high > n:
        return None
    return low, high


@functools.cache
def t_quantile(p: float, df: int) -> float:
    """Student's t quantile, by bisection on its distribution function (to ~1e-13; a
    report asks for a few distinct degrees of freedom, each computed once)."""
    low, high = 0.0, 1000.0
    for _ in range(60):
        middle = (low + high) / 2
        if t_cdf(middle, df) < p:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def t_cdf(t: float, df: int) -> float:
    x = df / (df + t * t)
    tail = 0.5 * _incomplete_beta(df / 2, 0.5, x)
    return 1 - tail if t >= 0 else tail


def _incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b) (Numerical Recipes, 6.4)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1) / (a + b + 2):
        return front * _continued_fraction(a, b, x) / a
    return 1 - front * _continued_fraction(b, a, 1 - x) / b


def _continued_fraction(a: float, b: float, x: float) -> float:
    tiny = 1e-300
    c, d = 1.0, 1 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 300):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1 + numerator * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= d * c
        if abs(d * c - 1) < 1e-15:
            break
    return result
