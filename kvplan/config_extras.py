"""Config keys about parts of a checkpoint outside the decoder's own cache, read and noted.

Multi-token-prediction (MTP) layers are draft layers for speculative decoding: the main model
never runs them, so kvplan sizes the decoder without them and says so. Gemma's
`use_bidirectional_attention: "vision"` lets image tokens attend both ways inside an image
while text stays causal: the cache is the same. Bidirectional attention over every token is an
encoder (EmbeddingGemma), which keeps no growing cache: refused by name. So is Mllama's
cross-attention to image tokens, whose cache depends on each request's images.
"""

import re

from kvplan.config_reader import ConfigReader
from kvplan.errors import SpecError

# Qwen3.5's mtp_num_hidden_layers, MiniMax's mtp_transformer_layers / num_mtp_modules /
# use_mtp, DeepSeek's and Step's num_nextn_predict_layers, Nemotron's mtp_* lists.
_MTP = re.compile(r"(^|_)mtp(_|s_|$)|nextn")


def read_mtp(reader: ConfigReader) -> None:
    """Read the MTP keys; when the checkpoint has MTP layers, note they are not counted."""
    keys = [key for key in reader.data if _MTP.search(key)]
    for key in keys:
        reader.present(key)
    given = [k for k in keys if reader.data[k] not in (None, False, 0, [], "", {})]
    if not given:
        return
    shown = ", ".join(f"{k} = {_short(reader.data[k])}" for k in given)
    reader.readings.append(
        f"multi-token prediction ({shown}): draft layers for speculative decoding, "
        "outside the main model; not counted in its cache or weights (an engine serving "
        "them as a draft also caches their K and V)"
    )


def without_mtp_entries(reader: ConfigReader, key: str, values, n_layers: int):
    """A per-layer list without the entries some configs append for their MTP layers.

    Step-3.x's configs list num_hidden_layers + num_nextn_predict_layers layer types;
    transformers' Step3p7Config splits the trailing ones off as the MTP layers' own.
    """
    extra = reader.data.get("num_nextn_predict_layers")
    padded = isinstance(extra, int) and not isinstance(extra, bool) and extra > 0
    if not (padded and isinstance(values, list) and len(values) == n_layers + extra):
        return values
    reader.readings.append(
        f"{key} lists {len(values)} layers for {n_layers}: the last {extra} are the "
        "multi-token-prediction layers' (num_nextn_predict_layers), not read"
    )
    return values[:n_layers]


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 24 else text[:21] + "..."


# Values of use_bidirectional_attention under which text tokens stay causal.
_CAUSAL_TEXT = (None, False, "vision")


def read_bidirectional(reader: ConfigReader) -> None:
    """Gemma's use_bidirectional_attention: vision-only is read; all tokens is refused."""
    value = reader.get("use_bidirectional_attention", default=None)
    if value == "vision":
        reader.readings.append(
            "use_bidirectional_attention 'vision': image tokens attend both ways within an "
            "image, text causally; the cache per token is unchanged"
        )
    if value in _CAUSAL_TEXT:
        return
    raise SpecError(
        f"{reader.where}: use_bidirectional_attention = {value!r}: every token attends both "
        "ways (an encoder such as EmbeddingGemma, whose window the code also halves), so "
        "nothing is decoded from a growing cache; kvplan sizes causal decoders only",
        field="use_bidirectional_attention",
    )


def refuse_cross_attention(reader: ConfigReader, n_layers: int) -> None:
    """Mllama's cross-attention layers cache image tokens, which kvplan does not model."""
    cross = reader.get("cross_attention_layers", default=None)
    if not cross:
        return
    count = len(cross) if isinstance(cross, list) else cross
    raise SpecError(
        f"{reader.where}: cross_attention_layers: {count} of {n_layers} layers attend to "
        "image tokens, whose cache depends on the images per request (tiles x patches), "
        "which kvplan does not model; for the text cache alone write a spec YAML of the "
        "self-attention layers (docs/specs.md)",
        field="cross_attention_layers",
    )
