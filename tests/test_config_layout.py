"""Layer layouts a config leaves to its type: kvplan's rules against transformers' classes.

Every config class in transformers that derives `layer_types` is asked for the layout it
derives; kvplan, given the same config without the list, must give that layout or refuse it.
A type it reads as "every layer the same" while the class derives something else fails here.
"""

import inspect
import warnings
from collections import Counter

import pytest

from kvplan.config_layout import RULES
from kvplan.configs import spec_from_config
from kvplan.errors import SpecError

transformers = pytest.importorskip("transformers")
from transformers import CONFIG_MAPPING  # noqa: E402

transformers.logging.set_verbosity_error()

# transformers' layer type names, in kvplan's kind words
WORDS = {
    "full_attention": "full",
    "attention": "full",
    "indexed_attention": "full",
    "sliding_attention": "sliding",
    "chunked_attention": "chunked",
    "linear_attention": "state",
    "mamba": "state",
    "conv": "state",
    "hybrid": "hybrid",
    "moe": "mlp",
    "mlp": "mlp",
    # DeepSeek-V4: a K=V window on every layer, plus compressed entries (config_compressed)
    "compressed_sparse_attention": "sliding",
    "heavily_compressed_attention": "sliding",
}
# Settings under which the classes derive different layouts.
VARIATIONS = (
    {},
    {"sliding_window": 8},
    {"sliding_window": 8, "use_sliding_window": True, "max_window_layers": 5},
)


def text_config(model_type, **overrides):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config = CONFIG_MAPPING[model_type](**overrides)
    getter = getattr(config, "get_text_config", None)
    return getter() if getter else config


def attribute(config, key):
    """A config attribute; heterogeneous configs guard per-layer ones."""
    try:
        return getattr(config, key, None)
    except Exception:
        config.allow_global_per_layer_attribute_access = True
        return getattr(config, key, None)


def derived_kinds(config) -> list[str] | None:
    """The kinds transformers derives; a sliding layer without a window keeps every token."""
    types = getattr(config, "layer_types", None) or getattr(
        config, "layers_block_type", None
    )
    if not types:
        return None
    window = attribute(config, "sliding_window")
    kinds = [WORDS.get(t, f"?{t}") for t in types]
    return ["full" if k == "sliding" and not window else k for k in kinds]


def kvplan_kinds(spec) -> list[str]:
    """kvplan's layers as kind words: MLA is full attention, attention + state is hybrid."""
    kinds = []
    for layer in spec.layers:
        if layer.kind == "mla":
            kinds.append("full")
        elif layer.kind == "full" and layer.conv_values + layer.ssm_values:
            kinds.append("hybrid")
        else:
            kinds.append(layer.kind)
    return kinds


def without_list(config) -> dict:
    """The config as a config.json would hold it, minus the per-layer list."""
    data = config.to_dict()
    types = data.pop("layer_types", None) or data.pop("layers_block_type", None)
    data.pop("layers_block_type", None)
    if "num_hidden_layers" not in data and types:  # NemotronHConfig counts its list
        data["num_hidden_layers"] = len(types)
    return data


def same_layout(expected: list[str], got: list[str]) -> bool:
    """Equal kinds; layers kvplan marks shared (they reuse another's K and V) are skipped."""
    if len(expected) != len(got):
        return False
    return all(g == "shared" or e == g for e, g in zip(expected, got, strict=True))


def cases():
    for model_type in sorted(CONFIG_MAPPING.keys()):
        for overrides in VARIATIONS:
            try:
                config = text_config(model_type, **overrides)
                expected = derived_kinds(config)
            except Exception:  # the class refuses these settings
                continue
            if expected is None or set(expected) == {"full"}:
                continue
            yield pytest.param(
                model_type, overrides, id=f"{model_type}-{len(overrides)}"
            )


@pytest.mark.parametrize(("model_type", "overrides"), list(cases()))
def test_a_derived_layout_is_followed_or_refused(model_type, overrides):
    config = text_config(model_type, **overrides)
    expected = derived_kinds(config)
    try:
        spec = spec_from_config(without_list(config), name=model_type)
    except SpecError:
        assert model_type not in RULES or overrides, f"{model_type} has a rule"
        return
    got = kvplan_kinds(spec)
    assert same_layout(expected, got), (Counter(expected), Counter(got))


def ruled_types():
    return sorted(t for t in RULES if t in CONFIG_MAPPING)


@pytest.mark.parametrize("model_type", ruled_types())
def test_every_rule_reads_its_class_default_config(model_type):
    """With no settings changed, a type with a rule is read, never refused."""
    config = text_config(model_type)
    spec = spec_from_config(without_list(config), name=model_type)
    expected = derived_kinds(config)
    if expected is None:  # the class keeps no list: a window applies to every layer
        window = attribute(config, "sliding_window")
        expected = ["sliding" if window else "full"] * config.num_hidden_layers
    assert same_layout(expected, kvplan_kinds(spec)), model_type


@pytest.mark.parametrize("model_type", ["mistral", "mixtral", "phi3", "starcoder2"])
def test_window_on_every_layer_is_what_the_attention_code_does(model_type):
    """These classes keep no layer_types; their attention passes the window to every layer."""
    module = __import__(
        f"transformers.models.{model_type}.modeling_{model_type}", fromlist=["x"]
    )
    assert 'sliding_window=getattr(self.config, "sliding_window", None)' in (
        inspect.getsource(module)
    )
    assert RULES[model_type].__name__ == "_window_every_layer"
