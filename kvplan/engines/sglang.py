"""SGLang: a token pool (page size 1 by default) sized from mem_fraction_static.

Rules read from sgl-project/sglang (docs/engines.md names files and versions):

- model_runner.py / model_runner_kv_cache_mixin.py, profile_max_num_token: rest memory =
  available after loading - total x (1 - mem_fraction_static); tokens = rest // cell_size,
  cell_size = KV heads per rank x (head_dim_k + head_dim_v) x layers x dtype bytes (MLA:
  (kv_lora_rank + rope) x layers x dtype bytes); rounded down to whole pages.
- configs/model_config.py is_hybrid_swa_model: only the architectures it lists (gpt-oss,
  Llama-4, Gemma-4, ...) get a sliding-window pool; the others hold every token in every layer
  (engines/windows.py);
- _resolve_hybrid_swa_tokens: for those, the same memory is split so that
  swa_tokens = full_tokens x swa_full_tokens_ratio (0.8).
- handle_max_mamba_cache: Mamba states take rest x ratio / (1 + ratio) first (ratio 0.9).
- mem_cache/memory_pool.py MHATokenToKVPool: every layer's K and V buffer has size + page_size
  rows (one padded slot); "K size" and "V size" are printed in units of 2^30 but called "GB".
"""

from dataclasses import dataclass
from fractions import Fraction
from typing import ClassVar

from kvplan.engines.base import (
    EngineProfile,
    Figure,
    cdiv,
    figure_list,
    fraction_of,
    tensor_bytes,
)
from kvplan.engines.windows import SGLANG_WINDOWS, WindowRule
from kvplan.sizing import GroupCost, ModelCost
from kvplan.units import GIB


def _is_swa(g: GroupCost) -> bool:
    return g.layer.kind in ("sliding", "chunked") and g.bytes_per_token > 0


def _tensor(g: GroupCost, index: int) -> int:
    """Bytes per token per layer of the group's K (0) or V (1); 0 when it has no such tensor."""
    split = tensor_bytes(g)
    return split[index] if index < len(split) else 0


