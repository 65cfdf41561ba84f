"""vLLM: paged blocks per KV cache group, sliding windows reserve window + in-flight batch.

Rules read from vllm-project/vllm (docs/engines.md names files and versions):

- v1/kv_cache_interface.py: a layer's page is block_size x its bytes per token; a full layer
  reserves cdiv(max_model_len, block) pages per request, a sliding-window layer
  cdiv(min(window - 1 + max_num_batched_tokens, max_model_len), block) + 1, a chunked-local
  layer cdiv(min(chunk + max_num_batched_tokens, max_model_len), block), a Mamba layer one
  page (two with prefix caching in 'align' mode).
- v1/core/kv_cache_utils.py: layers of one spec share one group; a hybrid model's groups hold
  the same number of layers (padding the last group of a kind), pages are unified by growing the
  block size of the smaller pages, num_blocks = available // page // group_size, the token line
  is num_blocks // groups x min block size (0.10-0.20) or int(concurrency x max_model_len)
  (0.21 on), and concurrency = num_blocks / blocks one max_model_len request needs.
- hybrid Mamba models (model_executor/models/config.py, read from the lines it logs): the
  attention block grows to a multiple of 16 whose page holds a Mamba state, and the Mamba page
  is padded up to the attention page.
- V0 (worker/cache_engine.py): one block holds every layer; every layer is full (vllm_v0.py).
"""

from dataclasses import dataclass, replace
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
from kvplan.engines.vllm_mla import (
    FLASHMLA_SPARSE_BLOCK,
    has_sparse_mla,
    stored_cost,
    token_parts,
)
from kvplan.sizing import ModelCost

# Token-line rules by version range: the one place a newer vLLM changes what it prints.
TOKEN_LINE_PER_GROUP = "per_group"  # num_blocks // n_groups x min block size
TOKEN_LINE_FROM_CONCURRENCY = "from_concurrency"  # int(max_concurrency x max_model_len)
V1_VERSIONS = {
    "0.10-0.20": TOKEN_LINE_PER_GROUP,
    "0.21+": TOKEN_LINE_FROM_CONCURRENCY,
}
DEFAULT_V1_VERSIONS = "0.10-0.20"
V1_BEFORE_HYBRID = "0.8-0.9"  # V1 before the hybrid allocator (hybrid_allocator false)


@dataclass(frozen=True)
class _Kind:
    """One vLLM KV cache spec: what the engine groups layers by."""

    kind: str  # full | sliding | chunked | mamba
    window: int | None
    # attention: bytes per token per layer; mamba: state bytes per layer
    unit_bytes: int
    layers: int


@dataclass(frozen=True)
class _Pool:
    """A spec's place in the pool: its block size, how many groups, how many real layers."""

    kind: _Kind
    block_size: int
    page_bytes: int  # per layer per block
    groups: int


@dataclass(frozen=True)
class VllmPlan:
    """How vLLM lays a model out in its block pool (one GPU)."""

    pools: tuple[_Pool, ...]
    block_bytes: int  # bytes one block id spans over all the layers sharing it
    group_size: int  # layers per group (the padded layers count)
    padding_layers: int
    uniform: bool  # one group holding every layer

    @property
    def n_groups(self) -> int:
        return 1 if self.uniform else sum(p.groups for p in self.pools)

    @property
    def min_block_size(self) -> int:
        attention = [p.block_size for p in self.pools if p.kind.kind != "mamba"]
        return min(attention or [p.block_size for p in self.pools])


