"""A recurrent mixer whose state has exactly a spec's `conv_values` and `ssm_values` per sequence.

A spec keeps only the sizes of a Mamba or linear-attention layer's state, not its inner widths,
so this is a stand-in with the same memory and the same kind of work, not the model's own
arithmetic: a causal depthwise convolution that keeps its last `width` inputs
(`conv_values = channels x width`, width 3 as Mamba's kernel of 4 keeps, else 2 or 1), whose
output channels feed (cycled to the state's channel count, as Mamba feeds its conv output to
its scan) a diagonal linear recurrence `h = a * h + (1 - a) u B^T` with one decay `a` per
channel (as Mamba-2 has one per head), read out as `h C`, over a state of
`ssm_values = channels x d_state` (d_state the largest divisor up to 128).
Conv state `[batch, channels, width]`, recurrent state `[batch, channels, d_state]`.

The recurrence runs a chunk of tokens at a time in closed form (matrix products, as Mamba-2's
chunked scan; no Python loop per token); the state is rounded to its dtype where each chunk
ends, as the cache keeps it. With an
fp32 state (or compute in the state's dtype) cached decode and recompute see the same state;
with a narrower state they differ by that rounding.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from kvplan.measure.attention import linear

MAX_D_STATE = 128
SCAN_TABLE = 2**23  # values of one chunk's [tokens, tokens, channels] decay table


def conv_width(conv_values: int) -> int:
    """Past inputs the convolution keeps: 3 (a kernel of 4) when it divides, else 2 or 1."""
    return next(w for w in (3, 2, 1) if conv_values % w == 0)


def d_state(ssm_values: int) -> int:
    """The recurrent state's width per channel: the largest divisor up to MAX_D_STATE."""
    return next(
        d for d in range(min(MAX_D_STATE, ssm_values), 0, -1) if ssm_values % d == 0
    )


class StateMixer(nn.Module):
    """A Mamba-like layer: conv state and recurrent state of the spec's exact sizes."""

    def __init__(self, layer, hidden: int, index: int, dtypes: dict[str, str]):
        super().__init__()
        self.index = index
        self.dtypes = (
            dtypes  # conv_dtype and ssm_dtype: format names, as the cache keeps them
        )
        self.conv_shape = self.ssm_shape = None
        width = hidden
        if layer.conv_values:
            self.width = conv_width(layer.conv_values)
            channels = layer.conv_values // self.width
            self.conv_shape = (channels, self.width)
            self.conv_in = linear(hidden, channels)
            self.conv_weight = nn.Parameter(torch.randn(channels, self.width + 1) / 2)
            width = channels
        if layer.ssm_values:
            state = d_state(layer.ssm_values)
            channels = layer.ssm_values // state
            self.ssm_shape = (channels, state)
            if (
                layer.conv_values
            ):  # as in Mamba, the conv's channels feed the scan directly
                self.register_buffer(
                    "feed", torch.arange(channels) % width, persistent=False
                )
            else:
                self.u_proj = linear(hidden, channels)
            self.b_proj = linear(hidden, state)
            self.c_proj = linear(hidden, state)
            self.decay_logit = nn.Parameter(torch.randn(channels))
            width = channels
        self.out_proj = linear(width, hidden)

    def new_cache(self, geo):
        from kvplan.measure.cache import StateCache

        return StateCache(self.conv_shape, self.ssm_shape, geo)

    def forward(self, x, step):
        """x `[B, L, hidden]`; the state continues from the cache, or from zeros without one."""
        if step.cache is None:
            cache = self._zero_state(x)
        else:
            cache = step.cache.layers[self.index]["state"]
        if step.cache is not None and not step.decoding:
            for tensor in cache.tensors():
                tensor.zero_()  # a prefill starts a new sequence
        step.work.add(x.shape[1], 0)
        y = x
        if self.conv_shape:
            y = self._conv(self.conv_in(x), cache)
        if self.ssm_shape:
            y = self._scan(x, y, cache)
        return self.out_proj(y)

    def _zero_state(self, x):
        """A zero state for one cache-less pass, in the dtypes a cache would hold."""
        from kvplan.measure.cache import Geometry

        geo = Geometry(
            batch_size=x.shape[0],
            tokens=1,
            device=x.device,
            cache_dtype="bf16",
            **self.dtypes,
        )
        return self.new_cache(geo)

    def _conv(self, inputs, cache):
        """Causal depthwise conv over [kept inputs, new inputs]; keeps the last `width`."""
        # inputs pass through the conv state's dtype with or without a cache, so both agree
        inputs = inputs.to(cache.conv.dtype).to(inputs.dtype)
        past = cache.conv.to(inputs.dtype)  # [B, C, width]
        sequence = torch.cat(
            (past, inputs.transpose(1, 2)), dim=-1
        )  # [B, C, width + L]
        out = F.conv1d(
            sequence,
            self.conv_weight.to(inputs.dtype)[:, None],
            groups=len(self.conv_weight),
        )
        cache.conv.copy_(sequence[..., -self.width :])
        return F.silu(out.transpose(1, 2))  # [B, L, C]

    def _scan(self, x, inputs, cache):
        """h_t = a h_{t-1} + (1 - a) u_t B_t^T, y_t = h_t C_t, a chunk of tokens at a time.

        A chunk is computed in closed form with matrix products (chunk_scan), not a Python
        loop per token; the state is rounded to its dtype where a chunk ends, as a cache
        keeps it. A decode step is a chunk of one token.
        """
        u = (
            inputs[..., self.feed] if self.conv_shape else self.u_proj(inputs)
        )  # [B, L, C]
        b, c = self.b_proj(x), self.c_proj(x)  # [B, L, d_state]
        decay = torch.sigmoid(self.decay_logit).to(x.dtype)  # [C]: one per channel
        length, outputs, tables = x.shape[1], [], {}
        chunk = scan_chunk(decay.numel())
        for begin in range(0, length, chunk):
            part = slice(begin, min(length, begin + chunk))
            size = part.stop - part.start
            table = tables.setdefault(size, decay_tables(decay, size))
            state = cache.ssm.to(x.dtype)
            y, state = chunk_scan(table, u[:, part], b[:, part], c[:, part], state)
            cache.ssm.copy_(state)
            outputs.append(y)
        return torch.cat(outputs, dim=1)


