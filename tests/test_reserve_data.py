"""kvplan's default reserve against what vLLM's memory profile printed (docs/capacity.md).

Each point is a real vLLM start-up log: the model, the GPU, TP, the tokens of the profiled
forward pass (max_num_batched_tokens: the max_model_len without chunked prefill, 2048 with
it) and the two terms vLLM keeps out of the cache, non-torch memory and the PyTorch
activation peak, in GiB as printed. The default (1 GiB + batched tokens x (4 x hidden + 3 x
MLP width / TP) x 2 B) must land within RESERVE_TOLERANCE_GIB of the sum at TP 1, and its
activation term within ACTIVATION_TOLERANCE_GIB of the printed peak.
"""

from dataclasses import replace

import pytest

from kvplan.capacity import default_reserve
from kvplan.catalog import load_spec
from kvplan.weight_shape import WeightShape

GIB = 2**30
RESERVE_TOLERANCE_GIB = 1.2
ACTIVATION_TOLERANCE_GIB = 0.4

# Llama-3.1-8B has Meta-Llama-3-8B's hidden 4096 and MLP 14336
LLAMA_8B = "llama-3.1-8b"
# (source, model, TP, batched tokens, non-torch GiB, activation peak GiB)
POINTS = [
    ("vllm PR 10511, 0.6.5, H100", LLAMA_8B, 1, 8192, 1.79, 1.26),
    ("vllm issue 10517, 0.6.4, RTX 3090, max_model_len 20000", LLAMA_8B, 1, 20000, 0.35,
     17.06 - 14.99),  # peak torch memory less the 14.99 GiB of weights
    ("vllm issue 10517, 0.6.4, RTX 3090, max_model_len 29000", LLAMA_8B, 1, 29000, 0.35,
     17.98 - 14.99),
    ("oracle-samples AI Quick Actions log, A10, chunked prefill", LLAMA_8B, 1, 2048, 0.05,
     0.22),
    ("Unsloth GRPO log, 0.7, T4, max_model_len 32768", "qwen2.5-1.5b", 1, 32768, 0.01,
     2.02),
]  # fmt: skip


def spec_of(name: str):
    if name != "qwen2.5-1.5b":
        return load_spec(name)
    # Qwen2.5-1.5B-Instruct's config: hidden 1536, intermediate 8960, vocabulary 151936
    base = load_spec("qwen2.5-7b")
    shape = WeightShape(vocab_size=151936, intermediate_size=8960, tie_embeddings=True)
    return replace(base, name="Qwen2.5-1.5B", hidden_size=1536, weights=shape)


@pytest.mark.parametrize(
    ("source", "model", "tp", "batched", "non_torch", "peak"), POINTS
)
def test_default_reserve_lands_near_what_vllm_kept(
    source, model, tp, batched, non_torch, peak
):
    reserve = default_reserve(spec_of(model), tp, batched) / GIB
    assert abs(reserve - (non_torch + peak)) <= RESERVE_TOLERANCE_GIB, source


@pytest.mark.parametrize(
    ("source", "model", "tp", "batched", "non_torch", "peak"), POINTS
)
def test_activation_term_follows_the_profiled_peak(
    source, model, tp, batched, non_torch, peak
):
    activation = (default_reserve(spec_of(model), tp, batched) - GIB) / GIB
    assert abs(activation - peak) <= ACTIVATION_TOLERANCE_GIB, source


def test_activation_per_token_by_hand():
    # Llama-3.1-8B: (4 x 4096 + 3 x 14336) values x 2 B = 118,784 B per batched token;
    # Qwen2.5-1.5B: (4 x 1536 + 3 x 8960) x 2 B = 66,048 B
    assert default_reserve(load_spec(LLAMA_8B), 1, 8192) == GIB + 8192 * 118784
    assert default_reserve(spec_of("qwen2.5-1.5b"), 1, 32768) == GIB + 32768 * 66048