@dataclass(frozen=True, kw_only=True)
class SglangProfile(EngineProfile):
    """SGLang's token pool (sglang 0.4-0.5)."""

    name: str = "sglang"
    versions: str = "0.4-0.5"
    block_size: int = 1  # --page-size
    mem_fraction_static: Fraction = Fraction(88, 100)  # sized per GPU when not given
    swa_full_tokens_ratio: Fraction = Fraction(8, 10)
    mamba_full_memory_ratio: Fraction = Fraction(9, 10)
    window_rule: ClassVar[WindowRule] = SGLANG_WINDOWS
    # --kv-cache-dtype: auto (the model's), bf16, fp8_e4m3, fp8_e5m2 (server_args.py)
    cache_dtypes: ClassVar[tuple[str, ...] | None] = (
        "fp32",
        "fp16",
        "bf16",
        "fp8",
        "fp8_e5m2",
    )
    prints_gib_as_gb: ClassVar[bool] = True  # "K size: 8.23 GB" is 8.23 x 2^30 B

    def kv_budget(self, total_bytes: int, available_after_load_bytes: int) -> int:
        """available after loading - total x (1 - mem_fraction_static)."""
        reserved = fraction_of(total_bytes, 1 - Fraction(self.mem_fraction_static))
        return available_after_load_bytes - reserved

    def _cells(self, cost: ModelCost) -> tuple[int, int, int]:
        """(full-layer bytes per token, sliding-layer bytes per token, state per request)."""
        full = sum(g.count * g.bytes_per_token for g in cost.groups if not _is_swa(g))
        swa = sum(g.count * g.bytes_per_token for g in cost.groups if _is_swa(g))
        return full, swa, cost.state_bytes

    def _state_requests(self, cost: ModelCost, budget_bytes: int) -> int:
        """Mamba states the pool keeps (max_mamba_cache_size) before the KV cache is sized."""
        state = cost.state_bytes
        if not state:
            return 0
        ratio = Fraction(self.mamba_full_memory_ratio)
        return int(budget_bytes * ratio / (1 + ratio)) // state

    def pool_sizes(self, cost: ModelCost, budget_bytes: int) -> tuple[int, int]:
        """(full-layer tokens, sliding-layer tokens) of the pools; sliding 0 without SWA."""
        full, swa, state = self._cells(cost)
        kv_budget = budget_bytes - self._state_requests(cost, budget_bytes) * state
        capacity = max(kv_budget, 0) // (full + swa) if full + swa else 0
        page = self.block_size
        if not swa or not full:
            return capacity // page * page, 0
        ratio = Fraction(self.swa_full_tokens_ratio)
        full_tokens = int(Fraction(capacity * (full + swa)) / (full + ratio * swa))
        full_tokens = full_tokens // page * page
        return full_tokens, int(full_tokens * ratio) // page * page

    def pool_bytes(self, cost: ModelCost, budget_bytes: int) -> int:
        """The budget as the split pools hold it, in request_bytes' units.

        With a full and a sliding pool, full_tokens slots of F x n_full + 0.8 x S x n_swa
        bytes each (rounded up as request_bytes rounds), so the longest request that fits is
        exactly the full pool's tokens; otherwise the budget itself.
        """
        full, swa, state = self._cells(cost)
        if not (full and swa) or state:
            return budget_bytes
        full_tokens = self.pool_sizes(cost, budget_bytes)[0]
        per_slot = full + Fraction(self.swa_full_tokens_ratio) * swa
        return int(-(-per_slot * full_tokens // 1))

    def pool_tokens(self, cost: ModelCost, budget_bytes: int) -> int:
        """max_total_num_tokens ("#tokens" of the full-attention pool)."""
        return self.pool_sizes(cost, budget_bytes)[0]

    def request_bytes(self, cost: ModelCost, context_tokens: int) -> int:
        """The budget one request uses up, counted through SGLang's split pools.

        Every token takes a slot in the full layers and the window takes slots in the sliding
        ones; where the two pools are split (full_tokens : swa_tokens = 1 : ratio), a full
        slot costs full + ratio x swa bytes of the budget, and a request costs the slots of
        the pool it fills first. Recurrent states come from their own share of the budget
        (mamba_full_memory_ratio). So budget / request_bytes is the concurrency.
        """
        page = self.block_size
        held = cdiv(context_tokens, page) * page
        full, swa, state = self._cells(cost)
        windows = [min(held, g.cap_tokens) for g in cost.groups if _is_swa(g)]
        if full and swa:
            ratio = Fraction(self.swa_full_tokens_ratio)
            slots = max(Fraction(held), max(windows) / ratio)
            kv = -(-(full + ratio * swa) * slots // 1)
        else:
            kv = sum(
                g.count
                * g.bytes_per_token
                * (min(held, g.cap_tokens) if _is_swa(g) else held)
                for g in cost.groups
            )
        if not state:
            return int(kv)
        share = Fraction(self.mamba_full_memory_ratio)
        return int(max(-(-kv * (1 + share) // 1), -(-state * (1 + share) / share // 1)))

    def max_concurrency(
        self, cost: ModelCost, budget_bytes: int, context_tokens: int
    ) -> float:
        """Requests of this length the token pools hold (SGLang prints no such line)."""
        full_tokens, swa_tokens = self.pool_sizes(cost, budget_bytes)
        held = cdiv(context_tokens, self.block_size) * self.block_size  # whole pages
        limits = [full_tokens / held]
        for g in cost.groups:
            if _is_swa(g) and swa_tokens:
                limits.append(swa_tokens / min(held, g.cap_tokens))
        if cost.state_bytes:
            limits.append(self._state_requests(cost, budget_bytes))
        return min(limits)

    def buffer_bytes(self, cost: ModelCost, tokens: int, tensor: int) -> int:
        """Bytes of the K (0) or V (1) buffers of the full layers holding `tokens` tokens."""
        rows = tokens + self.block_size  # one padded page per buffer
        per_token = sum(
            g.count * _tensor(g, tensor) for g in cost.groups if not _is_swa(g)
        )
        return rows * per_token

    def figures(
        self, cost: ModelCost, budget_bytes: int, context_tokens: int
    ) -> list[Figure]:
        """#tokens, the K and V sizes in 2^30 bytes, and the concurrency."""
        tokens = self.pool_tokens(cost, budget_bytes)
        concurrency = self.max_concurrency(cost, budget_bytes, context_tokens)
        return figure_list(
            kv_cache_tokens=(tokens, "tokens"),
            k_size_gib=(self.buffer_bytes(cost, tokens, 0) / GIB, "GiB"),
            v_size_gib=(self.buffer_bytes(cost, tokens, 1) / GIB, "GiB"),
            max_concurrency=(concurrency, "x"),
        )

    def explain(self, cost: ModelCost, context_tokens: int) -> list[str]:
        """The cell size and the token slots one request takes."""
        full, swa, state = self._cells(cost)
        lines = [
            f"{self.label}: page {self.block_size}; cell {full + swa:,} B per token"
            f" (full layers {full:,} B, sliding layers {swa:,} B)"
        ]
        if swa:
            lines.append(
                f"  sliding layers share a pool of swa_full_tokens_ratio"
                f" {float(self.swa_full_tokens_ratio):g} x the full pool's tokens"
            )
        if state:
            lines.append(f"  + {state:,} B of recurrent state in a separate pool")
        lines.append(f"  request = {self.request_bytes(cost, context_tokens):,} B")
        return lines
