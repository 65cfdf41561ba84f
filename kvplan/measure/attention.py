"""Real attention for the measured decoder: RoPE, causal and windowed masks, grouped KV heads.

GQA is done by grouping queries, never by copying K and V: the H query heads are viewed as
`[kv_heads, group x queries]` and multiplied against each KV head's keys, so one stored head
serves its whole group (query head h reads KV head h // group, as Llama's repeat_kv pairs them).

Prefill attends over the fresh K and V in blocks of queries, each block against only the keys
its mask can see, so the score matrix never exceeds SCORE_BUDGET_BYTES. Decode reads the cache:
a prefix of its slots, which for every kind holds exactly the keys the new token may see.
"""

import math
from dataclasses import dataclass, field

import torch
from torch import nn

ROPE_BASE = 10000.0
SCORE_BUDGET_BYTES = 512 * 2**20  # fp32 scores of one prefill query block


@dataclass
class Work:
    """Work counted per sequence: query positions run through attention, keys scored."""

    query_positions: int = 0
    key_positions: int = 0

    def add(self, queries: int, keys: int) -> None:
        self.query_positions += queries
        self.key_positions += keys


@dataclass
class Step:
    """One forward pass: its first position and positions, the cache (None: none), fresh K/V."""

    start: (
        int  # a Python int, so that no layer has to read a device tensor (a GPU sync)
    )
    positions: torch.Tensor
    cache: object | None
    work: Work
    fresh: dict = field(
        default_factory=dict
    )  # layer index -> what a shared layer reads

    @property
    def decoding(self) -> bool:
        """One new token on top of a filled cache (otherwise: attend over fresh K and V)."""
        return self.cache is not None and self.start > 0


