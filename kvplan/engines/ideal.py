"""The `ideal` profile: exactly the bytes the layout needs, no blocks, no reservations."""

from dataclasses import dataclass

from kvplan.engines.base import EngineProfile
from kvplan.sizing import ModelCost


@dataclass(frozen=True, kw_only=True)
class IdealProfile(EngineProfile):
    """What `kvplan estimate` computes: tokens held exactly, windows capped exactly."""

    name: str = "ideal"
    versions: str = ""
    block_size: int = 1

    def request_bytes(self, cost: ModelCost, context_tokens: int) -> int:
        """Bytes one sequence holds at this context (sizing.ModelCost.sequence_bytes)."""
        return cost.sequence_bytes(context_tokens)

    def pool_tokens(self, cost: ModelCost, budget_bytes: int) -> int:
        """Tokens the budget holds when every layer keeps every token (no windows, no state)."""
        usable = budget_bytes - cost.fixed_bytes
        if cost.bytes_per_token == 0 or usable <= 0:
            return 0
        return usable // cost.bytes_per_token

    def max_concurrency(
        self, cost: ModelCost, budget_bytes: int, context_tokens: int
    ) -> float:
        """Sequences of this context the budget holds, windows and state counted exactly."""
        per_request = self.request_bytes(cost, context_tokens)
        usable = max(budget_bytes - cost.fixed_bytes, 0)
        return usable / per_request if per_request else float("inf")

    def explain(self, cost: ModelCost, context_tokens: int) -> list[str]:
        """The ideal reservation is the layout's bytes: nothing to add."""
        total = self.request_bytes(cost, context_tokens)
        return [f"ideal: exactly the layout's bytes, {total:,} B per sequence"]
