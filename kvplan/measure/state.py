"""A recurrent mixer whose state has exactly a spec's `conv_values` and `ssm_values` per sequence.

A spec keeps only the sizes of a Mamba or linear-attention layer's state, not its inner widths,
so this is a stand-in with the same memory and the same kind of work, not the model's own
arithmetic: a causal depthwise convolution that keeps its last `width` inputs
(`conv_values = channels x width`, width 3 as Mamba's kernel of 4 keeps, else 2 or 1), whose
output channels feed (cycled to the state's channel count, as Mamba feeds its conv output to
its scan) a diagonal linear recurrence `h = a * h + (1 - a) u B^T`, read out as `h C`, over a
state of `ssm_values = channels x d_state` (d_state the largest divisor up to 128).
Conv state `[batch, channels, width]`, recurrent state `[batch, channels, d_state]`.

Each token updates the state in turn, rounded to the state dtype each time, with or without a
cache, so cached decode and recompute see the same state.
"""

import torch
import torch.nn.functional as F
from torch import nn

from kvplan.measure.attention import linear

MAX_D_STATE = 128


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
            self.decay_logit = nn.Parameter(torch.randn(channels, state))
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
        """h_t = a h_{t-1} + (1 - a) u_t B_t^T, y_t = h_t C_t; the state rounded to its dtype."""
        u = (
            inputs[..., self.feed] if self.conv_shape else self.u_proj(inputs)
        )  # [B, L, C]
        b, c = self.b_proj(x), self.c_proj(x)  # [B, L, d_state]
        decay = torch.sigmoid(self.decay_logit).to(x.dtype)
        gain = (
            1 - decay
        )  # an average, not a sum: the state stays O(1) (Mamba's discretization)
        outputs = []
        for t in range(x.shape[1]):
            h = cache.ssm.to(x.dtype)
            h = decay * h + gain * u[:, t, :, None] * b[:, t, None, :]
            cache.ssm.copy_(h)
            outputs.append((cache.ssm.to(x.dtype) * c[:, t, None, :]).sum(-1))
        return torch.stack(outputs, dim=1)
