"""What every engine's predictions share: the setup, a predicted figure with its range, and
the arithmetic of a printed figure's rounding.

A memory figure printed as 6.51 GiB means 6.505-6.515 GiB, so the token count predicted from
it is a range too; `ranged` predicts at the printed value and at both ends.
"""

import math
from dataclasses import dataclass
from fractions import Fraction

from kvplan.engines import EngineProfile
from kvplan.logs import Logged
from kvplan.sizing import ModelCost
from kvplan.spec import ModelSpec


@dataclass(frozen=True, kw_only=True)
class Setup:
    """What a prediction rests on: the model, the engine's profile, TP, the cache dtype."""

    spec: ModelSpec
    profile: EngineProfile
    tp: int
    cache_dtype: str
    stated: frozenset[str] = frozenset()  # settings the log or the options stated

    def cost(self) -> ModelCost:
        """The cost terms one TP rank holds, MLA stored as this engine stores it."""
        return self.profile.cost(self.spec, self.cache_dtype, tp=self.tp)


@dataclass(frozen=True, kw_only=True)
class Prediction:
    """A predicted figure and the range the logged inputs' rounding allows."""

    value: int | float
    low: int | float
    high: int | float
    basis: str


Budgets = tuple[int, int, int]  # (as printed, lowest, highest) in bytes


def bytes_range(*logged: Logged, unit: int) -> Budgets:
    """Bytes of one or more printed sizes: as printed, and the ends of their rounding."""
    value = sum(f.value for f in logged)
    half = sum(f.half_step for f in logged)
    as_int = [math.floor(v * unit) for v in (value, value - half, value + half)]
    return as_int[0], as_int[1], as_int[2]


def ranged(function, budgets: Budgets, basis: str) -> Prediction:
    """A figure that grows with the budget, at the printed budget and at both ends."""
    middle, low, high = (function(b) for b in budgets)
    return Prediction(
        value=middle, low=min(low, high), high=max(low, high), basis=basis
    )


def exact(value, basis: str) -> Prediction:
    """A figure that follows exactly from what the log printed."""
    return Prediction(value=value, low=value, high=value, basis=basis)


def gib_text(logged: Logged) -> str:
    """`6.51 GiB`: a logged figure as the basis of a prediction names it."""
    return f"{float(logged.value):g} GiB"


def printed_close(logged: Logged, value) -> bool:
    """Whether `value` prints as the logged figure (within half its last digit)."""
    return abs(logged.value - Fraction(value)) <= logged.half_step


def within(logged: Logged, p: Prediction) -> bool:
    """Whether the logged figure lies in the prediction's range, widened by its rounding."""
    low = Fraction(p.low) - logged.half_step
    high = Fraction(p.high) + logged.half_step
    return low <= logged.value <= high
