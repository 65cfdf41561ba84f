"""Bytes per layer group, and the terms the grid of KV-cache sizes is built from.

For one sequence at context c, a layer group costs

    count x (bytes_per_token x held(c) + compressed_bytes x (c // ratio) + state_bytes)

with held(c) = c for full and MLA layers, min(c, window) for sliding and chunked layers, and 0
for state and shared layers; the compressed term is DeepSeek-V4's compressed memory (one entry
per `ratio` tokens), zero elsewhere. A model's cache for a batch is

    kv_bytes = batch x sum over groups of the above + sum over groups of count x tensor_bytes

where tensor_bytes are the per-layer constants of a format (fp8's K and V scales), held once
per model, not per sequence. Every value is an exact integer; grids above a few thousand rows
are computed with numpy (imported only then), with Python ints where int64 could overflow.
"""

from dataclasses import dataclass

from kvplan.formats import (
    AUTO,
    CacheFormat,
    canonical_name,
    float_format,
    get_format,
    resolve_auto,
)
from kvplan.spec import MLA_MODES, Layer, ModelSpec

# Grids with fewer rows than this are computed with plain ints: importing numpy costs more
# than the arithmetic (a single `kvplan estimate` must answer in a fraction of a second).
NUMPY_MIN_ROWS = 4096
_INT64_SAFE = 2**62


@dataclass(frozen=True, kw_only=True)
class GroupCost:
    """What one layer group costs under a format: the terms of the formula above.

    Sizes are per layer: bytes_per_token for each token held, state_bytes per sequence,
    compressed_bytes per compressed entry, tensor_bytes once per model (per-tensor scales).
    row_values and rows_per_token describe each per-token tensor (K, V, latent, indexer).
    cap_tokens is the most tokens a layer holds per sequence (None: all of them).
    """

    layer: Layer
    count: int
    row_values: tuple[int, ...]
    rows_per_token: tuple[int, ...]
    bytes_per_token: int
    cap_tokens: int | None
    state_bytes: int
    tensor_bytes: int
    compress_ratio: int = 0
    compressed_bytes: int = 0

    def held(self, context):
        """Tokens one sequence keeps in this layer at `context` (an int or a numpy array)."""
        if self.cap_tokens is None or self.bytes_per_token == 0:
            return context
        if isinstance(context, int):
            return min(context, self.cap_tokens)
        import numpy as np

        return np.minimum(context, self.cap_tokens)

    def compressed_entries(self, context):
        """Compressed entries one sequence keeps at `context` (an int or a numpy array)."""
        return context // self.compress_ratio if self.compress_ratio else 0

    def sequence_bytes(self, context):
        """This group's bytes for one sequence at `context`."""
        window = self.bytes_per_token * self.held(context)
        compressed = self.compressed_bytes * self.compressed_entries(context)
        return self.count * (window + compressed + self.state_bytes)

    def grows_at(self, context: int) -> bool:
        """Whether one more token at `context` adds window bytes to this group."""
        if self.bytes_per_token == 0:
            return False
        return self.cap_tokens is None or context < self.cap_tokens

    def extra_token_bytes(self, context: int) -> int:
        """Bytes token `context + 1` adds to this group (window and compressed entries)."""
        grows = self.bytes_per_token if self.grows_at(context) else 0
        if self.compress_ratio and (context + 1) % self.compress_ratio == 0:
            grows += self.compressed_bytes
        return self.count * grows


_ATTENTION = ("full", "sliding", "chunked")


def _tensors(layer: Layer, mla_mode: str) -> tuple[tuple[int, int], ...]:
    """(rows per token, values per row) of each per-token cache tensor the layer stores."""
    if layer.kind in _ATTENTION and layer.kv_shared:
        return ((layer.n_kv_heads, layer.head_dim_k),)
    if layer.kind in _ATTENTION or (layer.kind == "mla" and mla_mode == "expanded"):
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
    layer: Layer,
    count: int,
    fmt: CacheFormat,
    *,
    mla_mode: str,
    state_fmt: CacheFormat,
    ssm_fmt: CacheFormat | None = None,
) -> GroupCost:
    """The cost terms of `count` layers of this geometry under `fmt`."""
    tensors = _tensors(layer, mla_mode)
    per_token = sum(rows * fmt.row_bytes(values) for rows, values in tensors)
    ssm_fmt = ssm_fmt or state_fmt
    conv = layer.conv_values * state_fmt.row_bytes(1)
    ssm = layer.ssm_values * ssm_fmt.row_bytes(1)
    compressed = sum(fmt.row_bytes(values) for values in layer.compressed_dims)
    n_tensors = len(tensors) + len(layer.compressed_dims)
    return GroupCost(
        layer=layer,
        count=count,
        row_values=tuple(values for _, values in tensors),
        rows_per_token=tuple(rows for rows, _ in tensors),
        bytes_per_token=per_token,
        cap_tokens=layer.window_tokens,
        state_bytes=conv + ssm,
        tensor_bytes=n_tensors * fmt.tensor_scale_bytes,
        compress_ratio=layer.compress_ratio,
        compressed_bytes=compressed,
    )


def state_dtypes(spec: ModelSpec, state_dtype: str | None = None) -> tuple[str, str]:
    """(conv dtype, SSM dtype) of recurrent states under a --state-dtype choice.

    None: the spec's own (state_dtype, ssm_dtype, else its dtype). `auto`: the dtype engines
    serve the model in, keeping the config's own SSM dtype (mamba_ssm_dtype) where it gives
    one, as vLLM's `auto` does. Any other name applies to both.
    """
    if state_dtype is None:
        conv = spec.state_dtype or spec.dtype
        return conv, spec.ssm_dtype or conv
    if canonical_name(state_dtype, field="state_dtype") == AUTO:
        conv = resolve_auto(spec.dtype, field="state_dtype")
        return conv, spec.ssm_dtype or conv
    return state_dtype, state_dtype


def model_costs(
    spec: ModelSpec,
    cache_dtype: str,
    *,
    mla_mode: str = "latent",
    state_dtype: str | None = None,
) -> tuple[GroupCost, ...]:
    """Every layer group's cost terms for a model under a cache format.

    `state_dtype` overrides the dtype of every recurrent state; by default conv states take
    the spec's state_dtype (or its dtype) and SSM states the spec's ssm_dtype (or the same).
    """
    if mla_mode not in MLA_MODES:
        raise ValueError(f"mla_mode must be one of {MLA_MODES}, got {mla_mode!r}")
    fmt = get_format(cache_dtype, model_dtype=spec.dtype)
    conv_name, ssm_name = state_dtypes(spec, state_dtype)
    state_fmt = float_format(conv_name, field="state_dtype")
    ssm_fmt = float_format(ssm_name, field="state_dtype")
    return tuple(
        group_cost(
            g.layer,
            g.count,
            fmt,
            mla_mode=mla_mode,
            state_fmt=state_fmt,
            ssm_fmt=ssm_fmt,
        )
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
        """Bytes token `context + 1` adds: only the layers still growing count."""
        return sum(g.extra_token_bytes(context) for g in self.groups)

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
