"""What every engine profile shares: the interface, the rank's cost, and small integer helpers.

A profile answers four questions for one GPU (one tensor-parallel rank, one pipeline stage),
given a ModelCost already sharded for that rank (`rank_cost`):

- request_bytes(cost, context_tokens): bytes one request of that many tokens reserves;
- pool_tokens(cost, budget_bytes): the "KV cache size: N tokens" figure the engine prints;
- max_concurrency(cost, budget_bytes, context_tokens): the concurrency figure it prints;
- figures(...): every other figure it prints (blocks, buffer sizes, cells, ...).

Each rule lives in one place in its engine's module, next to the source it was read from
(docs/engines.md), so a newer engine version is one change.
"""

from dataclasses import dataclass, fields, replace
from fractions import Fraction
from typing import ClassVar

from kvplan.engines.windows import KEEP_ALL, WindowRule, engine_spec
from kvplan.errors import KvplanError
from kvplan.sizing import GroupCost, ModelCost, model_cost
from kvplan.spec import ModelSpec


class EngineRuleError(KvplanError):
    """A model or setting that an engine profile does not model (or the engine refuses)."""


def cdiv(a: int, b: int) -> int:
    """Ceiling division of non-negative ints, as the engines write it."""
    return -(-a // b)


def pad_up(value: int, multiple: int) -> int:
    """`value` rounded up to a multiple (ggml's GGML_PAD)."""
    return cdiv(value, multiple) * multiple


def rank_cost(
    spec: ModelSpec,
    cache_dtype: str,
    *,
    tp: int = 1,
    mla_mode: str = "latent",
    state_dtype: str | None = None,
) -> ModelCost:
    """The cost terms one tensor-parallel rank of `tp` holds (Layer.sharded decides the heads)."""
    if tp != 1:
        spec = spec.with_layers(tuple(layer.sharded(tp) for layer in spec.layers))
    return model_cost(spec, cache_dtype, mla_mode=mla_mode, state_dtype=state_dtype)


# Engine settings that default to the model's own max_positions when not given.
MODEL_LENGTH_KNOBS = ("max_model_len", "max_seq_len")


@dataclass(frozen=True, kw_only=True)
class Figure:
    """One figure an engine prints, as the profile predicts it."""

    name: str
    value: int | float
    unit: str  # tokens, blocks, cells, x, GiB, MiB, bytes


@dataclass(frozen=True, kw_only=True)
class EngineProfile:
    """Base of every profile: the name, the versions it describes, its block size, its knobs."""

    name: str = "ideal"
    versions: str = ""
    block_size: int = 1
    mla_mode: str = "latent"  # how this engine stores MLA layers
    window_rule: ClassVar[WindowRule] = KEEP_ALL  # which windows this engine keeps
    # the cache formats the engine offers (kvplan's names); None: any
    cache_dtypes: ClassVar[tuple[str, ...] | None] = None
    prints_gib_as_gb: ClassVar[bool] = False  # its logs say "GB" for 2^30 bytes

    def check_cache_dtype(self, cache_dtype: str, model_dtype: str = "bf16") -> None:
        """Refuse a cache format the engine does not offer, naming the ones it does."""
        from kvplan.formats import get_format

        name = get_format(cache_dtype, model_dtype=model_dtype).name
        if self.cache_dtypes is not None and name not in self.cache_dtypes:
            raise EngineRuleError(
                f"{self.name} has no {name} KV cache; it offers"
                f" {', '.join(self.cache_dtypes)}",
                field="cache_dtype",
            )

    def engine_spec(self, spec: ModelSpec) -> tuple[ModelSpec, str | None]:
        """The spec as this engine caches it (windows it ignores as full layers), a note."""
        return engine_spec(self.window_rule, spec, self.name)

    def for_model(self, spec: ModelSpec) -> "EngineProfile":
        """This profile with its unset length settings taken from the model's max_positions
        (vLLM's max_model_len and TensorRT-LLM's max_seq_len default to it)."""
        knobs = self.knobs()
        unset = [k for k in MODEL_LENGTH_KNOBS if k in knobs and knobs[k] is None]
        if not unset or not spec.max_positions:
            return self
        return self.with_knobs(**dict.fromkeys(unset, spec.max_positions))

    def cost(
        self,
        spec: ModelSpec,
        cache_dtype: str,
        *,
        tp: int = 1,
        mla_mode: str | None = None,
        state_dtype: str | None = None,
    ) -> ModelCost:
        """The cost terms one TP rank holds as this engine caches the model."""
        self.check_cache_dtype(cache_dtype, spec.dtype)
        spec, _ = self.engine_spec(spec)
        mode = mla_mode or self.mla_mode
        cost = rank_cost(
            spec, cache_dtype, tp=tp, mla_mode=mode, state_dtype=state_dtype
        )
        return self.store(cost, cache_dtype, spec.dtype, mode)

    def store(
        self, cost: ModelCost, cache_dtype: str, model_dtype: str, mla_mode: str
    ) -> ModelCost:
        """The layout's cost terms as this engine stores them (its own rows for some
        layers, such as DeepSeek-V3.2's indexer key); the layout's by default."""
        return cost

    @property
    def label(self) -> str:
        """`vllm 0.10-0.20 (V1)`: the name and the versions, as tables show it."""
        return f"{self.name} {self.versions}".strip()

    def knobs(self) -> dict:
        """The engine settings this profile models, by field name (for notes and errors)."""
        hidden = {"name", "versions"}
        return {
            f.name: getattr(self, f.name) for f in fields(self) if f.name not in hidden
        }

    def settings_text(self, names=None) -> str:
        """`block_size 16, gpu_memory_utilization 0.9`: the knobs as a reader wants them."""
        shown = []
        for key, value in self.knobs().items():
            if value is None or key == "mla_mode" or (names and key not in names):
                continue
            if isinstance(value, Fraction):
                value = f"{float(value):g}"
            shown.append(f"{key} {value}")
        return ", ".join(shown)

    def token_bytes(self, cost: ModelCost) -> int:
        """Bytes one token costs while every layer holds it, as this engine stores it."""
        return cost.bytes_per_token

    def extra_token_bytes(self, cost: ModelCost, context_tokens: int) -> int:
        """Bytes token `context + 1` adds in the layers still growing, as stored here."""
        return cost.bytes_per_extra_token(context_tokens)

    def cache_label(self, label: str) -> str:
        """How a row names the cache format (an engine may store K and V apart)."""
        return label

    def with_knobs(self, **values) -> "EngineProfile":
        """The same profile with some knobs changed; unknown knobs are an error."""
        known = self.knobs()
        for key in values:
            if key not in known:
                raise KvplanError(
                    f"{self.name} has no setting {key!r}; settings: {', '.join(sorted(known))}",
                    field="engine_opt",
                )
        return replace(self, **values)

    def request_bytes(self, cost: ModelCost, context_tokens: int) -> int:
        """Bytes one request of `context_tokens` reserves on this GPU."""
        raise NotImplementedError

    def pool_tokens(self, cost: ModelCost, budget_bytes: int) -> int:
        """The pool size in tokens the engine prints for this budget."""
        raise NotImplementedError

    def max_concurrency(
        self, cost: ModelCost, budget_bytes: int, context_tokens: int
    ) -> float:
        """Requests of `context_tokens` the engine says fit in this budget."""
        raise NotImplementedError

    def figures(
        self, cost: ModelCost, budget_bytes: int, context_tokens: int
    ) -> list[Figure]:
        """Every figure the engine prints at start-up, predicted for this budget."""
        return figure_list(
            pool_tokens=(self.pool_tokens(cost, budget_bytes), "tokens"),
            max_concurrency=(
                self.max_concurrency(cost, budget_bytes, context_tokens),
                "x",
            ),
        )

    def explain(self, cost: ModelCost, context_tokens: int) -> list[str]:
        """How this engine reserves a request, one rule to a line, with the numbers in it."""
        return [f"{self.label}: {self.request_bytes(cost, context_tokens):,} B"]

    def capacity_notes(self, cost: ModelCost) -> list[str]:
        """Where a figure this engine prints differs by design from what a request holds.

        Capacity rows keep max_concurrency x request bytes within the pool and max_requests
        = floor(max_concurrency); an engine whose printed line is defined otherwise says so.
        """
        return []


def tensor_bytes(g: GroupCost) -> list[int]:
    """Bytes per token per layer of each tensor the group caches (K, V; or the latent).

    The group's bytes per token split in proportion to each tensor's values, which is exact
    for the formats engines pool (floats, and ggml blocks that divide the rows).
    """
    shares = [r * v for r, v in zip(g.rows_per_token, g.row_values, strict=True)]
    total = sum(shares)
    return [g.bytes_per_token * s // total for s in shares] if total else []


def figure_list(**figures: tuple) -> list[Figure]:
    """Figures from name=(value, unit) pairs, in the order given."""
    return [Figure(name=n, value=v, unit=u) for n, (v, u) in figures.items()]


def fraction_of(total_bytes: int, fraction: Fraction) -> int:
    """floor(total x fraction) in exact arithmetic (a memory share of a GPU)."""
    return int(total_bytes * Fraction(fraction))


def largest_fitting_context(
    profile: EngineProfile, cost: ModelCost, budget: int, *, step: int = 1
) -> int:
    """The longest request (a multiple of `step` tokens) whose reservation fits in `budget`
    bytes; 0 if none. Doubling, then bisection: request bytes never shrink with length."""

    def fits(units: int) -> bool:
        return profile.request_bytes(cost, units * step) <= budget

    if not fits(1):
        return 0
    low, high = 1, 2
    while fits(high):
        low, high = high, high * 2
        if high * step > 2**40:  # a state-only model: no token costs bytes
            return 2**40
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    return low * step
