"""Parameter counts from a spec's shape, weight dtypes, and pipeline-stage partitions."""

import json

import pytest

from kvplan.catalog import load_spec
from kvplan.configs import load_config, spec_from_config
from kvplan.errors import KvplanError, SpecError
from kvplan.specyaml import spec_to_yaml
from kvplan.weights import (
    expected_experts,
    param_count,
    stage_layers,
    stage_weights,
    weight_format,
)

from .conftest import CONFIGS


def test_llama_31_8b_has_8_030_261_248_parameters():
    hidden, inter, vocab, layers = 4096, 14336, 128256, 32
    attention = (
        hidden * 32 * 128 + 2 * hidden * 8 * 128 + 32 * 128 * hidden
    )  # q, k, v, o
    mlp = 3 * hidden * inter  # gate, up, down
    norms = 2 * hidden
    embeddings = 2 * vocab * hidden  # untied: embed_tokens and lm_head
    total = layers * (attention + mlp + norms) + embeddings + hidden  # + final norm
    assert total == 8_030_261_248
    count = param_count(load_config(CONFIGS / "Llama-3.1-8B.json"))
    assert count.total == total
    assert (
        count.active == total - vocab * hidden
    )  # the embedding lookup multiplies nothing


def test_mixtral_8x7b_counts_every_expert_and_two_per_token():
    hidden, expert, vocab, layers = 4096, 14336, 32000, 32
    attention = 2 * hidden * hidden + 2 * hidden * 8 * 128  # q and o; k and v
    router = 8 * hidden
    one_expert = 3 * hidden * expert
    norms = 2 * hidden
    per_layer = attention + router + 8 * one_expert + norms
    total = layers * per_layer + 2 * vocab * hidden + hidden
    assert total == 46_702_792_704  # "46.7B" on the model card
    active = (
        layers * (attention + router + 2 * one_expert + norms) + vocab * hidden + hidden
    )
    count = param_count(load_config(CONFIGS / "Mixtral-8x7B-v0.1.json"))
    assert (count.total, count.active) == (total, active)
    assert (
        round(active / 1e9, 1) == 12.7
    )  # Mistral's "12.9B" also counts the embeddings


def test_deepseek_v3_has_671b_without_its_mtp_layer():
    hidden, vocab = 7168, 129280
    mla = (
        1536 * hidden  # q_a_proj
        + 1536  # q_a_layernorm
        + 128 * 192 * 1536  # q_b_proj: 128 heads x (128 nope + 64 rope)
        + (512 + 64) * hidden  # kv_a_proj_with_mqa
        + 512  # kv_a_layernorm
        + 128 * (128 + 128) * 512  # kv_b_proj: 128 heads x (nope + v)
        + hidden * 128 * 128  # o_proj
    )
    norms = 2 * hidden
    dense = 3 * hidden * 18432
    moe = (
        256 * hidden  # router
        + 256  # e_score_correction_bias
        + 256 * 3 * hidden * 2048  # routed experts
        + 3 * hidden * 2048  # one shared expert
    )
    total = (
        3 * (mla + norms + dense)
        + 58 * (mla + norms + moe)
        + 2 * vocab * hidden
        + hidden
    )
    assert total == 671_026_419_200  # the card's 671B; its 685B adds the 14B MTP module
    count = param_count(load_spec("deepseek-v3"))
    assert count.total == total
    assert round(count.active / 1e9) == 37  # "37B activated for each token"


def test_tied_embeddings_are_counted_once():
    hidden, inter, vocab = 2048, 8192, 128256
    per_layer = (
        2 * hidden * hidden + 2 * hidden * 8 * 64 + 3 * hidden * inter + 2 * hidden
    )
    total = 16 * per_layer + vocab * hidden + hidden  # one table: embeddings = LM head
    assert total == 1_235_814_400
    count = param_count(load_config(CONFIGS / "Llama-3.2-1B-Instruct.json"))
    assert count.total == total
    assert count.active == total  # the LM head multiplies the whole (shared) table


