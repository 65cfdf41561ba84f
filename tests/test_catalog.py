"""Shipped specs, spec YAML files, and the names a model answers to."""

import pytest

from kvplan.catalog import load_spec, shipped_names
from kvplan.errors import SpecError, UnknownNameError
from kvplan.sizing import model_cost
from kvplan.specyaml import spec_to_yaml

# Every shipped spec, with the shape its Hugging Face config gives, written out here:
# (n_layers, n_heads, n_kv_heads, head_dim, layout, bf16 bytes per token while every layer holds it)
SHIPPED = {
    "llama-2-7b": (32, 32, 32, 128, "32 full", 32 * 2 * 32 * 128 * 2),
    "llama-3.1-8b": (32, 32, 8, 128, "32 full", 32 * 2 * 8 * 128 * 2),
    "llama-3.1-70b": (80, 64, 8, 128, "80 full", 80 * 2 * 8 * 128 * 2),
    "llama-3.1-405b": (126, 128, 8, 128, "126 full", 126 * 2 * 8 * 128 * 2),
    "llama-3.2-1b": (16, 32, 8, 64, "16 full", 16 * 2 * 8 * 64 * 2),
    "mistral-7b-v0.1": (32, 32, 8, 128, "32 sliding(4096)", 32 * 2 * 8 * 128 * 2),
    "mistral-7b-v0.3": (32, 32, 8, 128, "32 full", 32 * 2 * 8 * 128 * 2),
    "mistral-nemo-12b": (40, 32, 8, 128, "40 full", 40 * 2 * 8 * 128 * 2),
    "mixtral-8x7b": (32, 32, 8, 128, "32 full", 32 * 2 * 8 * 128 * 2),
    "qwen2.5-7b": (28, 28, 4, 128, "28 full", 28 * 2 * 4 * 128 * 2),
    "qwen3-8b": (36, 32, 8, 128, "36 full", 36 * 2 * 8 * 128 * 2),
    "qwen3-235b-a22b": (94, 64, 4, 128, "94 full", 94 * 2 * 4 * 128 * 2),
    "gemma-2-9b": (42, 16, 8, 256, "21 sliding(4096) + 21 full", 42 * 2 * 8 * 256 * 2),
    "gemma-2-27b": (
        46,
        32,
        16,
        128,
        "23 sliding(4096) + 23 full",
        46 * 2 * 16 * 128 * 2,
    ),
    "gemma-3-1b": (26, 4, 1, 256, "22 sliding(512) + 4 full", 26 * 2 * 1 * 256 * 2),
    "gemma-3-4b": (34, 8, 4, 256, "29 sliding(1024) + 5 full", 34 * 2 * 4 * 256 * 2),
    "codegemma-7b": (28, 16, 16, 256, "28 full", 28 * 2 * 16 * 256 * 2),
    "gemma-2b": (18, 8, 1, 256, "18 full", 18 * 2 * 1 * 256 * 2),
    "phi-3-mini-4k": (32, 32, 32, 96, "32 sliding(2047)", 32 * 2 * 32 * 96 * 2),
    "phi-4": (40, 40, 10, 128, "40 full", 40 * 2 * 10 * 128 * 2),
    "gpt2": (12, 12, 12, 64, "12 full", 12 * 2 * 12 * 64 * 2),
    "falcon-7b": (32, 71, 1, 64, "32 full", 32 * 2 * 1 * 64 * 2),
    "falcon-40b": (60, 128, 8, 64, "60 full", 60 * 2 * 8 * 64 * 2),
    "olmo-2-7b": (32, 32, 32, 128, "32 full", 32 * 2 * 32 * 128 * 2),
    "deepseek-v2-lite": (27, 16, 16, 192, "27 mla(512+64)", 27 * (512 + 64) * 2),
    "deepseek-v3": (61, 128, 128, 192, "61 mla(512+64)", 61 * (512 + 64) * 2),
    "gpt-oss-20b": (24, 64, 8, 64, "12 sliding(128) + 12 full", 24 * 2 * 8 * 64 * 2),
    "gpt-oss-120b": (36, 64, 8, 64, "18 sliding(128) + 18 full", 36 * 2 * 8 * 64 * 2),
    "llama-4-scout": (
        48,
        40,
        8,
        128,
        "36 chunked(8192) + 12 full",
        48 * 2 * 8 * 128 * 2,
    ),
    "jamba-1.5-mini": (32, 32, 8, 128, "28 state(mamba) + 4 full", 4 * 2 * 8 * 128 * 2),
    "nemotron-h-56b": (
        118,
        64,
        8,
        128,
        "54 state(mamba2) + 54 mlp + 10 full",
        10 * 2 * 8 * 128 * 2,
    ),
    "chatglm3-6b": (28, 32, 2, 128, "28 full", 28 * 2 * 2 * 128 * 2),
    "baichuan2-7b": (32, 32, 32, 128, "32 full", 32 * 2 * 32 * 128 * 2),
    "aya-23-8b": (32, 32, 8, 128, "32 full", 32 * 2 * 8 * 128 * 2),
    "bloom-7b1": (30, 32, 32, 128, "30 full", 30 * 2 * 32 * 128 * 2),
    "pythia-6.9b": (32, 32, 32, 128, "32 full", 32 * 2 * 32 * 128 * 2),
    "gpt-j-6b": (28, 16, 16, 256, "28 full", 28 * 2 * 16 * 256 * 2),
    "santacoder": (24, 16, 1, 128, "24 full", 24 * 2 * 1 * 128 * 2),
    "redpajama-incite-3b": (32, 32, 32, 80, "32 full", 32 * 2 * 32 * 80 * 2),
}


