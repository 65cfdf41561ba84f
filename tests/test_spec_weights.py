"""The weights: blocks of shipped specs: provenance, and totals against published figures."""

import pytest

from kvplan.catalog import load_spec, shipped_files
from kvplan.weights import param_count

from .test_weights import _stated

# Shipped specs that still have no weights: block, each with why (kvplan capacity asks
# them for --weights or --params). A spec leaving this list must bring its source note.
WEIGHTLESS = {
    "command-r": "no copy of its config.json found in a named public file",
    "deepseek-v4-flash": "deepseek_v4: compressed attention layout not modelled",
    "falcon-h1-0.5b": "falcon_h1: parallel Mamba-2 and attention not modelled",
    "gemma-3-12b": "no verbatim copy found (maxtext's edits vocab_size)",
    "gemma-4-26b-a4b": "gemma4_text: MoE beside a dense MLP, K=V layers not modelled",
    "gemma-4-31b": "gemma4_text: K=V global layers not modelled",
    "gemma-4-e2b": "gemma4_text: per-layer embeddings, KV-shared layers not modelled",
    "glm-4.7": "glm4_moe not modelled; no named copy of its config.json found",
    "granite-4.0-h-tiny": "granitemoehybrid: MoE + Mamba-2 hybrid not modelled",
    "mistral-small-24b": "no copy of its config.json found in a named public file",
    "phi-3-small-8k": "phi3small: block-sparse attention, GeGeLU MLP not modelled",
    "qwen2.5-72b": "no copy of its config.json found in a named public file",
    "starcoder2-3b": "only partial copies found, in files no search names",
    "yi-1.5-34b": "a full copy found only in a file no search names",
}


def test_the_specs_without_weights_are_the_known_ones():
    weightless = {name for name in shipped_files() if load_spec(name).weights is None}
    assert weightless == set(WEIGHTLESS)


def test_every_spec_with_weights_names_the_config_they_came_from():
    unsourced = []
    for name in shipped_files():
        spec = load_spec(name)
        noted = any(note.startswith("weights: read from") for note in spec.notes)
        if spec.weights is not None and not noted:
            unsourced.append(name)
    assert unsourced == []


# Totals the model cards state for the specs given weights from their configs. A figure
# with decimals holds to one unit of its last digit, a size in the model's name to 5%
# (tests/test_weights.py, _stated). Counted: the text model without MTP layers.
CARDS = [
    ("qwen2.5-14b", "14.7B", "Qwen/Qwen2.5-14B card: 14.7B"),
    ("qwen3-14b", "14.8B", "Qwen/Qwen3-14B card: 14.8B, 13.2B non-embedding"),
    ("qwen3-4b", "4.0B", "Qwen/Qwen3-4B card: 4.0B, 3.6B non-embedding"),
    ("llama-3-8b", "8B", "meta-llama/Meta-Llama-3-8B card: 8B"),
    ("phi-3-medium-4k", "14B", "microsoft/Phi-3-medium-4k-instruct: 14B"),
    ("qwen3-next-80b-a3b", "80B", "Qwen/Qwen3-Next-80B-A3B card: 80B total"),
    ("gemma-3-27b", "27B", "google/gemma-3-27b-it card: 27B (text model)"),
    ("llama-3.3-70b", "70B", "meta-llama/Llama-3.3-70B-Instruct card: 70B"),
]


def test_llama_33_70b_counts_as_llama_31_70b():
    # 80 layers x (attention 2 x 8192^2 + 2 x 8192 x 1024, MLP 3 x 8192 x 28672, 2 norms)
    # + embeddings and LM head 2 x 128256 x 8192 + the final norm
    layer = 2 * 8192 * 8192 + 2 * 8192 * 1024 + 3 * 8192 * 28672 + 2 * 8192
    total = 80 * layer + 2 * 128256 * 8192 + 8192
    assert total == 70_553_706_496
    assert param_count(load_spec("llama-3.3-70b")).total == total


@pytest.mark.parametrize(("name", "card", "source"), CARDS)
def test_new_weights_match_model_cards(name, card, source):
    count = param_count(load_spec(name))
    stated, unit = _stated(card)
    total = count.total
    assert abs(total - stated) < unit, f"{name}: {total:,} vs {card} ({source})"


