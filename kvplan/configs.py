"""Hugging Face config.json -> ModelSpec: key aliases, nested text configs, type defaults.

This is the only module that knows Hugging Face key names (with config_layers.py for the layer
kinds). Every key read is recorded, every default taken is listed in the spec's
`defaults_used`, and every interpretation chosen is listed in its `readings`, so the output can
say how each number was obtained. Missing keys with no known default are errors naming the key.
"""

import json
from pathlib import Path

from kvplan.config_defaults import (
    TEXT_TYPE_OF,
    TYPE_ALIASES,
    TYPE_OF_ARCHITECTURE,
    type_defaults,
)
from kvplan.config_reader import ConfigReader
from kvplan.errors import SpecError
from kvplan.formats import canonical_name
from kvplan.spec import MAX_LAYERS, ModelSpec

LAYERS = ("num_hidden_layers", "n_layer", "num_layers", "n_layers")
HEADS = ("num_attention_heads", "n_head", "n_heads", "num_heads")
KV_HEADS = ("num_key_value_heads", "num_kv_heads", "n_head_kv", "n_kv_heads")
HEAD_DIM = ("head_dim", "kv_channels", "attention_head_dim")
HIDDEN = ("hidden_size", "n_embd", "d_model", "model_dim")
DTYPE = ("torch_dtype", "dtype")
POSITIONS = (
    "max_position_embeddings",
    "n_positions",
    "seq_length",
    "max_sequence_length",
    "max_seq_len",
    "model_max_length",
)
NESTED = (
    "text_config",
    "thinker_config",
    "llm_config",
    "language_config",
    "text_model",
)


def load_json(path: Path) -> dict:
    """A config.json as a dict, or one clear error naming the file."""
    from kvplan.textfile import read_text

    text = read_text(path)
    try:
        data = json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as error:
        raise SpecError(
            f"{path} is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})",
            field="model",
        ) from None
    except SpecError as error:
        raise SpecError(f"{path}: {error.args[0]}", field=error.field) from None
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected a JSON object of config keys", field="model")
    return data


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    """A JSON object; a key given twice is refused rather than the last one kept."""
    data: dict = {}
    for key, value in pairs:
        if key in data:
            raise SpecError(f"key {key!r} is given twice; each key once", field=key)
        data[key] = value
    return data


def _text_config(data: dict, where: str) -> tuple[dict, str, list[str]]:
    """The dict that describes the language model, its inherited type, and the path to it."""
    path: list[str] = []
    parent_type = data.get("model_type") or ""
    current = data
    while True:
        nested = next((k for k in NESTED if isinstance(current.get(k), dict)), None)
        if nested is None:
            return current, parent_type, path
        path.append(nested)
        parent_type = current.get("model_type") or parent_type
        current = current[nested]


def _model_type(
    reader_notes: list[str],
    text: dict,
    data: dict,
    nested_path: list[str],
    parent_type: str,
) -> str:
    if text.get("model_type"):
        return str(text["model_type"])
    if nested_path:
        return TEXT_TYPE_OF.get(parent_type, parent_type)
    for arch in data.get("architectures") or []:
        if arch in TYPE_OF_ARCHITECTURE:
            inferred = TYPE_OF_ARCHITECTURE[arch]
            reader_notes.append(
                f"no model_type: read as {inferred!r}, the type its architecture {arch} implies"
            )
            return inferred
    return ""


def _dtype(reader: ConfigReader, top: dict) -> str:
    """The checkpoint dtype (torch_dtype / dtype); absent means bf16, with a note.

    Newer configs write `dtype`, older `torch_dtype`, and some both: both are read, and two
    that name different dtypes are refused rather than one picked.
    """
    here = [key for key in DTYPE if reader.present(key)]  # each marked read
    source = reader.data if here else top  # a multimodal checkpoint's outer config
    named = {k: _dtype_name(reader, k, source[k]) for k in DTYPE if k in source}
    given = {k: v for k, v in named.items() if v}
    if len(set(given.values())) > 1:
        (first, one), (second, other) = given.items()
        raise SpecError(
            f"{reader.where}: {first} = {source[first]!r} and {second} = "
            f"{source[second]!r} name different dtypes; kvplan will not pick one",
            field=first,
        )
    if not given:
        reader.defaults_used.append("dtype = bf16 (no torch_dtype in the config)")
        return "bf16"
    return next(iter(given.values()))


