"""The KV cache `kvplan measure` fills: preallocated per layer, in docs/formats.md's layouts.

Each per-token tensor (K, V, an MLA latent, an indexer key) is a TokenStore of
`[batch, rows, slots, row_values]` values, where rows are the KV heads (1 for a latent):

- fp32 / fp16 / bf16: the values, nothing else;
- fp8 (e4m3, or e5m2): one byte per value and one fp32 scale for the whole tensor, calibrated
  on the prefill's amplitude and frozen (transformers' Fp8QuantizedLayer does the same);
- int8: symmetric, one byte per value and one fp16 scale per token per row, `[batch, rows, slots]`.

Sliding and chunked layers hold `min(tokens, window)` slots used as a ring (token p in slot
p mod slots); full and MLA layers hold every token. State layers hold a conv and a recurrent
state of exactly the spec's `conv_values` and `ssm_values` per sequence, in the state dtypes.
Measured bytes are the sizes of the distinct storages behind every cache tensor.
"""

from dataclasses import dataclass

import torch

from kvplan.errors import FormatError
from kvplan.formats import get_format
from kvplan.spec import Layer

FLOAT_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
FP8_DTYPES = {"fp8": torch.float8_e4m3fn, "fp8_e5m2": torch.float8_e5m2}
SUPPORTED = (*FLOAT_DTYPES, *FP8_DTYPES, "int8")
_INT8_MAX = 127.0


def cache_format_name(name: str, *, model_dtype: str) -> str:
    """The canonical format name if `kvplan measure` can store it, else a FormatError."""
    fmt = get_format(name, model_dtype=model_dtype)
    if fmt.name not in SUPPORTED:
        raise FormatError(
            f"kvplan measure stores {', '.join(SUPPORTED)} caches; {fmt.name} "
            "(block or group formats) can be estimated but not measured",
            field="cache_dtype",
        )
    return fmt.name


class TokenStore:
    """One per-token cache tensor `[batch, rows, slots, values]`, with its scales if any."""

    def __init__(
        self, fmt: str, batch: int, rows: int, slots: int, values: int, device
    ):
        self.fmt = fmt
        shape = (batch, rows, slots, values)
        self.scale = None
        if fmt in FLOAT_DTYPES:
            self.data = torch.zeros(shape, dtype=FLOAT_DTYPES[fmt], device=device)
        elif fmt in FP8_DTYPES:
            self.data = torch.zeros(shape, dtype=FP8_DTYPES[fmt], device=device)
            self.scale = torch.ones((), dtype=torch.float32, device=device)
        else:
            self.data = torch.zeros(shape, dtype=torch.int8, device=device)
            self.scale = torch.ones(shape[:3], dtype=torch.float16, device=device)

    def tensors(self) -> list:
        """Every tensor this store allocated."""
        return [self.data] if self.scale is None else [self.data, self.scale]

    def write(self, slots, x, *, calibrate: bool = False) -> None:
        """Store x `[batch, rows, n, values]` in `slots` (n indices); fp8 calibrates on prefill."""
        if self.fmt in FLOAT_DTYPES:
            self.data.index_copy_(2, slots, x.to(self.data.dtype))
        elif self.fmt in FP8_DTYPES:
            # index_copy_ has no float8 kernel on the CPU: copy the same bytes as uint8
            values = self._fp8(x, calibrate).view(torch.uint8)
            self.data.view(torch.uint8).index_copy_(2, slots, values)
        else:
            values, scales = _int8(x)
            self.data.index_copy_(2, slots, values)
            self.scale.index_copy_(2, slots, scales)

    def _fp8(self, x, calibrate: bool):
        top = torch.finfo(self.data.dtype).max
        if calibrate:
            amax = x.detach().abs().amax().float()
            self.scale.copy_((amax / top).clamp(min=torch.finfo(torch.float32).tiny))
        # values past the calibrated range saturate instead of becoming NaN
        return (x.float() / self.scale).clamp(-top, top).to(self.data.dtype)

    def read(self, n: int, dtype):
        """The first n slots, dequantized to `dtype`: `[batch, rows, n, values]`."""
        data = self.data[:, :, :n]
        if self.fmt in FLOAT_DTYPES:
            return data.to(dtype)
        if self.fmt in FP8_DTYPES:
            return (data.float() * self.scale).to(dtype)
        return (data.float() * self.scale[:, :, :n, None].float()).to(dtype)