def test_qwen25_32b_count_is_the_checkpoints_not_the_cards_32_5b():
    # The Qwen2.5-32B card says 32.5B (31.0B non-embedding), but its own config gives
    # 64 layers of 5120 hidden, 27648 MLP, 40 heads / 8 KV heads of 128, qkv biases:
    hidden, inter, vocab = 5120, 27648, 152064
    attention = 2 * hidden * hidden + 2 * hidden * 8 * 128 + hidden + 2 * 8 * 128
    per_layer = attention + 3 * hidden * inter + 2 * hidden
    total = 64 * per_layer + 2 * vocab * hidden + hidden  # untied, final norm
    assert total == 32_763_876_352  # "32.8B" as the checkpoint's size rounds
    assert param_count(load_spec("qwen2.5-32b")).total == total


def test_qwen25_14b_has_14_770_033_664_parameters():
    hidden, inter, vocab = 5120, 13824, 152064
    attention = (
        2 * hidden * hidden  # q_proj, o_proj: 40 heads x 128
        + 2 * hidden * 8 * 128  # k_proj, v_proj: 8 KV heads x 128
        + hidden
        + 2 * 8 * 128  # q, k and v biases (Qwen2)
    )
    per_layer = attention + 3 * hidden * inter + 2 * hidden  # gate/up/down, two norms
    total = 48 * per_layer + 2 * vocab * hidden + hidden
    assert total == 14_770_033_664
    assert param_count(load_spec("qwen2.5-14b")).total == total


def test_qwen3_next_counts_512_experts_and_activates_10_plus_the_shared_one():
    hidden, expert_width = 2048, 512
    keys, values = 16 * 128, 32 * 128  # linear attention: 16 key, 32 value heads of 128
    linear = (
        (2 * keys + 2 * values) * hidden  # in_proj q, k, v and z
        + 2 * 32 * hidden  # in_proj b and a: one each per value head
        + (2 * keys + values) * 4  # depthwise conv1d, kernel 4, no bias
        + 2 * 32  # dt_bias, A_log
        + 128  # gated RMSNorm over one value head
        + values * hidden  # out_proj
    )
    attention = (
        2 * 16 * 256 * hidden  # q_proj: 16 heads of 256, and their output gate
        + 2 * 2 * 256 * hidden  # k_proj, v_proj: 2 KV heads of 256
        + 16 * 256 * hidden  # o_proj
        + 2 * 256  # q_norm, k_norm
    )
    one_expert = 3 * hidden * expert_width
    moe = (
        512 * hidden  # router
        + 512 * one_expert  # routed experts
        + one_expert  # the shared expert
        + hidden  # its sigmoid gate
    )
    norms = 2 * hidden
    total = 36 * (linear + moe + norms) + 12 * (attention + moe + norms)
    total += 2 * 151936 * hidden + hidden  # untied embeddings and LM head, final norm
    count = param_count(load_spec("qwen3-next-80b-a3b"))
    assert count.total == total == 79_674_391_296
    # a token reads 10 of 512 routed experts per layer and no embedding row beyond its own
    assert count.active == total - 48 * 502 * one_expert - 151936 * hidden
    assert count.active == 3_563_764_480  # the card's "3B activated", LM head included


# The Gemma reports give the text model's non-embedding parameters (vision encoder and
# the tied embedding table apart): Gemma (arXiv 2403.08295) Table 2 gives 7B exactly,
# Gemma 3 (arXiv 2503.19786) Table 1 gives 27B in millions.
def test_gemma_7b_non_embedding_count_is_the_reports_7_751_248_896():
    hidden, inter = 3072, 24576
    attention = 4 * hidden * 16 * 256  # q, k, v, o: 16 heads of 256 (MHA)
    per_layer = attention + 3 * hidden * inter + 2 * hidden  # GeGLU MLP, two norms
    non_embedding = 28 * per_layer + hidden  # final norm
    assert non_embedding == 7_751_248_896
    count = param_count(load_spec("gemma-7b"))
    assert count.total - count.embedding == non_embedding
    assert count.embedding == 256000 * hidden  # one table, tied to the LM head


def test_gemma_3_27b_non_embedding_count_is_the_reports_25_600m():
    hidden, inter = 5376, 21504
    attention = (
        hidden * 32 * 128  # q_proj: 32 heads of 128
        + 2 * hidden * 16 * 128  # k_proj, v_proj: 16 KV heads
        + 32 * 128 * hidden  # o_proj
        + 2 * 128  # q_norm, k_norm
    )
    per_layer = attention + 3 * hidden * inter + 4 * hidden  # four norms a layer
    non_embedding = 62 * per_layer + hidden
    assert non_embedding == 25_599_716_096  # the report's 25,600M
    count = param_count(load_spec("gemma-3-27b"))
    assert count.total - count.embedding == non_embedding
