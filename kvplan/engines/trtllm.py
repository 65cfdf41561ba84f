"""TensorRT-LLM: a fraction of the free memory after loading, blocks of 32 tokens, one pool
per attention window.

Rules read from NVIDIA/TensorRT-LLM cpp/tensorrt_llm/batch_manager/kvCacheManager.cpp
(docs/engines.md names versions):

- the budget is free memory x free_gpu_memory_fraction (0.9);
- each window size gets a share proportional to window x its bytes per token
  (calculateWindowSizeToShare); maxTokens = int(budget x share / bytes per token) and the
  primary pool has ceil(maxTokens / tokens_per_block) blocks (calculateMaxNumBlocks);
- a sequence takes ceil(min(length, window) / tokens_per_block) blocks of each window's pool
  (every token in the full-attention pool)
  (calculateMaxBlockRequirementsPerBeam); the batch a pool admits is blocks / that, the
  smallest over windows (getMaxCapacityBatchSize).
Full-attention layers use the window max_attention_window, which defaults to max_seq_len.
"""

from dataclasses import dataclass
from fractions import Fraction
from typing import ClassVar

from kvplan.engines.base import (
    EngineProfile,
    EngineRuleError,
    Figure,
    cdiv,
    figure_list,
    fraction_of,
)
from kvplan.sizing import ModelCost
from kvplan.units import GIB

UNBOUNDED = (
    2**31 - 1
)  # the window of full-attention layers when max_seq_len is not known


