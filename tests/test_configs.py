"""config.json reading: every key alias, nested text configs, type defaults, clear refusals."""

import json

import pytest
import yaml

from kvplan.configs import load_config, spec_from_config
from kvplan.errors import SpecError
from kvplan.estimate import estimate
from kvplan.sizing import model_cost

from .conftest import CONFIGS, DATA


def read(**keys):
    return spec_from_config(keys, name="t")


def test_every_shared_case_gives_its_expected_bytes():
    cases = yaml.safe_load((DATA / "expected.yaml").read_text())["cases"]
    assert len(cases) == 15
    for case in cases:
        spec = load_config(DATA / case["config"])
        row = estimate(
            spec,
            context=case["context"],
            batch=case["batch"],
            cache_dtype=case["cache_dtype"],
        )[0]
        assert row["kv_bytes"] == case["kv_bytes"], case["config"]


# Every other shared config, with its bf16 bytes per token worked out from its shape.
OTHER_CONFIGS = {
    "Aya-23-8B": 32 * 2 * 8 * 128 * 2,  # cohere, GQA 32/8
    "Baichuan2-7B": 32 * 2 * 32 * 128 * 2,  # no KV key: MHA
    "Bloom-7b1": 30 * 2 * 32 * 128 * 2,  # partial: n_layer / n_head, no model_type
    "Gemma-2-27B": 46
    * 2
    * 16
    * 128
    * 2,  # below the window every layer holds the token
    "Gemma-2b": 18 * 2 * 1 * 256 * 2,  # MQA with head_dim 256
    "Gemma-3-1b-it": 26 * 2 * 1 * 256 * 2,
    "Gemma-3-4b-it": 34
    * 2
    * 4
    * 256
    * 2,  # sparse text_config: 4 KV heads, 256 from defaults
    "GPT-J-6B": 28 * 2 * 16 * 256 * 2,
    "Llama-3.1-405B": 126 * 2 * 8 * 128 * 2,
    "Llama-3.2-1B-Instruct": 16 * 2 * 8 * 64 * 2,
    "Mistral-7B-v0.3": 32 * 2 * 8 * 128 * 2,
    "Mistral-Nemo-Base-2407": 40 * 2 * 8 * 128 * 2,  # head_dim 128, not 5120/32 = 160
    "Mixtral-8x7B-v0.1": 32 * 2 * 8 * 128 * 2,
    "OLMo-2-1124-7B": 32 * 2 * 32 * 128 * 2,
    "Phi-3-mini-4k-instruct": 32 * 2 * 32 * 96 * 2,
    "Phi-4": 40 * 2 * 10 * 128 * 2,
    "Pythia-6.9B": 32 * 2 * 32 * 128 * 2,  # partial: GPTNeoXForCausalLM, no model_type
    "Qwen3-235B-A22B": 94 * 2 * 4 * 128 * 2,  # head_dim 128 although 64 x 128 != 4096
    "RedPajama-INCITE-3B-v1": 32 * 2 * 32 * 80 * 2,
    "SantaCoder-gpt_bigcode": 24 * 2 * 1 * 128 * 2,  # multi_query: one KV head
    "DeepSeek-V2-Lite": 27 * (512 + 64) * 2,  # MLA latent, not 16 KV heads
    "gpt-oss-20b": 24 * 2 * 8 * 64 * 2,
    "AI21-Jamba-1.5-Mini": 4 * 2 * 8 * 128 * 2,  # 4 attention layers of 32
    "Nemotron-H-56B-Base-8K": 10 * 2 * 8 * 128 * 2,  # 10 '*' layers in the pattern
}


@pytest.mark.parametrize(("config", "per_token"), sorted(OTHER_CONFIGS.items()))
def test_other_shared_configs(config, per_token):
    spec = load_config(CONFIGS / f"{config}.json")
    assert model_cost(spec, "bf16").bytes_per_token == per_token


def test_every_shared_config_is_covered():
    covered = set(OTHER_CONFIGS)
    cases = yaml.safe_load((DATA / "expected.yaml").read_text())["cases"]
    covered |= {c["config"].split("/")[-1][:-5] for c in cases}
    assert covered == {p.stem for p in CONFIGS.glob("*.json")}