def _kinds(cost: ModelCost, hybrid_allocator: bool = True) -> list[_Kind]:
    """The model's vLLM specs with their layer counts (attention and Mamba parts apart).

    Without the hybrid allocator (--disable-hybrid-kv-cache-manager) sliding and chunked
    layers are full-attention specs: they reserve every token.
    """
    counts: dict[tuple, int] = {}
    for g in cost.groups:
        layer = g.layer
        if layer.compress_ratio:
            raise EngineRuleError(
                "the vllm profile does not model DeepSeek-V4 compressed attention",
                field="engine",
            )
        kind = layer.kind if layer.kind in ("sliding", "chunked") else "full"
        if not hybrid_allocator:
            kind = "full"
        window = layer.window_tokens if kind != "full" else None
        for part in token_parts(g) if g.bytes_per_token else ():
            key = (kind, window, part)
            counts[key] = counts.get(key, 0) + g.count
        if g.state_bytes:
            key = ("mamba", None, g.state_bytes)
            counts[key] = counts.get(key, 0) + g.count
    return [_Kind(*key, layers=n) for key, n in counts.items()]


# --kv-cache-dtype choices (vllm/config/cache.py CacheDType: auto, bfloat16, fp8, fp8_e4m3,
# fp8_e5m2; auto is the model's fp32/fp16/bf16), in kvplan's names
VLLM_CACHE_DTYPES = ("fp32", "fp16", "bf16", "fp8", "fp8_e5m2")


@dataclass(frozen=True, kw_only=True)
class _VllmBase(EngineProfile):
    """What both vLLM engines share: the budget from gpu_memory_utilization, the figures."""

    block_size: int = 16
    gpu_memory_utilization: Fraction = Fraction(9, 10)
    max_model_len: int | None = None  # the model's max_positions when not given
    cache_dtypes: ClassVar[tuple[str, ...] | None] = VLLM_CACHE_DTYPES

    def __post_init__(self) -> None:
        # --block-size takes 1, 8, 16, 32, 64, 128; hybrid models get larger multiples of
        # 16 that vLLM picks itself ("Setting attention block size to 784 tokens")
        if self.block_size not in (1, 8) and (
            self.block_size <= 0 or self.block_size % 16
        ):
            raise EngineRuleError(
                f"vLLM's block size is 1, 8, 16, 32, 64 or 128 (hybrid models: a multiple"
                f" of 16 vLLM picks), got {self.block_size}",
                field="block_size",
            )

    def kv_budget(
        self,
        total_bytes: int,
        weights_bytes: int,
        activation_bytes: int = 0,
        other_bytes: int = 0,
    ) -> int:
        """total x gpu_memory_utilization - weights - activation peak - other (graphs, NCCL)."""
        usable = fraction_of(total_bytes, self.gpu_memory_utilization)
        return usable - weights_bytes - activation_bytes - other_bytes

    def figures(
        self, cost: ModelCost, budget_bytes: int, context_tokens: int
    ) -> list[Figure]:
        """The blocks, the token line and the concurrency line."""
        concurrency = self.max_concurrency(cost, budget_bytes, context_tokens)
        return figure_list(
            gpu_blocks=(self.num_blocks(cost, budget_bytes), "blocks"),
            kv_cache_tokens=(self.pool_tokens(cost, budget_bytes), "tokens"),
            max_concurrency=(concurrency, "x"),
        )