def _int8(x):
    """Symmetric int8 values and one fp16 scale per row (the last dimension)."""
    amax = x.detach().float().abs().amax(dim=-1)
    tiny = torch.finfo(torch.float16).tiny
    # the scale is rounded to fp16 before quantizing, so values and scale agree on read
    scale = (amax / _INT8_MAX).clamp(min=tiny).to(torch.float16)
    values = torch.round(x.float() / scale[..., None].float()).clamp(
        -_INT8_MAX, _INT8_MAX
    )
    return values.to(torch.int8), scale


@dataclass(frozen=True, kw_only=True)
class Geometry:
    """What a cache needs besides the layer: batch, tokens to hold, where, formats."""

    batch_size: int
    tokens: int
    device: object
    cache_dtype: str
    conv_dtype: str = "bf16"
    ssm_dtype: str = "bf16"


class TokenCache:
    """Slots of per-token tensors: every token (full, MLA), or a ring of the window."""

    def __init__(self, kind: str, window: int | None, tokens: int):
        self.kind, self.window = kind, window
        self.slots = tokens if window is None else min(tokens, window)

    def slot_of(self, positions):
        """The slot each position is written to (a ring for windowed layers)."""
        return positions % self.slots

    def visible(self, position: int) -> int:
        """How many slots (from 0) the query at `position` reads, its own token included.

        A ring of `window` slots holds exactly the last `window` tokens; a chunk's tokens sit
        in slots 0.. of its own ring, so the query reads up to its offset in the chunk.
        """
        if self.kind == "chunked":
            return position % self.window + 1
        return min(position + 1, self.slots)


class AttentionCache(TokenCache):
    """K and V (or one K=V tensor) of a full, sliding or chunked layer."""

    def __init__(self, layer: Layer, geo: Geometry):
        super().__init__(layer.kind, layer.window_tokens, geo.tokens)
        args = (geo.cache_dtype, geo.batch_size, layer.n_kv_heads, self.slots)
        self.k = TokenStore(*args, layer.head_dim_k, geo.device)
        self.v = (
            None if layer.kv_shared else TokenStore(*args, layer.head_dim_v, geo.device)
        )

    def stores(self) -> list[TokenStore]:
        return [self.k] if self.v is None else [self.k, self.v]


class LatentCache(TokenCache):
    """An MLA layer's latent (kv_lora_rank + rope_dim values per token) and indexer key."""

    def __init__(self, layer: Layer, geo: Geometry):
        super().__init__("full", None, geo.tokens)
        args = (geo.cache_dtype, geo.batch_size, 1, geo.tokens)
        self.latent = TokenStore(*args, layer.kv_lora_rank + layer.rope_dim, geo.device)
        self.index = None
        if layer.index_head_dim:
            self.index = TokenStore(*args, layer.index_head_dim, geo.device)

    def stores(self) -> list[TokenStore]:
        return [self.latent] if self.index is None else [self.latent, self.index]


class StateCache:
    """A recurrent layer's conv state `[batch, channels, width]` and state `[batch, ch, d]`."""

    def __init__(self, conv_shape, ssm_shape, geo: Geometry):
        batch = geo.batch_size
        self.conv = self.ssm = None
        if conv_shape:
            dtype = FLOAT_DTYPES[geo.conv_dtype]
            self.conv = torch.zeros(
                (batch, *conv_shape), dtype=dtype, device=geo.device
            )
        if ssm_shape:
            dtype = FLOAT_DTYPES[geo.ssm_dtype]
            self.ssm = torch.zeros((batch, *ssm_shape), dtype=dtype, device=geo.device)

    def tensors(self) -> list:
        return [t for t in (self.conv, self.ssm) if t is not None]


class ModelCache:
    """Every layer's cache, by layer index; a shared layer holds its source's cache object."""

    def __init__(self, layers: list):
        self.layers = (
            layers  # per layer: a dict of caches by role ("kv", "state"), or {}
        )

    def tensors(self) -> list:
        """Every tensor behind every layer's cache (repeats included: see storage_bytes)."""
        found = []
        for caches in self.layers:
            for cache in caches.values():
                if isinstance(cache, StateCache):
                    found += cache.tensors()
                else:
                    found += [t for store in cache.stores() for t in store.tensors()]
        return found

    def storage_bytes(self) -> int:
        """Bytes of the distinct storages behind the cache tensors (deduplicated by address)."""
        return storage_bytes(self.tensors())


def storage_bytes(tensors) -> int:
    """Sum of the sizes of the distinct storages behind `tensors`, each counted once."""
    seen = {}
    for tensor in tensors:
        storage = tensor.untyped_storage()
        seen[storage.data_ptr()] = storage.nbytes()
    return sum(seen.values())