def _dtype_name(reader: ConfigReader, key: str, value) -> str:
    """A dtype key's value as a format name; empty for null or "auto"."""
    if value is None or value == "auto":
        return ""
    name = str(value).replace("torch.", "")
    try:
        return canonical_name(name, field=key)
    except ValueError:
        raise SpecError(
            f"{reader.where}: {key} {value!r} is not a dtype kvplan knows; expected "
            "float32, float16 or bfloat16 (or fp8 / int8 names)",
            field=key,
        ) from None


# Types with no attention at all: every layer a recurrent state, no heads to read.
_STATE_ONLY_TYPES = ("mamba", "falcon_mamba", "mamba2")

MAX_LAYERS_TEXT = f"{MAX_LAYERS:,}"


def _geometry(reader: ConfigReader, hidden: int) -> tuple[int, int | list, int | list]:
    """(query heads, KV heads, head_dim) as the attention layers' cache needs them."""
    from kvplan.config_heads import read_head_dim, read_heads

    if reader.model_type in _STATE_ONLY_TYPES:
        for key in ("num_heads", "head_dim"):  # Mamba-2's own heads: read as its state
            reader.present(key)
        return 0, 0, 0
    if reader.present(
        "kv_lora_rank"
    ):  # MLA: KV heads and head_dim do not shape the cache
        n_heads = reader.integer(*HEADS)
        for key in (*KV_HEADS, *HEAD_DIM):  # read: the latent is the cache, not these
            reader.present(key)
        head_dim = reader.integer("qk_nope_head_dim") + reader.integer(
            "qk_rope_head_dim"
        )
        if reader.get("qk_head_dim", default=head_dim) != head_dim:
            raise SpecError(
                f"{reader.where}: qk_head_dim {reader.data['qk_head_dim']!r} is not "
                f"qk_nope_head_dim + qk_rope_head_dim = {head_dim}",
                field="qk_head_dim",
            )
        return n_heads, n_heads, head_dim
    n_heads, n_kv_heads = read_heads(reader)
    return n_heads, n_kv_heads, read_head_dim(reader, hidden, n_heads)


# Keys that list every layer: a config without a layer count may be read by their length.
_LAYER_LISTS = ("layers_block_type", "layer_types", "hybrid_override_pattern")


def _layer_count(reader: ConfigReader) -> int:
    listed = next(
        (k for k in _LAYER_LISTS if isinstance(reader.data.get(k), (list, str))), None
    )
    if reader.present(*LAYERS) is None and listed and reader.data[listed]:
        n_layers = len(reader.data[listed])  # NemotronHConfig counts its layers so
        reader.readings.append(
            f"no num_hidden_layers: {n_layers} layers, as {listed} lists"
        )
    else:
        n_layers = reader.integer(*LAYERS)
    if n_layers > MAX_LAYERS:
        raise SpecError(
            f"{reader.where}: {reader.present(*LAYERS)} is {n_layers:,}; kvplan accepts at "
            f"most {MAX_LAYERS_TEXT} layers (real models have a few hundred)",
            field=reader.present(*LAYERS) or LAYERS[0],
        )
    return n_layers


def _reader(data: dict, name: str, where: str) -> ConfigReader:
    """A reader of the config's language model, with how it was found noted."""
    text, parent_type, nested = _text_config(data, name)
    notes: list[str] = []
    model_type = _model_type(notes, text, data, nested, parent_type)
    implied = {}
    if model_type in TYPE_ALIASES:
        alias = model_type
        model_type, implied = TYPE_ALIASES[model_type]
        notes.append(f"model_type {alias!r} read as {model_type!r}")
    inner = f"{where} ({'.'.join(nested)})" if nested else where
    reader = ConfigReader(
        text, model_type, inner, implied, implied_by=alias if implied else ""
    )
    if nested:
        notes.append(f"read the language model from {'.'.join(nested)}")
    if not model_type:
        notes.append("no model_type: keys read as given, no type defaults")
    elif not type_defaults(model_type):
        notes.append(f"model type {model_type!r} is unknown to kvplan: no defaults")
    reader.readings.extend(notes)
    return reader


