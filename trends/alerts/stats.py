"""The Poisson tails the rules test their counts with."""

from __future__ import annotations

import math


def poisson_upper_tail(x: int, lam: float) -> float:
    """P(X >= x) for X ~ Poisson(lam), summed from x upwards so tiny tails keep their precision."""
    if x <= 0:
        return 1.0
    if lam <= 0:
        return 0.0
    term = math.exp(-lam + x * math.log(lam) - math.lgamma(x + 1))
    total, k = 0.0, x
    while term > 0 and k < x + 10_000:
        total += term
        if term < total * 1e-15:
            break
        k += 1
        term *= lam / k
    return min(1.0, total)


def poisson_lower_tail(x: int, lam: float) -> float:
    """P(X <= x) for X ~ Poisson(lam)."""
    if lam <= 0:
        return 1.0
    term = math.exp(-lam)
    total = term
    for k in range(1, x + 1):
        term *= lam / k
        total += term
    return min(1.0, total)
