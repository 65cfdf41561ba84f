"""kvplan's table of type defaults, checked against transformers' own config classes."""

import pytest

from kvplan.config_defaults import DERIVED, SAME_AS_HEADS, TYPE_DEFAULTS

transformers = pytest.importorskip("transformers")
from transformers import CONFIG_MAPPING  # noqa: E402

# Types transformers does not ship; their rules come from the models' remote code.
REMOTE_CODE_TYPES = {
    "baichuan",
    "chatglm",
    "internlm2",
    "kimi_k2",
    "phi3small",
    "nemotron-nas",
}
# Keys that state "every Nth layer is full"; newer classes keep only the layer_types they imply.
PATTERN_KEYS = {
    "sliding_window_pattern",
    "full_attention_interval",
    "no_rope_layer_interval",
}


def shipped_types():
    return sorted(set(TYPE_DEFAULTS) - REMOTE_CODE_TYPES)


def default_config(model_type, **overrides):
    return CONFIG_MAPPING[model_type](**overrides)


def attribute(config, key):
    if key == "head_dim" and hasattr(config, "get_text_config"):
        config = config.get_text_config()
    try:
        return getattr(config, key)
    except Exception:  # heterogeneous configs guard per-layer attributes
        config.allow_global_per_layer_attribute_access = True
        return getattr(config, key)


@pytest.mark.parametrize("model_type", shipped_types())
def test_numeric_defaults_match_transformers(model_type):
    config = default_config(model_type)
    for key, value in TYPE_DEFAULTS[model_type].items():
        if value in (DERIVED, SAME_AS_HEADS):
            continue
        if key in PATTERN_KEYS and not hasattr(config, key):
            # newer transformers expresses the pattern as layer_types; check that instead
            types = config.layer_types
            full = [i for i, t in enumerate(types) if t == "full_attention"]
            expected = [i for i in range(len(types)) if (i + 1) % value == 0]
            if model_type == "gemma4_text":
                expected = sorted(set(expected) | {len(types) - 1})
            assert full == expected, model_type
            continue
        if key == "global_head_dim" and not hasattr(config, key):
            continue  # popped from kwargs by the class; checked by the per-layer tests below
        assert attribute(config, key) == value, f"{model_type}.{key}"


def rule_types():
    rules = (DERIVED, SAME_AS_HEADS)
    return [
        t for t in shipped_types() if any(v in rules for v in TYPE_DEFAULTS[t].values())
    ]


@pytest.mark.parametrize("model_type", rule_types())
def test_derived_rules_match_transformers(model_type):
    defaults = TYPE_DEFAULTS[model_type]
    overrides = {}
    if defaults.get("head_dim") == DERIVED:
        overrides.update(hidden_size=768, num_attention_heads=12)
    if defaults.get("num_key_value_heads") == SAME_AS_HEADS:
        overrides.setdefault("num_attention_heads", 12)
    if model_type == "falcon":
        overrides["new_decoder_architecture"] = True
    config = default_config(model_type, **overrides)
    if defaults.get("head_dim") == DERIVED:
        head_dim = getattr(config, "head_dim", None)
        assert head_dim in (None, 768 // 12), (
            model_type
        )  # None: the model code derives it
    if defaults.get("num_key_value_heads") == SAME_AS_HEADS:
        kv = getattr(config, "num_key_value_heads", None) or getattr(
            config, "num_kv_heads", 12
        )
        assert kv == 12, model_type


def test_gemma4_global_layers_take_global_head_dim():
    config = default_config("gemma4_text", num_hidden_layers=6)
    layer = config.per_layer_config[5]
    head_dim = layer["head_dim"] if isinstance(layer, dict) else layer.head_dim
    assert head_dim == TYPE_DEFAULTS["gemma4_text"]["global_head_dim"]


def test_llama4_interval():
    config = default_config("llama4_text")
    types = config.layer_types
    interval = TYPE_DEFAULTS["llama4_text"]["no_rope_layer_interval"]
    assert [i for i, t in enumerate(types) if t == "full_attention"] == [
        i for i in range(len(types)) if (i + 1) % interval == 0
    ]