@dataclass(frozen=True, kw_only=True)
class TrtllmProfile(EngineProfile):
    """TensorRT-LLM's paged KV cache manager (0.13 and later)."""

    name: str = "trtllm"
    versions: str = "0.13-1.x"
    block_size: int = (
        32  # tokens_per_block (64 in engines built by trtllm-build <= 0.16)
    )
    free_gpu_memory_fraction: Fraction = Fraction(9, 10)
    max_seq_len: int | None = None  # the window of full-attention layers
    # KvCacheConfig dtype: the model's fp16/bf16, fp8, int8 (nvfp4 is not a kvplan format)
    cache_dtypes: ClassVar[tuple[str, ...] | None] = (
        "fp32",
        "fp16",
        "bf16",
        "fp8",
        "int8",
    )

    def kv_budget(self, free_bytes: int) -> int:
        """Free memory after loading x free_gpu_memory_fraction."""
        return fraction_of(free_bytes, self.free_gpu_memory_fraction)

    def _full_window(self, context_tokens: int | None) -> int | None:
        """The attention window of full layers: max_seq_len, else the request's length."""
        return self.max_seq_len or context_tokens

    def windows(self, cost: ModelCost, context_tokens: int | None = None) -> dict:
        """Bytes per token of the layers of each attention window size."""
        full_window = self._full_window(context_tokens)
        if full_window is None and all(g.cap_tokens is None for g in cost.groups):
            full_window = UNBOUNDED  # one pool: its window does not change the shares
        per_window: dict[int, int] = {}
        for g in cost.groups:
            if g.state_bytes:
                raise EngineRuleError(
                    "the trtllm profile does not model recurrent-state layers",
                    field="engine",
                )
            if not g.bytes_per_token:
                continue
            window = g.cap_tokens or full_window
            if window is None:
                raise EngineRuleError(
                    "TensorRT-LLM's full-attention window is max_seq_len; give it",
                    field="max_seq_len",
                )
            per_window[window] = per_window.get(window, 0) + g.count * g.bytes_per_token
        return per_window

    def _held(self, window: int, context_tokens: int) -> int:
        """Tokens a request holds in a window's pool: all of them in the full window's."""
        if window in (self._full_window(context_tokens), UNBOUNDED):
            return context_tokens
        return min(context_tokens, window)

    def _request_blocks(self, cost: ModelCost, context_tokens: int) -> dict[int, int]:
        """Blocks one request takes in each window's pool."""
        return {
            window: cdiv(self._held(window, context_tokens), self.block_size)
            for window in self.windows(cost, context_tokens)
        }

    def pool_blocks(
        self, cost: ModelCost, budget_bytes: int, context_tokens: int | None = None
    ) -> dict[int, int]:
        """Primary blocks of each window's pool."""
        per_window = self.windows(cost, context_tokens)
        weights = {w: w * b for w, b in per_window.items()}
        total = sum(weights.values())
        blocks = {}
        for window, per_token in per_window.items():
            share = Fraction(weights[window], total)
            max_tokens = int(max(budget_bytes, 0) * share / per_token)
            blocks[window] = cdiv(max_tokens, self.block_size)
        return blocks

    def pool_bytes(
        self, cost: ModelCost, budget_bytes: int, context_tokens: int | None = None
    ) -> int:
        """Bytes the pools allocate: whole blocks, so up to one block past the budget."""
        blocks = self.pool_blocks(cost, budget_bytes, context_tokens)
        per_window = self.windows(cost, context_tokens)
        return sum(n * self.block_size * per_window[w] for w, n in blocks.items())

    def request_bytes(self, cost: ModelCost, context_tokens: int) -> int:
        """The budget one request uses up: its blocks in the window pool it fills first.

        Each window's pool gets the budget share window x bytes per token / the sum of those
        (pool_blocks), so a block of window w costs block x (sum over windows of window x
        bytes) / w of the budget. One pool (full attention only) is plain ceil(held / block)
        blocks of the layers; with several, the pool a request fills first bounds it, which
        is what max_concurrency divides by.
        """
        per_window = self.windows(cost, context_tokens)
        blocks = self._request_blocks(cost, context_tokens)
        if len(per_window) == 1:
            return sum(n * self.block_size * per_window[w] for w, n in blocks.items())
        total = sum(w * b for w, b in per_window.items())
        return max(-(-n * self.block_size * total // w) for w, n in blocks.items())

    def num_blocks(self, cost: ModelCost, budget_bytes: int) -> int:
        """Blocks of the full-attention pool ("Number of blocks in KV cache primary pool")."""
        blocks = self.pool_blocks(cost, budget_bytes)
        return blocks[max(blocks)]

    def pool_tokens(self, cost: ModelCost, budget_bytes: int) -> int:
        """Tokens of the largest window's pool ("max tokens in paged KV cache (N)")."""
        return self.num_blocks(cost, budget_bytes) * self.block_size

    def max_concurrency(
        self, cost: ModelCost, budget_bytes: int, context_tokens: int
    ) -> float:
        """Blocks / blocks per sequence, the smallest over the window pools."""
        blocks = self.pool_blocks(cost, budget_bytes, context_tokens)
        needed = self._request_blocks(cost, context_tokens)
        return min(n / needed[w] for w, n in blocks.items())

    def capacity_notes(self, cost: ModelCost) -> list[str]:
        """The pools are whole blocks, rounded up from the budget's tokens."""
        return [
            f"{self.label}: each window's pool is ceil(tokens the budget buys /"
            f" {self.block_size}) blocks, so it may pass the budget by up to one block;"
            " concurrency, max_requests, max_context and headroom count that pool"
        ]

    def figures(
        self, cost: ModelCost, budget_bytes: int, context_tokens: int
    ) -> list[Figure]:
        """Primary blocks, the token count and the GiB allocated, and the concurrency."""
        blocks = self.pool_blocks(cost, budget_bytes, context_tokens)
        allocated = self.pool_bytes(cost, budget_bytes, context_tokens)
        largest = blocks[max(blocks)]
        concurrency = self.max_concurrency(cost, budget_bytes, context_tokens)
        return figure_list(
            primary_blocks=(largest, "blocks"),
            kv_cache_tokens=(largest * self.block_size, "tokens"),
            allocated_gib=(allocated / GIB, "GiB"),
            max_concurrency=(concurrency, "x"),
        )

    def explain(self, cost: ModelCost, context_tokens: int) -> list[str]:
        """Each window's pool and the blocks one request takes in it."""
        lines = [
            f"{self.label}: {self.block_size} tokens per block, one pool per window"
        ]
        blocks = self._request_blocks(cost, context_tokens)
        for window, per_token in self.windows(cost, context_tokens).items():
            held = self._held(window, context_tokens)
            lines.append(
                f"  window {window:,}: ceil({held:,} / {self.block_size}) ="
                f" {blocks[window]:,} blocks x {self.block_size} tokens x"
                f" {per_token:,} B per token"
            )
        lines.append(f"  request = {self.request_bytes(cost, context_tokens):,} B")
        return lines