def scan_chunk(channels: int) -> int:
    """Tokens per closed-form chunk: its [T, T, channels] decay table stays under
    SCAN_TABLE values (16 tokens for a 32,768-channel Mamba-2 layer, 64 at most)."""
    return max(1, min(64, math.isqrt(SCAN_TABLE // channels)))


def decay_tables(decay, length: int) -> dict:
    """The decays a chunk of `length` tokens needs, computed once per layer call:
    within[t, s, c] = a^(t-s) for s <= t (0 above), carried[t, c] = a^(t+1),
    weights[s, c] = (1 - a) a^(T-1-s), and the gain 1 - a."""
    steps = torch.arange(length, device=decay.device, dtype=decay.dtype)
    lag = steps[:, None] - steps[None, :]  # [T, T]: t - s
    log_decay = torch.log(decay)  # [C], every value < 0
    within = torch.exp(lag.clamp(min=0)[..., None] * log_decay) * (lag >= 0)[..., None]
    gain = 1 - decay
    return {
        "within": within,
        "carried": torch.exp((steps[:, None] + 1) * log_decay),
        "weights": gain * torch.exp((length - 1 - steps)[:, None] * log_decay),
        "gain": gain,
    }


def chunk_scan(table: dict, u, b, c, start):
    """One chunk of the recurrence h_t = a h_{t-1} + (1 - a) u_t b_t^T, read out y_t = h_t c_t.

    u `[B, T, C]`, b and c `[B, T, S]`, start `[B, C, S]`, `table` from decay_tables ->
    (y `[B, T, C]`, the state after the chunk `[B, C, S]`). With a^k the decay over k tokens,
        y_t = a^(t+1) (h_0 c_t) + (1 - a) sum_{s<=t} a^(t-s) u_s (b_s c_t)
        h_T = a^T h_0 + (1 - a) sum_s a^(T-1-s) u_s b_s,
    the products being matrix multiplications (as Mamba-2 computes a chunk).
    """
    scores = c @ b.transpose(1, 2)  # [B, T, T]: c_t . b_s
    y = table["gain"] * torch.einsum("tsc,bts,bsc->btc", table["within"], scores, u)
    y = y + table["carried"] * torch.einsum("bck,btk->btc", start, c)
    decayed = table["carried"][-1][:, None] * start
    state = decayed + torch.einsum("bsc,bsk->bck", u * table["weights"], b)
    return y, state
