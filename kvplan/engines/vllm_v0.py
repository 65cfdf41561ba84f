"""vLLM's V0 engine (0.5 to 0.10): one block spans every layer, every layer holds every token.

Rules read from vllm/worker/worker.py (determine_num_available_blocks) and
vllm/worker/cache_engine.py (get_cache_block_size), 0.6-0.7 (docs/engines.md): a block is
block_size x the bytes per token of all layers; "# GPU blocks" is available // that;
"Maximum concurrency" is blocks x block_size / max_model_len; "# CPU blocks" is the swap space
// a block.
"""

from dataclasses import dataclass

from kvplan.engines.base import EngineRuleError, cdiv
from kvplan.engines.vllm import _VllmBase
from kvplan.sizing import ModelCost


@dataclass(frozen=True, kw_only=True)
class VllmV0Profile(_VllmBase):
    """vLLM's V0 engine: one block spans every layer, every layer holds every token."""

    name: str = "vllm-v0"
    versions: str = "0.5-0.10 (V0 engine)"
    swap_space: int = 4  # GiB of CPU swap per GPU (--swap-space): the "# CPU blocks"

    def cpu_blocks(self, cost: ModelCost) -> int:
        """ "# CPU blocks": swap_space bytes // the bytes of one block (cache_engine)."""
        return self.swap_space * 2**30 // self.block_bytes(cost)

    def block_bytes(self, cost: ModelCost) -> int:
        """cache_engine.get_cache_block_size: block x bytes per token of every layer."""
        return self.block_size * cost.bytes_per_token

    def request_bytes(self, cost: ModelCost, context_tokens: int) -> int:
        """cdiv(context, block) blocks of every layer (sliding windows not honoured)."""
        return cdiv(context_tokens, self.block_size) * self.block_bytes(cost)

    def num_blocks(self, cost: ModelCost, budget_bytes: int) -> int:
        """ "# GPU blocks": int(available // block bytes)."""
        return max(budget_bytes, 0) // self.block_bytes(cost)

    def pool_tokens(self, cost: ModelCost, budget_bytes: int) -> int:
        """Blocks x block size (the "maximum number of tokens ... in KV cache")."""
        return self.num_blocks(cost, budget_bytes) * self.block_size

    def max_concurrency(
        self, cost: ModelCost, budget_bytes: int, context_tokens: int | None = None
    ) -> float:
        """num_gpu_blocks x block_size / max_model_len."""
        length = context_tokens or self.max_model_len
        if not length:
            raise EngineRuleError(
                "give a context or max_model_len", field="max_model_len"
            )
        return self.pool_tokens(cost, budget_bytes) / length

    def capacity_notes(self, cost: ModelCost) -> list[str]:
        """V0's concurrency line does not round a request up to whole blocks."""
        return [
            f"{self.label}: max_concurrency is the line V0 prints, blocks x"
            f" {self.block_size} / the request's tokens, which does not round a request up"
            " to whole blocks; max_requests counts whole requests' blocks and may be"
            " lower"
        ]

    def explain(self, cost: ModelCost, context_tokens: int) -> list[str]:
        """One block of every layer per block_size tokens."""
        blocks = cdiv(context_tokens, self.block_size)
        return [
            f"{self.label}: cdiv({context_tokens:,}, {self.block_size}) = {blocks:,} blocks"
            f" x {self.block_bytes(cost):,} B (block {self.block_size} x"
            f" {cost.bytes_per_token:,} B per token, every layer, windows not honoured)"
            f" = {self.request_bytes(cost, context_tokens):,} B",
        ]
