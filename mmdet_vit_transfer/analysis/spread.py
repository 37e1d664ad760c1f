"""Runs that differ only by their seed, as one value: the mean, the sample
standard deviation and the count, and when two such values differ by more
than their spread.

A difference counts as beyond the spread where it exceeds the sum of the
two standard deviations; with one run there is no standard deviation, and
no difference is beyond the spread.
"""
import math
from dataclasses import dataclass
from typing import Optional, Sequence


@dataclass(frozen=True)
class Spread:
    """The mean of ``n`` values and their sample standard deviation (n - 1
    in the denominator; None for one value)."""
    mean: float
    std: Optional[float]
    n: int

    def text(self, digits: int = 1) -> str:
        """``'50.1'`` for one value, ``'50.1 ± 0.3'`` for several."""
        if self.std is None:
            return f'{self.mean:.{digits}f}'
        return f'{self.mean:.{digits}f} ± {self.std:.{digits}f}'


def spread(values: Sequence[float]) -> Spread:
    """The mean, sample standard deviation and count of ``values``.

    Raises:
        ValueError: no value.
    """
    n = len(values)
    if not n:
        raise ValueError('no value to average')
    mean = math.fsum(values) / n
    if n == 1:
        return Spread(mean, None, 1)
    variance = math.fsum((v - mean)**2 for v in values) / (n - 1)
    return Spread(mean, math.sqrt(variance), n)


def beyond_spread(a: Spread, b: Spread) -> bool:
    """Whether the means of ``a`` and ``b`` differ by more than the sum of
    their standard deviations (False where either is one value)."""
    if a.std is None or b.std is None:
        return False
    return abs(a.mean - b.mean) > a.std + b.std