def rope(x, positions, dims: int):
    """Rotate the first `dims` (even) features of x `[batch, heads, n, d]` by their positions."""
    dims -= dims % 2
    if dims == 0:
        return x
    inv_freq = ROPE_BASE ** (
        -torch.arange(0, dims, 2, device=x.device, dtype=torch.float32) / dims
    )
    angles = positions.float()[:, None] * inv_freq[None, :]  # [n, dims/2]
    cos, sin = angles.cos(), angles.sin()
    rotated, rest = x[..., :dims].float(), x[..., dims:]
    first, second = rotated[..., : dims // 2], rotated[..., dims // 2 :]
    turned = torch.cat((first * cos - second * sin, second * cos + first * sin), dim=-1)
    return torch.cat((turned.to(x.dtype), rest), dim=-1)


def grouped_attention(q, k, v, scale: float, allowed=None):
    """softmax(q k^T) v with KV heads shared by groups of query heads, K and V never copied.

    q `[B, H, L, dk]`, k `[B, Hkv, S, dk]`, v `[B, Hkv, S, dv]`, allowed `[L, S]` or None.
    Returns `[B, H, L, dv]`.
    """
    batch, heads, length, dk = q.shape
    kv_heads = k.shape[1]
    group = heads // kv_heads
    queries = q.reshape(batch, kv_heads, group * length, dk)  # heads are kv-head-major
    scores = (queries @ k.transpose(-1, -2)).float() * scale  # [B, Hkv, G*L, S]
    if allowed is not None:
        scores = scores.view(batch, kv_heads, group, length, -1)
        scores = scores.masked_fill(~allowed, float("-inf"))
        scores = scores.view(batch, kv_heads, group * length, -1)
    probs = scores.softmax(dim=-1).to(v.dtype)
    out = probs @ v  # [B, Hkv, G*L, dv]
    return out.view(batch, heads, length, v.shape[-1])


def key_range(kind: str, window: int | None, first: int, last: int) -> tuple[int, int]:
    """The keys [lo, hi) that queries at positions first..last may see."""
    if kind == "sliding":
        return max(0, first - window + 1), last + 1
    if kind == "chunked":
        return first - first % window, last + 1
    return 0, last + 1


def keys_before(kind: str, window: int | None, n: int) -> int:
    """Keys scored by the queries at positions 0..n-1 together (closed form, no device sync)."""
    if kind == "chunked":
        whole, rest = divmod(n, window)
        return whole * window * (window + 1) // 2 + rest * (rest + 1) // 2
    if kind == "sliding" and n > window:
        return window * (window + 1) // 2 + (n - window) * window
    return n * (n + 1) // 2


def allowed_mask(kind: str, window: int | None, queries, keys):
    """Which keys each query may see: causal, within the window, or within its chunk."""
    q, k = queries[:, None], keys[None, :]
    allowed = k <= q
    if kind == "sliding":
        allowed &= q - k < window
    elif kind == "chunked":
        allowed &= q // window == k // window
    return allowed


def prefill_attention(q, k, v, positions, *, kind, window, scale, work: Work):
    """Attention of every prompt query over the fresh K and V, in memory-bounded query blocks."""
    batch, heads, length, _ = q.shape
    block = max(1, SCORE_BUDGET_BYTES // (4 * batch * heads * max(length, 1)))
    outputs = []
    for start in range(0, length, block):
        stop = min(start + block, length)
        lo, hi = key_range(kind, window, start, stop - 1)
        allowed = allowed_mask(kind, window, positions[start:stop], positions[lo:hi])
        seen = keys_before(kind, window, stop) - keys_before(kind, window, start)
        work.add(stop - start, seen)
        outputs.append(
            grouped_attention(
                q[:, :, start:stop].contiguous(),
                k[:, :, lo:hi],
                v[:, :, lo:hi],
                scale,
                allowed,
            )
        )
    return torch.cat(outputs, dim=2)


def linear(n_in: int, n_out: int) -> nn.Linear:
    """A bias-free projection, initialized by the model builder (see model.py)."""
    return nn.Linear(n_in, n_out, bias=False)


class RMSNorm(nn.Module):
    """x / rms(x) x weight, in fp32 for the reduction."""

    def __init__(self, size: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x):
        normed = x.float() * torch.rsqrt(
            x.float().pow(2).mean(-1, keepdim=True) + self.eps
        )
        return (normed * self.weight.float()).to(x.dtype)


class CachedAttention(nn.Module):
    """What every attention-like layer shares: fresh K/V on prefill, the cache on decode.

    A layer with `source` set is a shared layer: it computes its own queries and reads the
    K/V (fresh or cached) of layer `source`, storing nothing. Subclasses give `queries`,
    `fresh` (per-token tensors, one per cache store), `keys_values` and `output`.
    """

    kind = "full"
    window: int | None = None
    reads = (
        2  # how many of the cache's stores attention reads (an indexer key is not read)
    )

    def __init__(self, index: int, source: int | None, scale: float):
        super().__init__()
        self.index, self.source, self.scale = index, source, scale

    def forward(self, x, step: Step):
        q = self.queries(x, step.positions)
        owner = self.index if self.source is None else self.source
        cache = None if step.cache is None else step.cache.layers[owner]["kv"]
        if step.decoding:
            if self.source is None:
                _store(cache, step.positions, self.fresh(x, step.positions))
            n = cache.visible(step.start)
            stored = [s.read(n, q.dtype) for s in cache.stores()[: self.reads]]
            keys, values = self.keys_values(stored)
            step.work.add(1, n)
            return self.output(grouped_attention(q, keys, values, self.scale))
        if self.source is None:
            step.fresh[self.index] = self.fresh(x, step.positions)
            if cache is not None:
                _store(cache, step.positions, step.fresh[self.index], calibrate=True)
        keys, values = self.keys_values(step.fresh[owner])
        out = prefill_attention(
            q,
            keys,
            values,
            step.positions,
            kind=self.kind,
            window=self.window,
            scale=self.scale,
            work=step.work,
        )
        return self.output(out)


def _store(cache, positions, fresh, *, calibrate: bool = False) -> None:
    """Write fresh per-token tensors into their stores: the last `slots` tokens of a ring."""
    kept = positions[-cache.slots :]
    first = len(positions) - len(kept)
    slots = cache.slot_of(kept)
    for store, tensor in zip(cache.stores(), fresh, strict=True):
        store.write(slots, tensor[:, :, first:], calibrate=calibrate)


def heads_view(x, proj, heads: int, dim: int):
    """proj(x) `[B, L, heads*dim]` as `[B, heads, L, dim]`."""
    batch, length, _ = x.shape
    return proj(x).view(batch, length, heads, dim).transpose(1, 2)


class Attention(CachedAttention):
    """A full, sliding or chunked attention layer (K=V in one tensor when `kv_shared`)."""

    def __init__(
        self, layer, hidden: int, n_heads: int, index: int, source: int | None
    ):
        super().__init__(index, source, 1.0 / math.sqrt(layer.head_dim_k))
        self.layer, self.n_heads = layer, n_heads
        self.kind, self.window = layer.kind, layer.window_tokens
        self.q_proj = linear(hidden, n_heads * layer.head_dim_k)
        self.o_proj = linear(n_heads * layer.head_dim_v, hidden)
        if source is None:
            kv = layer.n_kv_heads
            self.k_proj = linear(hidden, kv * layer.head_dim_k)
            if not layer.kv_shared:
                self.v_proj = linear(hidden, kv * layer.head_dim_v)

    def new_cache(self, geo):
        from kvplan.measure.cache import AttentionCache

        return AttentionCache(self.layer, geo)

    def queries(self, x, positions):
        q = heads_view(x, self.q_proj, self.n_heads, self.layer.head_dim_k)
        return rope(q, positions, self.layer.head_dim_k).contiguous()

    def fresh(self, x, positions):
        layer = self.layer
        k = heads_view(x, self.k_proj, layer.n_kv_heads, layer.head_dim_k)
        k = rope(k, positions, layer.head_dim_k).contiguous()
        if layer.kv_shared:
            return (k,)
        return k, heads_view(x, self.v_proj, layer.n_kv_heads, layer.head_dim_v)

    def keys_values(self, tensors):
        return (tensors[0], tensors[0]) if len(tensors) == 1 else tuple(tensors)

    def output(self, out):
        return self.o_proj(out.transpose(1, 2).flatten(2))