# Totals the model cards state (GitHub/HF README wording), text model only. A figure with
# decimals must hold to one unit of its last digit; a size in a model's name ("70B") to 5%.
CARDS = [
    ("llama-3.1-70b", "total", "70B", "meta-llama/Llama-3.1-70B card"),
    ("llama-3.1-405b", "total", "405B", "meta-llama/Llama-3.1-405B card"),
    ("llama-2-7b", "total", "7B", "meta-llama/Llama-2-7b-hf card"),
    ("llama-2-13b", "total", "13B", "meta-llama/Llama-2-13b-hf card"),
    ("llama-2-70b", "total", "70B", "meta-llama/Llama-2-70b-hf card"),
    ("llama-3.2-3b", "total", "3.21B", "meta-llama/Llama-3.2-3B card (3.21B)"),
    ("mistral-7b-v0.1", "total", "7.3B", "Mistral 7B announcement"),
    ("mixtral-8x22b", "total", "141B", "Mixtral 8x22B announcement: 141B, 39B active"),
    (
        "qwen2.5-7b",
        "total",
        "7.61B",
        "Qwen/Qwen2.5-7B card: 7.61B, 6.53B non-embedding",
    ),
    ("qwen3-8b", "total", "8.2B", "Qwen/Qwen3-8B card: 8.2B, 6.95B non-embedding"),
    ("qwen3-32b", "total", "32.8B", "Qwen/Qwen3-32B card"),
    ("qwen3-30b-a3b", "total", "30.5B", "Qwen/Qwen3-30B-A3B card: 30.5B, 3.3B active"),
    ("qwen3-235b-a22b", "total", "235B", "Qwen/Qwen3-235B-A22B card: 235B, 22B active"),
    (
        "gpt-oss-120b",
        "total",
        "116.83B",
        "openai/gpt-oss model card: 116.83B, 5.13B active",
    ),
    (
        "gpt-oss-120b",
        "active",
        "5.13B",
        "the same card (embeddings not counted active)",
    ),
    (
        "gpt-oss-20b",
        "total",
        "20.91B",
        "openai/gpt-oss model card: 20.91B, 3.61B active",
    ),
    ("gpt-oss-20b", "active", "3.61B", "the same card"),
    (
        "kimi-k2",
        "total",
        "1T",
        "moonshotai/Kimi-K2-Instruct card: 1T total, 32B active",
    ),
    (
        "minimax-m2.5",
        "total",
        "230B",
        "MiniMaxAI/MiniMax-M2 card: 230B, 10B active (M2.5 keeps the shape)",
    ),
    (
        "deepseek-v2-lite",
        "total",
        "16B",
        "deepseek-ai/DeepSeek-V2-Lite card: 16B, 2.4B active",
    ),
    (
        "jamba-1.5-mini",
        "total",
        "52B",
        "ai21labs/AI21-Jamba-1.5-Mini card: 52B, 12B active",
    ),
    ("nemotron-h-56b", "total", "56B", "nvidia/Nemotron-H-56B-Base-8K card"),
    ("gemma-2-9b", "total", "9B", "google/gemma-2-9b card"),
    ("gemma-2-27b", "total", "27B", "google/gemma-2-27b card"),
    ("gemma-2-2b", "total", "2.6B", "google/gemma-2-2b (2.6B)"),
    ("gemma-3-1b", "total", "1B", "google/gemma-3-1b-it card"),
    ("phi-3-mini-4k", "total", "3.8B", "microsoft/Phi-3-mini-4k-instruct card"),
    ("phi-4", "total", "14B", "microsoft/phi-4 card"),
    ("falcon-7b", "total", "7B", "tiiuae/falcon-7b card"),
    ("falcon-40b", "total", "40B", "tiiuae/falcon-40b card"),
    ("bloom-7b1", "total", "7.069016064B", "bigscience/bloom-7b1 card: 7,069,016,064"),
    ("pythia-6.9b", "total", "6.857302016B", "EleutherAI/pythia README: 6,857,302,016"),
    ("gpt-j-6b", "total", "6B", "EleutherAI/gpt-j-6b card"),
    ("gpt2", "total", "124M", "openai-community/gpt2 (124M)"),
    ("chatglm3-6b", "total", "6B", "THUDM/chatglm3-6b card"),
    ("olmo-2-7b", "total", "7B", "allenai/OLMo-2-1124-7B card"),
    ("starcoder2-7b", "total", "7B", "bigcode/starcoder2-7b card"),
    ("aya-23-8b", "total", "8B", "CohereForAI/aya-23-8B card"),
    (
        "qwen3.5-27b",
        "total",
        "27B",
        "the size in the name Qwen/Qwen3.5-27B (text model, no MTP)",
    ),
]