# Specs read from configs beyond the shared cases, with the same checks (values from each
# model's published config.json, written out here).
EXTRA_SHIPPED = {
    "llama-2-13b": (40, 40, 40, 128, "40 full", 40 * 2 * 40 * 128 * 2),
    "llama-2-70b": (80, 64, 8, 128, "80 full", 80 * 2 * 8 * 128 * 2),
    "llama-3-8b": (32, 32, 8, 128, "32 full", 32 * 2 * 8 * 128 * 2),
    "llama-3.2-3b": (28, 24, 8, 128, "28 full", 28 * 2 * 8 * 128 * 2),
    "llama-3.3-70b": (80, 64, 8, 128, "80 full", 80 * 2 * 8 * 128 * 2),
    "llama-4-maverick": (
        48,
        40,
        8,
        128,
        "36 chunked(8192) + 12 full",
        48 * 2 * 8 * 128 * 2,
    ),
    "mixtral-8x22b": (56, 48, 8, 128, "56 full", 56 * 2 * 8 * 128 * 2),
    "qwen2.5-14b": (48, 40, 8, 128, "48 full", 48 * 2 * 8 * 128 * 2),
    "qwen2.5-32b": (64, 40, 8, 128, "64 full", 64 * 2 * 8 * 128 * 2),
    "qwen2.5-72b": (80, 64, 8, 128, "80 full", 80 * 2 * 8 * 128 * 2),
    "qwen3-4b": (36, 32, 8, 128, "36 full", 36 * 2 * 8 * 128 * 2),  # not 2560/32 = 80
    "qwen3-14b": (40, 40, 8, 128, "40 full", 40 * 2 * 8 * 128 * 2),
    "qwen3-32b": (64, 64, 8, 128, "64 full", 64 * 2 * 8 * 128 * 2),
    "qwen3-30b-a3b": (48, 32, 4, 128, "48 full", 48 * 2 * 4 * 128 * 2),
    "qwen3-next-80b-a3b": (
        48,
        16,
        2,
        256,
        "36 state(linear_attention) + 12 full",
        12 * 2 * 2 * 256 * 2,
    ),
    "qwen3-vl-8b": (36, 32, 8, 128, "36 full", 36 * 2 * 8 * 128 * 2),
    "qwen3.5-27b": (
        64,
        24,
        4,
        256,
        "48 state(linear_attention) + 16 full",
        16 * 2 * 4 * 256 * 2,
    ),
    "phi-3-medium-4k": (40, 40, 10, 128, "40 sliding(2047)", 40 * 2 * 10 * 128 * 2),
    "phi-3-small-8k": (32, 32, 8, 128, "32 full", 32 * 2 * 8 * 128 * 2),
    "yi-1.5-34b": (60, 56, 8, 128, "60 full", 60 * 2 * 8 * 128 * 2),
    "command-r": (40, 64, 64, 128, "40 full", 40 * 2 * 64 * 128 * 2),
    "gemma-7b": (
        28,
        16,
        16,
        256,
        "28 full",
        28 * 2 * 16 * 256 * 2,
    ),  # not 3072/16 = 192
    "gemma-2-2b": (26, 8, 4, 256, "13 sliding(4096) + 13 full", 26 * 2 * 4 * 256 * 2),
    "gemma-3-12b": (48, 16, 8, 256, "40 sliding(1024) + 8 full", 48 * 2 * 8 * 256 * 2),
    "gemma-3-27b": (
        62,
        32,
        16,
        128,
        "52 sliding(1024) + 10 full",
        62 * 2 * 16 * 128 * 2,
    ),
    "gemma-4-26b-a4b": (
        30,
        16,
        8,
        256,
        "25 sliding(1024) + 5 full",
        25 * 2 * 8 * 256 * 2 + 5 * 2 * 2 * 512 * 2,
    ),  # global: 2 KV x 512
    "gemma-4-31b": (
        60,
        32,
        16,
        256,
        "50 sliding(1024) + 10 full",
        50 * 2 * 16 * 256 * 2 + 10 * 2 * 4 * 512 * 2,
    ),
    "gemma-4-e2b": (
        35,
        8,
        1,
        256,
        "12 sliding(512) + 3 full + 20 shared",
        12 * 2 * 1 * 256 * 2 + 3 * 2 * 1 * 512 * 2,
    ),
    "kimi-k2": (61, 64, 64, 192, "61 mla(512+64)", 61 * (512 + 64) * 2),
    "deepseek-v3.2": (61, 128, 128, 192, "61 mla(512+64)", 61 * (512 + 64 + 128) * 2),
    "deepseek-v4-flash": (
        43,
        64,
        1,
        512,
        "2 sliding(128) + 21 sliding(128)+compressed(1/4) + "
        "20 sliding(128)+compressed(1/128)",
        43 * 1 * 512 * 2,
    ),
    "falcon-h1-0.5b": (36, 8, 2, 64, "36 full+state(mamba2)", 36 * 2 * 2 * 64 * 2),
    "granite-4.0-h-tiny": (
        40,
        12,
        4,
        128,
        "36 state(mamba2) + 4 full",
        4 * 2 * 4 * 128 * 2,
    ),
    "mistral-small-24b": (
        40,
        32,
        8,
        128,
        "40 full",
        40 * 2 * 8 * 128 * 2,
    ),  # not 5120/32
    "minimax-m2.5": (62, 48, 8, 128, "62 full", 62 * 2 * 8 * 128 * 2),
    "glm-4.7": (92, 96, 8, 128, "92 full", 92 * 2 * 8 * 128 * 2),
    "starcoder2-7b": (32, 36, 4, 128, "32 sliding(4096)", 32 * 2 * 4 * 128 * 2),
    "starcoder2-3b": (30, 24, 2, 128, "30 sliding(4096)", 30 * 2 * 2 * 128 * 2),
}