@pytest.mark.parametrize(
    "keys",
    [
        {"num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2},
        {"n_layer": 2, "n_head": 4, "n_head_kv": 2},
        {"num_layers": 2, "n_heads": 4, "num_kv_heads": 2},
        {"n_layers": 2, "num_heads": 4, "n_kv_heads": 2},
        {
            "num_layers": 2,
            "num_attention_heads": 4,
            "multi_query_attention": True,
            "multi_query_group_num": 2,
        },
    ],
)
def test_key_aliases(keys):
    spec = read(model_type="llama", hidden_size=256, **keys)
    assert (spec.n_layers, spec.n_heads, spec.n_kv_heads, spec.head_dim) == (
        2,
        4,
        2,
        64,
    )


@pytest.mark.parametrize("hidden_key", ["hidden_size", "n_embd", "d_model"])
def test_hidden_aliases(hidden_key):
    spec = read(
        model_type="llama",
        num_hidden_layers=1,
        num_attention_heads=2,
        **{hidden_key: 128},
    )
    assert spec.hidden_size == 128
    assert spec.head_dim == 64


def test_multi_query_means_one_kv_head():
    spec = read(
        model_type="gpt_bigcode", n_layer=2, n_head=8, n_embd=512, multi_query=True
    )
    assert spec.n_kv_heads == 1


def test_explicit_head_dim_wins_over_hidden_over_heads():
    spec = read(
        model_type="llama",
        num_hidden_layers=1,
        num_attention_heads=32,
        hidden_size=2560,
        head_dim=128,
        num_key_value_heads=8,
    )
    assert spec.head_dim == 128  # hidden/heads would be 80 (reports.md R1)


def test_missing_kv_heads_in_llama_is_mha_and_said():
    spec = read(
        model_type="llama",
        num_hidden_layers=1,
        num_attention_heads=32,
        hidden_size=4096,
    )
    assert spec.n_kv_heads == 32
    assert any("MHA" in text for text in spec.readings)


def test_sparse_gemma3_text_config_takes_type_defaults_and_lists_them():
    spec = load_config(CONFIGS / "Gemma-3-4b-it.json")
    assert (spec.n_heads, spec.n_kv_heads, spec.head_dim) == (8, 4, 256)
    used = " ".join(spec.defaults_used)
    for key in ("num_attention_heads = 8", "num_key_value_heads = 4", "head_dim = 256"):
        assert key in used


def test_unknown_type_missing_head_dim_is_an_error_not_a_guess():
    with pytest.raises(SpecError, match="head_dim"):
        read(
            model_type="mystery",
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=4,
            hidden_size=256,
        )


def test_missing_layer_count_names_the_key():
    with pytest.raises(SpecError, match="num_hidden_layers"):
        read(model_type="mystery", num_attention_heads=4, hidden_size=256)


def test_non_positive_fields_are_refused():
    with pytest.raises(SpecError, match="num_hidden_layers"):
        read(
            model_type="llama",
            num_hidden_layers=0,
            num_attention_heads=4,
            hidden_size=256,
        )
    with pytest.raises(SpecError, match="num_attention_heads"):
        read(
            model_type="llama",
            num_hidden_layers=2,
            num_attention_heads=-4,
            hidden_size=256,
        )


def test_heads_not_divisible_by_kv_heads_is_refused():
    with pytest.raises(SpecError, match="do not divide"):
        read(
            model_type="llama",
            num_hidden_layers=2,
            num_attention_heads=32,
            num_key_value_heads=5,
            hidden_size=4096,
        )


def test_explicit_null_is_not_replaced_by_a_type_default():
    # Mistral's class default is a 4096 window; an explicit null means no window
    spec = load_config(CONFIGS / "Mistral-7B-v0.3.json")
    assert {layer.kind for layer in spec.layers} == {"full"}


def test_unread_cache_keys_are_refused_by_name(tmp_path):
    with pytest.raises(
        SpecError, match="does not read kv_compression_ratio = 4"
    ) as error:
        read(
            model_type="llama",
            num_hidden_layers=2,
            num_attention_heads=4,
            hidden_size=256,
            kv_compression_ratio=4,
        )
    assert error.value.field == "kv_compression_ratio"


def test_malformed_and_unreadable_files(tmp_path):
    bad = tmp_path / "config.json"
    bad.write_text("{not json")
    with pytest.raises(SpecError, match="not valid JSON.*line 1"):
        load_config(bad)
    bad.write_text(json.dumps([1, 2]))
    with pytest.raises(SpecError, match="JSON object"):
        load_config(bad)
    bad.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(SpecError, match="UTF-8"):
        load_config(bad)
    with pytest.raises(SpecError, match="no config.json"):
        load_config(tmp_path / "..")


def test_folder_holding_a_config(tmp_path):
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "config.json").write_text((CONFIGS / "Llama-3.1-8B.json").read_text())
    spec = load_config(folder)
    assert spec.name == "my-model"
    assert model_cost(spec, "bf16").bytes_per_token == 131072


def test_dtype_is_read_and_defaulted():
    assert load_config(CONFIGS / "ChatGLM3-6B.json").dtype == "fp16"
    spec = load_config(CONFIGS / "Bloom-7b1.json")
    assert spec.dtype == "bf16"
    assert any("dtype = bf16" in text for text in spec.defaults_used)
