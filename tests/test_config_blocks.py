"""DeciLM / Llama-Nemotron NAS configs: KV heads and cache per layer from block_configs."""

import pytest

from kvplan.configs import load_config, spec_from_config
from kvplan.errors import SpecError
from kvplan.sizing import model_cost

from .conftest import DATA

SUPER = DATA / "more_configs" / "Llama-3.3-Nemotron-Super-49B-v1.json"


def test_nemotron_super_49b_caches_only_its_49_attention_layers():
    # 80 blocks; 31 are no_op attention (layers 6, 7, 11, 42-51, 53-70); the other 49 have
    # n_heads_in_group 8: 64 / 8 = 8 KV heads of 8192 / 64 = 128 values, K and V in bf16.
    spec = load_config(SUPER)
    no_attention = [6, 7, 11, *range(42, 52), *range(53, 71)]
    assert len(no_attention) == 31
    assert [i for i, x in enumerate(spec.layers) if x.kind == "mlp"] == no_attention
    assert spec.n_kv_heads == 8
    assert model_cost(spec, "bf16").bytes_per_token == 49 * 2 * 8 * 128 * 2 == 200_704


def blocks(*attention) -> dict:
    """A small nemotron-nas config whose layers have these attention blocks."""
    return {
        "model_type": "nemotron-nas",
        "num_hidden_layers": len(attention),
        "num_attention_heads": 16,
        "num_key_value_heads": None,
        "hidden_size": 1024,
        "block_configs": [
            {"attention": a, "ffn": {"ffn_mult": 1.0, "no_op": False}}
            for a in attention
        ],
    }


def test_each_block_has_its_own_kv_heads_and_linear_or_no_op_blocks_cache_nothing():
    data = blocks(
        {"n_heads_in_group": 8, "no_op": False, "window_length": None},  # 16 / 8 = 2
        {"n_heads_in_group": None, "no_op": True},
        {"n_heads_in_group": None, "replace_with_linear": True},
        {"n_heads_in_group": 4, "no_op": False},  # 16 / 4 = 4
    )
    spec = spec_from_config(data, name="x")
    assert [layer.kind for layer in spec.layers] == ["full", "mlp", "mlp", "full"]
    # head_dim 1024 / 16 = 64; layer 0: 2 heads, layer 3: 4 heads; K and V, 2 B each
    assert model_cost(spec, "bf16").bytes_per_token == (2 + 4) * 2 * 64 * 2 == 1536


@pytest.mark.parametrize(
    ("setting", "field"),
    [
        ({"window_length": 4096}, "window_length = 4096"),
        ({"num_sink_tokens": 4}, "num_sink_tokens = 4"),
        ({"n_heads_in_group": 3}, "n_heads_in_group 3 does not divide the 16"),
        ({"n_heads_in_group": None}, "n_heads_in_group must be a positive integer"),
    ],
)
def test_block_settings_kvplan_does_not_read_are_refused_by_name(setting, field):
    data = blocks({"n_heads_in_group": 8, "no_op": False, **setting})
    with pytest.raises(SpecError, match=field):
        spec_from_config(data, name="x")


def test_block_configs_of_the_wrong_length_are_refused():
    data = blocks({"n_heads_in_group": 8}, {"n_heads_in_group": 8})
    data["num_hidden_layers"] = 3
    with pytest.raises(SpecError, match="one block per layer .3., got 2"):
        spec_from_config(data, name="x")