@pytest.mark.parametrize("name", sorted(SHIPPED) + sorted(EXTRA_SHIPPED))
def test_each_shipped_spec(name):
    n_layers, n_heads, n_kv_heads, head_dim, layout, per_token = {
        **SHIPPED,
        **EXTRA_SHIPPED,
    }[name]
    spec = load_spec(name)
    assert (spec.n_layers, spec.n_heads, spec.n_kv_heads, spec.head_dim) == (
        n_layers,
        n_heads,
        n_kv_heads,
        head_dim,
    )
    assert spec.layout == layout
    assert model_cost(spec, "bf16").bytes_per_token == per_token
    assert "/" in spec.source  # the Hugging Face repo it was read from


def test_every_shipped_spec_is_checked():
    assert set(shipped_names()) == set(SHIPPED) | set(EXTRA_SHIPPED)
    assert len(shipped_names()) >= 25


@pytest.mark.parametrize(
    "name", ["llama-3.1-8b", "gemma-3-4b", "deepseek-v3", "jamba-1.5-mini"]
)
def test_spec_yaml_round_trip(name, tmp_path):
    spec = load_spec(name)
    path = tmp_path / "spec.yaml"
    path.write_text(spec_to_yaml(spec))
    again = load_spec(path)
    assert again.layers == spec.layers
    assert (again.n_heads, again.hidden_size, again.source) == (
        spec.n_heads,
        spec.hidden_size,
        spec.source,
    )


