"""Bytes per layer group, and the grid of KV-cache sizes over models, formats, contexts, batches.

For one sequence at context c, a layer group costs

    count x (bytes_per_token x held(c) + state_bytes)

with held(c) = c for full and MLA layers, min(c, window) for sliding and chunked layers, and 0
for state and shared layers. A model's cache for a batch is

    kv_bytes = batch x sum over groups of the above + sum over groups of count x tensor_bytes

where tensor_bytes are the per-layer constants of a format (fp8's K and V scales), held once
per model, not per sequence. Every value is an exact integer; grids above a few thousand rows
are computed with numpy (imported only then), with Python ints where int64 could overflow.
"""

from dataclasses import dataclass

from kvplan.formats import CacheFormat, float_format, get_format
from kvplan.spec import MLA_MODES, Layer, ModelSpec

# Grids with fewer rows than this are computed with plain ints: importing numpy costs more
# than the arithmetic (a single `kvplan estimate` must answer in a fraction of a second).
NUMPY_MIN_ROWS = 4096
_INT64_SAFE = 2**62


@dataclass(frozen=True, kw_only=True)
class GroupCost:
    """What one layer group costs under a format: the terms of the formula above."""

    layer: Layer
    count: int
    row_values: tuple[
        int, ...
    ]  # values per row of each per-token tensor (K, V, latent, ...)
    rows_per_token: tuple[
        int, ...
    ]  # rows of each tensor one token stores (KV heads, or 1)
    bytes_per_token: int  # per layer, per token held
    cap_tokens: (
        int | None
    )  # most tokens the layer holds per sequence; None: all of them
    state_bytes: int  # per layer, per sequence, whatever the context
    tensor_bytes: int  # per layer, once per model (per-tensor scales)

    def held(self, context):
        """Tokens one sequence keeps in this layer at `context` (an int or a numpy array)."""
        if self.cap_tokens is None or self.bytes_per_token == 0:
            return context
        if isinstance(context, int):
            return min(context, self.cap_tokens)
        import numpy as np

        return np.minimum(context, self.cap_tokens)

    def sequence_bytes(self, context):
        """This group's bytes for one sequence at `context`."""
        return self.count * (
            self.bytes_per_token * self.held(context) + self.state_bytes
        )

    def grows_at(self, context: int) -> bool:
        """Whether one more token at `context` adds bytes to this group."""
        if self.bytes_per_token == 0:
            return False
        return self.cap_tokens is None or context < self.cap_tokens


def _tensors(layer: Layer, mla_mode: str) -> tuple[tuple[int, int], ...]:
    """(rows per token, values per row) of each per-token cache tensor the layer stores."""
    if layer.kind in ("full", "sliding", "chunked") or (
        layer.kind == "mla" and mla_mode == "expanded"
    ):
        tensors = [
            (layer.n_kv_heads, layer.head_dim_k),
            (layer.n_kv_heads, layer.head_dim_v),
        ]
    elif layer.kind == "mla":
        tensors = [(1, layer.kv_lora_rank + layer.rope_dim)]
    else:
        return ()
    if layer.kind == "mla" and layer.index_head_dim:
        tensors.append((1, layer.index_head_dim))
    return tuple(tensors)


def group_cost(
    layer: Layer, count: int, fmt: CacheFormat, *, mla_mode: str, state_fmt: CacheFormat
) -> GroupCost:
    """The cost terms of `count` layers of this geometry under `fmt`."""
    tensors = _tensors(layer, mla_mode)
    per_token = sum(rows * fmt.row_bytes(values) for rows, values in tensors)
    state_values = layer.conv_values + layer.ssm_values
    return GroupCost(
        layer=layer,
        count=count,
        row_values=tuple(values for _, values in tensors),
        rows_per_token=tuple(rows for rows, _ in tensors),
        bytes_per_token=per_token,
        cap_tokens=layer.window_tokens,
        state_bytes=state_values * state_fmt.row_bytes(1),
        tensor_bytes=len(tensors) * fmt.tensor_scale_bytes,
    )


def model_costs(
    spec: ModelSpec,
    cache_dtype: str,
    *,
    mla_mode: str = "latent",
    state_dtype: str | None = None,
) -> tuple[GroupCost, ...]:
    """Every layer group's cost terms for a model under a cache format."""
    if mla_mode not in MLA_MODES:
        raise ValueError(f"mla_mode must be one of {MLA_MODES}, got {mla_mode!r}")
    fmt = get_format(cache_dtype, model_dtype=spec.dtype)
    state_fmt = float_format(
        state_dtype or spec.state_dtype or spec.dtype, field="state_dtype"
    )
    return tuple(
        group_cost(g.layer, g.count, fmt, mla_mode=mla_mode, state_fmt=state_fmt)
        for g in spec.groups
    )


@dataclass(frozen=True, kw_only=True)
class ModelCost:
    """A model's whole cost under one format: sums over its groups."""

    groups: tuple[GroupCost, ...]

    @property
    def bytes_per_token(self) -> int:
        """Bytes one token costs while every layer still holds it (below every window)."""
        return sum(g.count * g.bytes_per_token for g in self.groups)

    @property
    def state_bytes(self) -> int:
        """Fixed bytes per sequence from state layers."""
        return sum(g.count * g.state_bytes for g in self.groups)

    @property
    def fixed_bytes(self) -> int:
        """Bytes held once per model instance (per-tensor scales), whatever the batch."""
        return sum(g.count * g.tensor_bytes for g in self.groups)

    def bytes_per_extra_token(self, context: int) -> int:
        """Bytes the next token adds at `context`: only the layers still growing count."""
        return sum(
            g.count * g.bytes_per_token for g in self.groups if g.grows_at(context)
        )

    def sequence_bytes(self, context):
        """Bytes one sequence holds at `context` (an int, or a numpy array of contexts)."""
        total = 0
        for g in self.groups:
            total = total + g.sequence_bytes(context)
        return total

    def total_bytes(self, context: int, batch: int) -> int:
        """Bytes `batch` sequences of `context` tokens hold, per-model constants included."""
        return batch * self.sequence_bytes(context) + self.fixed_bytes


def model_cost(spec: ModelSpec, cache_dtype: str, **options) -> ModelCost:
    """A model's cost terms under a cache format (see `model_costs` for the options)."""
    return ModelCost(groups=model_costs(spec, cache_dtype, **options))


def needs_python_ints(cost: ModelCost, max_context: int, max_batch: int) -> bool:
    """Whether the largest value of a grid could overflow int64 arithmetic."""
    largest = max_batch * cost.sequence_bytes(max_context) + cost.fixed_bytes
    return largest >= _INT64_SAFE or max_context >= _INT64_SAFE
