"""Tiny specs for the measure tests: every layer kind, small enough to run in milliseconds."""

import torch

from kvplan.spec import Layer, ModelSpec

# Tiny models gain nothing from a second thread, and on a shared machine a parallel region
# can wait milliseconds for a descheduled thread: the measure tests run on one.
torch.set_num_threads(1)

HEAD_DIM = 16


def attention(
    kind: str = "full", kv: int = 2, window: int | None = None, **extra
) -> Layer:
    return Layer(
        kind=kind,
        n_kv_heads=kv,
        head_dim_k=HEAD_DIM,
        head_dim_v=HEAD_DIM,
        window_tokens=window,
        **extra,
    )


MLA = Layer(
    kind="mla",
    n_kv_heads=4,
    head_dim_k=24,  # 16 nope + 8 rope
    head_dim_v=16,
    kv_lora_rank=32,
    rope_dim=8,
    index_head_dim=16,
)
STATE = Layer(kind="state", conv_values=96, ssm_values=512, state_kind="mamba")


def tiny(name: str, *layers: Layer, n_heads: int = 4, dtype: str = "bf16") -> ModelSpec:
    """A spec of these layers with 4 query heads and a 64-wide hidden state."""
    kv = next((layer.n_kv_heads for layer in layers if layer.n_kv_heads), 1)
    return ModelSpec(
        name=name,
        layers=tuple(layers),
        n_heads=n_heads,
        n_kv_heads=kv,
        head_dim=HEAD_DIM,
        hidden_size=64,
        dtype=dtype,
    )


MHA = tiny("mha", attention(kv=4), attention(kv=4))
GQA = tiny("gqa", attention(kv=2), attention(kv=2))
MQA = tiny("mqa", attention(kv=1), attention(kv=1))
# fp32: states kept in fp32, so a logit difference comes from the cache format alone (a bf16
# state re-rounded each token turns any upstream difference into bf16-sized noise)
EVERY_KIND = tiny(
    "every-kind",
    attention("full"),
    attention("sliding", window=8),
    attention("chunked", kv=1, window=8),
    MLA,
    STATE,
    attention("full", conv_values=96, ssm_values=512),
    Layer(kind="shared"),
    Layer(kind="mlp"),
    dtype="fp32",
)