def test_names_are_case_insensitive_and_accept_the_hf_id():
    assert load_spec("LLAMA-3.1-8B").name == load_spec("llama-3.1-8b").name
    assert load_spec("meta-llama/Llama-3.1-8B").name == "Llama-3.1-8B"


def test_unknown_name_suggests_near_matches():
    with pytest.raises(UnknownNameError, match="did you mean.*llama-3.1-8b"):
        load_spec("llama-3.1-8")


def test_missing_file_is_named():
    with pytest.raises(SpecError, match="no such file"):
        load_spec("nowhere/config.json")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\nn_layers: [oops", "not valid spec YAML"),
        ("!!python/object/apply:os.system ['true']", "not valid spec YAML"),
        ("name: x\n!custom 1: 2", "not valid spec YAML"),
        ("- a\n- b", "mapping"),
        (
            "name: x\nn_layers: 2\nn_heads: 4\nhead_dim: 64\nhidden_size: 256\ncolour: red",
            "unknown key 'colour'",
        ),
        (
            "name: x\nn_layers: 0\nn_heads: 4\nn_kv_heads: 4\nhead_dim: 64\nhidden_size: 256",
            "n_layers must be a positive integer, got 0",
        ),
        (
            "name: x\nn_layers: 2\nn_heads: 4\nhead_dim: 64\nhidden_size: 256",
            "missing n_kv_heads",
        ),
        (
            "name: x\nn_layers: 2\nn_heads: 4\nn_kv_heads: 3\nhead_dim: 64\nhidden_size: 256",
            "do not divide",
        ),
        (
            "name: x\nn_layers: 3\nn_heads: 4\nn_kv_heads: 4\nhead_dim: 64\nhidden_size: 256\n"
            "layers: [{kind: full, count: 2}]",
            "n_layers is 3 but layers lists 2",
        ),
        (
            "name: x\nn_heads: 4\nn_kv_heads: 4\nhead_dim: 64\nhidden_size: 256\n"
            "layers: [{kind: sliding, count: 2}]",
            "bad.yaml.*needs window",
        ),
        (
            "name: x\nn_heads: 4\nhead_dim: 64\nhidden_size: 256\n"
            "layers: [{kind: warp}]",
            "kind must be one of .* got 'warp'",
        ),
    ],
)
def test_bad_spec_yaml(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SpecError, match=message):
        load_spec(path)


def test_spec_yaml_with_interleaved_layers(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(
        "name: mine\nn_heads: 8\nn_kv_heads: 2\nhead_dim: 64\nhidden_size: 512\n"
        "layers:\n"
        "  - repeat: 3\n"
        "    layers:\n"
        "      - {kind: sliding, window: 256, count: 2}\n"
        "      - {kind: full, n_kv_heads: 1, head_dim: 128}\n"
    )
    spec = load_spec(path)
    assert spec.layout == "6 sliding(256) + 3 full"
    per_sequence = 6 * 2 * 2 * 64 * 2 * 256 + 3 * 2 * 1 * 128 * 2 * 1000
    assert model_cost(spec, "bf16").sequence_bytes(1000) == per_sequence