def _stated(text: str) -> tuple[float, float]:
    """A card's figure and its tolerance: `7.61B` -> (7.61e9, 0.01e9); `70B` -> (70e9, 3.5e9)."""
    scale = {"M": 1e6, "B": 1e9, "T": 1e12}[text[-1]]
    digits = text[:-1]
    if "." not in digits:
        return float(digits) * scale, float(digits) * scale * 0.05
    return float(digits) * scale, scale / 10 ** len(digits.split(".")[1])


@pytest.mark.parametrize(("name", "which", "card", "source"), CARDS)
def test_counts_match_model_cards(name, which, card, source):
    count = param_count(load_spec(name))
    stated, unit = _stated(card)
    value = count.total if which == "total" else count.active
    assert abs(value - stated) < unit, f"{name}: {value:,} vs {card} ({source})"


def test_fp8_int8_int4_layouts_count_their_scales():
    rows, cols = 4096, 14336
    assert weight_format("bf16").matrix_bytes(rows, cols) == rows * cols * 2
    # fp8: 1 B a value + an fp32 scale per 128 x 128 block: 32 x 112 blocks
    assert weight_format("fp8").matrix_bytes(rows, cols) == rows * cols + 32 * 112 * 4
    # int8: 1 B a value + an fp16 scale per output row
    assert weight_format("int8").matrix_bytes(rows, cols) == rows * cols + rows * 2
    # int4: half a byte a value; per group of 128 inputs an fp16 scale and a 4-bit zero point
    groups = rows * (cols // 128)
    expected = rows * cols // 2 + groups * 2 + groups // 2
    assert weight_format("int4").matrix_bytes(rows, cols) == expected
    # mxfp4: half a byte a value and one scale byte per 32 inputs: 4.25 bits a value
    assert weight_format("mxfp4").matrix_bytes(rows, cols) == rows * cols * 17 // 32


def test_unknown_weight_dtype_names_the_choices():
    with pytest.raises(KvplanError, match="bf16, fp16, fp8, int8, int4, mxfp4"):
        weight_format("nf4")


@pytest.mark.parametrize(
    ("n_layers", "pp", "sizes"),
    [
        (32, 2, [16, 16]),
        (61, 2, [31, 30]),  # the extra layer goes to the stage before the last
        (5, 4, [1, 1, 2, 1]),
        (80, 3, [27, 27, 26]),  # from the second-to-last backwards
        (62, 4, [15, 16, 16, 15]),
    ],
)
def test_pipeline_stages_split_layers_as_vllm_does(n_layers, pp, sizes):
    assert [len(r) for r in stage_layers(n_layers, pp)] == sizes


def test_pp_larger_than_the_layers_is_refused():
    with pytest.raises(KvplanError, match="PP 40 is larger than the 32 layers"):
        stage_layers(32, 40)


def test_stage_weights_put_embeddings_first_and_lm_head_last():
    spec = load_config(CONFIGS / "Llama-3.1-8B.json")
    first, last = stage_weights(spec, weight_format("bf16"), tp=1, pp=2)
    table = 128256 * 4096 * 2  # one vocab x hidden table at 2 B
    layer = (2 * 4096 * 4096 + 2 * 4096 * 1024 + 3 * 4096 * 14336 + 2 * 4096) * 2
    assert first.weight_bytes == 16 * layer + table
    assert last.weight_bytes == 16 * layer + table + 4096 * 2  # LM head and final norm
    assert (
        first.dense_read_bytes == 16 * layer
    )  # a decode step reads no embedding table


def test_tied_lm_head_is_held_again_by_the_last_stage():
    spec = load_config(CONFIGS / "Llama-3.2-1B-Instruct.json")
    whole = stage_weights(spec, weight_format("bf16"), tp=1, pp=1)[0]
    first, last = stage_weights(spec, weight_format("bf16"), tp=1, pp=2)
    table = 128256 * 2048 * 2
    assert first.weight_bytes + last.weight_bytes == whole.weight_bytes + table


def test_tp_splits_heads_and_replicates_kv_beyond_the_kv_heads():
    spec = load_config(CONFIGS / "Llama-3.1-70B.json")
    one_k_proj = 8 * 128 * 8192 * 2  # 8 KV heads x 128 x hidden 8192 at 2 B
    bf16 = weight_format("bf16")
    tp8 = stage_weights(spec, bf16, tp=8, pp=1)[0].weight_bytes
    tp16 = stage_weights(spec, bf16, tp=16, pp=1)[0].weight_bytes
    # from TP 8 to 16 everything halves except K and V (each rank keeps one whole head)
    # and the norms (replicated on every rank)
    kv_per_rank = 80 * 2 * one_k_proj // 8
    norms = (80 * 2 + 1) * 8192 * 2
    assert tp16 - kv_per_rank - norms == (tp8 - kv_per_rank - norms) // 2


def test_expected_experts_read_grow_with_the_batch():
    assert expected_experts(8, 2, 1) == pytest.approx(2)
    assert expected_experts(8, 2, 2) == pytest.approx(8 * (1 - (6 / 8) ** 2))
    assert expected_experts(256, 8, 4096) == pytest.approx(256)


def test_weights_round_trip_through_spec_yaml(tmp_path):
    spec = load_spec("deepseek-v3")
    path = tmp_path / "spec.yaml"
    path.write_text(spec_to_yaml(spec))
    assert load_spec(path).weights == spec.weights


def test_unknown_weights_key_is_named(tmp_path):
    path = tmp_path / "spec.yaml"
    text = spec_to_yaml(load_spec("llama-3.1-8b")).replace(
        "weights:\n", "weights:\n  hidden_layers: 3\n"
    )
    path.write_text(text)
    with pytest.raises(SpecError, match="weights: unknown key 'hidden_layers'"):
        load_spec(path)


def test_a_config_of_an_unknown_layout_has_no_weight_shape():
    data = json.loads((CONFIGS / "Llama-3.1-8B.json").read_text())
    data["model_type"] = "internlm2"  # a type whose layer layout kvplan does not know
    spec = spec_from_config(data, name="x")
    assert spec.weights is None
    assert any("layer layout of model type 'internlm2'" in r for r in spec.readings)
    with pytest.raises(SpecError, match="--weights 16GiB.*--params 8.03B"):
        param_count(spec)


def test_tie_word_embeddings_of_a_multimodal_outer_config_is_read():
    data = json.loads((CONFIGS / "Gemma-3-4b-it.json").read_text())
    assert load_config(
        CONFIGS / "Gemma-3-4b-it.json"
    ).weights.tie_embeddings  # type default
    data["tie_word_embeddings"] = False  # said only on the outer config
    spec = spec_from_config(data, name="x")
    assert spec.weights.tie_embeddings is False
    assert any("outer config" in r for r in spec.readings)


def test_qwen35_linear_attention_layers_are_counted():
    spec = load_spec(
        "qwen3.5-27b"
    )  # 48 gated-delta-rule layers + 16 gated attention layers
    hidden, keys, values = 5120, 16 * 128, 48 * 128
    linear = (
        (2 * keys + 2 * values) * hidden  # in_proj q, k, v and z
        + 2 * 48 * hidden  # in_proj b and a
        + (2 * keys + values) * 4  # conv1d, kernel 4, no bias
        + 2 * 48  # dt_bias, A_log
        + 128  # gated RMSNorm over a value head
        + hidden * values  # out_proj
    )
    attention = (
        2 * 24 * 256 * hidden  # q_proj with its output gate
        + 2 * 4 * 256 * hidden  # k and v
        + hidden * 24 * 256  # o_proj
        + 2 * 256  # q_norm, k_norm
    )
    mlp, norms = 3 * hidden * 17408, 2 * hidden
    total = 48 * (linear + mlp + norms) + 16 * (attention + mlp + norms)
    total += 2 * 248320 * hidden + hidden  # untied embeddings and LM head, final norm
    assert param_count(spec).total == total