def spec_from_config(
    data: dict, *, name: str, source: str = "", where: str = ""
) -> ModelSpec:
    """A ModelSpec from a parsed config.json dict; `where` names it in errors (its file)."""
    from kvplan.config_extras import read_bidirectional, read_mtp
    from kvplan.config_layers import read_layers
    from kvplan.config_layout import refuse_recurrent
    from kvplan.config_weights import read_weights

    data = {k: v for k, v in data.items() if not str(k).startswith("_")}
    reader = _reader(data, name, where or name)
    refuse_recurrent(reader)
    n_layers = _layer_count(reader)
    hidden = reader.integer(*HIDDEN)
    n_heads, n_kv_heads, head_dim = _geometry(reader, hidden)
    layers = read_layers(
        reader,
        n_layers=n_layers,
        n_heads=n_heads,
        n_kv_heads=n_kv_heads,
        head_dim=head_dim,
    )
    read_mtp(reader)
    read_bidirectional(reader)
    if reader.present("dense_attention_every_n_layers"):
        reader.readings.append(
            "dense_attention_every_n_layers: the block-sparse layers still cache every token"
        )
    ssm_dtype = _state_dtype_name(reader, layers)
    weights = read_weights(reader, n_layers=n_layers, hidden=hidden, top=data)
    dtype = _dtype(reader, data)
    max_positions = _positions(reader)
    reader.refuse_unread()
    return ModelSpec(
        name=name,
        layers=layers,
        n_heads=n_heads,
        n_kv_heads=_headline(n_kv_heads),
        head_dim=_headline(head_dim),
        hidden_size=hidden,
        dtype=dtype,
        max_positions=max_positions,
        model_type=reader.model_type,
        source=source,
        ssm_dtype=ssm_dtype,
        defaults_used=tuple(reader.defaults_used),
        readings=tuple(reader.readings),
        weights=weights,
    )


def _state_dtype_name(reader: ConfigReader, layers) -> str:
    """The recurrent-state dtype a config names (mamba_ssm_dtype), as a format name."""
    from kvplan.config_states import FP32_STATE_FAMILIES, state_family

    value = reader.get("mamba_ssm_dtype", "mamba_ssm_cache_dtype", default=None)
    key = (
        reader.present("mamba_ssm_dtype", "mamba_ssm_cache_dtype") or "mamba_ssm_dtype"
    )
    has_state = any(layer.ssm_values for layer in layers)
    if value in (None, "auto"):
        if has_state and state_family(reader) in FP32_STATE_FAMILIES:
            reader.readings.append(
                f"{reader.model_type}'s recurrent state is kept in fp32, as its code does"
            )
            return "fp32"
        return ""
    name = canonical_name(str(value).replace("torch.", ""), field=key)
    reader.readings.append(f"recurrent states kept in {name} ({key})")
    return name


def _positions(reader: ConfigReader) -> int | None:
    """The trained context (the first positions key given; spellings may differ)."""
    key = reader.present(*POSITIONS)
    for other in POSITIONS:
        reader.present(other)
    if key is None:
        return reader.integer(*POSITIONS, default=None)  # the type's default, if any
    return reader.integer(key)


def _headline(value: int | list) -> int:
    """One number for display where a config gives per-layer values: the first attention
    layer's (a layer without attention lists 0)."""
    if not isinstance(value, list):
        return value
    return next((v for v in value if v), value[0])


def config_path(path: Path) -> Path:
    """The config.json a path names: the file itself, or config.json in a folder."""
    from kvplan.textfile import file_kind

    if file_kind(path) == "folder":
        candidate = path / "config.json"
        if file_kind(candidate) == "missing":
            raise SpecError(
                f"{path} is a folder with no config.json in it", field="model"
            )
        return candidate
    return path


def load_config(path: str | Path, *, name: str | None = None) -> ModelSpec:
    """A ModelSpec from a Hugging Face config.json file, or a folder holding one."""
    file = config_path(Path(path))
    data = load_json(file)
    label = name or _name_from(data, file)
    source = str(data.get("_name_or_path") or file)
    return spec_from_config(data, name=label, source=source, where=str(file))


def _name_from(data: dict, file: Path) -> str:
    """A display name: the file's stem, or its folder's name for a plain config.json."""
    if file.stem != "config":
        return file.stem
    return file.resolve().parent.name or str(data.get("model_type") or "model")