@dataclass(frozen=True, kw_only=True)
class VllmProfile(_VllmBase):
    """vLLM V1 (the default engine since 0.8; the hybrid allocator since 0.10)."""

    name: str = "vllm"
    versions: str = DEFAULT_V1_VERSIONS
    max_num_batched_tokens: int = 8192  # vllm serve on >= 70 GiB GPUs; 2048 below
    mamba_pages: int = 1  # pages a Mamba layer reserves per request; 2 in 'align' mode
    kernel_block_alignment: int = 16
    token_line: str = TOKEN_LINE_PER_GROUP
    hybrid_allocator: bool = True  # False: --disable-hybrid-kv-cache-manager

    def store(
        self, cost: ModelCost, cache_dtype: str, model_dtype: str, mla_mode: str
    ) -> ModelCost:
        """MLA layers stored as vLLM stores them (vllm_mla.py)."""
        if mla_mode != "latent":
            return cost
        return stored_cost(cost, cache_dtype, model_dtype)

    def plan(self, cost: ModelCost) -> VllmPlan:
        """The groups, block sizes and pages vLLM gives this model."""
        kinds = _kinds(cost, self.hybrid_allocator)
        if not kinds:
            raise EngineRuleError(
                "the model has no KV cache: vLLM allocates no blocks", field="model"
            )
        if has_sparse_mla(cost) and self.block_size != FLASHMLA_SPARSE_BLOCK:
            return replace(self, block_size=FLASHMLA_SPARSE_BLOCK).plan(cost)
        families = {(k.kind, k.window) for k in kinds}
        if len(families) == 1:
            return self._uniform_plan(kinds)
        return self._hybrid_plan(kinds)

    def _uniform_plan(self, kinds: list[_Kind]) -> VllmPlan:
        """One group: every layer needs the same token slots (sizes may differ per layer)."""
        block = self.block_size
        pools = tuple(
            _Pool(kind=k, block_size=block, page_bytes=block * k.unit_bytes, groups=1)
            for k in kinds
        )
        if kinds[0].kind == "mamba":
            pools = tuple(
                _Pool(kind=k, block_size=block, page_bytes=k.unit_bytes, groups=1)
                for k in kinds
            )
        block_bytes = sum(p.page_bytes * p.kind.layers for p in pools)
        layers = sum(k.layers for k in kinds)
        return VllmPlan(
            pools=pools,
            block_bytes=block_bytes,
            group_size=layers,
            padding_layers=0,
            uniform=True,
        )

    def _attention_block(self, kinds: list[_Kind]) -> tuple[int, int]:
        """(block size, Mamba page): a Mamba state must fit in one attention page."""
        attention = [k.unit_bytes for k in kinds if k.kind != "mamba"]
        states = [k.unit_bytes for k in kinds if k.kind == "mamba"]
        if not states:
            return self.block_size, 0
        per_token = max(attention)
        align = self.kernel_block_alignment
        block = max(self.block_size, align * cdiv(max(states), align * per_token))
        return block, block * per_token  # the Mamba page is padded up to this

    def _hybrid_plan(self, kinds: list[_Kind]) -> VllmPlan:
        """Several specs: pages unified, groups of equal layer count (kv_cache_utils)."""
        block, mamba_page = self._attention_block(kinds)
        pages = {
            k: (mamba_page if k.kind == "mamba" else block * k.unit_bytes)
            for k in kinds
        }
        largest = max(pages.values())
        counts = [k.layers for k in kinds]
        group_size = min(counts)
        if max(counts) < group_size * 1.5:
            group_size = max(counts)
        pools, padding = [], 0
        for k in kinds:
            if largest % pages[k]:
                raise EngineRuleError(
                    f"vLLM cannot unify page sizes {pages[k]:,} and {largest:,} B",
                    field="model",
                )
            groups = cdiv(k.layers, group_size)
            padding += groups * group_size - k.layers
            own_block = block * (largest // pages[k]) if k.kind != "mamba" else block
            pools.append(
                _Pool(kind=k, block_size=own_block, page_bytes=largest, groups=groups)
            )
        return VllmPlan(
            pools=tuple(pools),
            block_bytes=largest * group_size,
            group_size=group_size,
            padding_layers=padding,
            uniform=False,
        )

    def _model_len(self, context_tokens: int | None) -> int:
        length = context_tokens or self.max_model_len
        if not length:
            raise EngineRuleError(
                "vLLM's figures depend on max_model_len; give a context or max_model_len",
                field="max_model_len",
            )
        return length

    def pool_blocks(self, pool: _Pool, context_tokens: int) -> int:
        """Blocks one group of this spec reserves for a request of `context_tokens`."""
        kind, block = pool.kind, pool.block_size
        batched = self.max_num_batched_tokens
        if kind.kind == "full":
            return cdiv(context_tokens, block)
        if kind.kind == "sliding":
            return cdiv(min(kind.window - 1 + batched, context_tokens), block) + 1
        if kind.kind == "chunked":
            return cdiv(min(kind.window + batched, context_tokens), block)
        return self.mamba_pages

    def request_blocks(self, plan: VllmPlan, context_tokens: int) -> int:
        """Block ids one request reserves (one id spans a block of every layer of a group)."""
        per_pool = [self.pool_blocks(p, context_tokens) for p in plan.pools]
        if plan.uniform:
            return max(per_pool)
        return sum(p.groups * n for p, n in zip(plan.pools, per_pool, strict=True))

    def request_bytes(self, cost: ModelCost, context_tokens: int) -> int:
        """Block ids x the bytes one id spans (padding layers included)."""
        plan = self.plan(cost)
        return self.request_blocks(plan, context_tokens) * plan.block_bytes

    def num_blocks(self, cost: ModelCost, budget_bytes: int) -> int:
        """available // page // group_size (get_num_blocks)."""
        return max(budget_bytes, 0) // self.plan(cost).block_bytes

    def max_memory_bytes(self, cost: ModelCost, max_model_len: int) -> int:
        """check_enough_kv_cache_memory's need: each layer's most pages for one request of
        max_model_len tokens, summed over the layers (padding layers hold none)."""
        plan = self.plan(cost)
        return sum(
            p.kind.layers * self.pool_blocks(p, max_model_len) * p.page_bytes
            for p in plan.pools
        )

    def estimated_max_model_len(
        self, cost: ModelCost, budget_bytes: int, max_model_len: int
    ) -> int:
        """estimate_max_model_len: the longest max_model_len (1 to the one asked) whose
        need fits the budget, by bisection; 0 when none does."""
        low, high = (
            0,
            max_model_len + 1,
        )  # need(low) fits (0: none), need(high) does not
        while high - low > 1:
            middle = (low + high) // 2
            fits = self.max_memory_bytes(cost, middle) <= budget_bytes
            low, high = (middle, high) if fits else (low, middle)
        return low

    def max_concurrency(
        self, cost: ModelCost, budget_bytes: int, context_tokens: int | None = None
    ) -> float:
        """num_blocks / blocks one request of max_model_len needs: the admissible figure."""
        plan = self.plan(cost)
        length = self._model_len(context_tokens)
        return self.num_blocks(cost, budget_bytes) / self.request_blocks(plan, length)

    def pool_tokens(self, cost: ModelCost, budget_bytes: int) -> int:
        """The "GPU KV cache size: N tokens" line, by the version's rule."""
        plan = self.plan(cost)
        if self.token_line == TOKEN_LINE_FROM_CONCURRENCY:
            length = self._model_len(None)
            return int(self.max_concurrency(cost, budget_bytes, length) * length)
        blocks = self.num_blocks(cost, budget_bytes)
        return blocks // plan.n_groups * plan.min_block_size

    def explain(self, cost: ModelCost, context_tokens: int) -> list[str]:
        """The groups, then each spec's blocks for this request, then the bytes."""
        from kvplan.engines.vllm_explain import explain_lines

        return explain_lines(self, cost, context_tokens)

    def capacity_notes(self, cost: ModelCost) -> list[str]:
        """For a hybrid model the token line is not concurrency x context, by design."""
        plan = self.plan(cost)
        if plan.uniform:
            return []
        if self.token_line == TOKEN_LINE_FROM_CONCURRENCY:
            how = (
                "int(concurrency x max_model_len), tokens of requests at max_model_len"
            )
        else:
            how = (
                f"the pool's block ids // {plan.n_groups} groups x"
                f" {plan.min_block_size} tokens, as if every group held every token"
            )
        return [
            f"{self.label}: cache_tokens is vLLM's 'GPU KV cache size' line, {how};"
            " for this hybrid model it is not max_concurrency x context. max_concurrency"
            " (block ids in the pool / block ids one request reserves over all groups) is"
            " the admissible figure"
        ]
