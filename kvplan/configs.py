"""Hugging Face config.json -> ModelSpec: key aliases, nested text configs, type defaults.

This is the only module that knows Hugging Face key names (with config_layers.py for the layer
kinds). Every key read is recorded, every default taken is listed in the spec's
`defaults_used`, and every interpretation chosen is listed in its `readings`, so the output can
say how each number was obtained. Missing keys with no known default are errors naming the key.
"""

import json
import re
from pathlib import Path

from kvplan.config_defaults import (
    DERIVED,
    SAME_AS_HEADS,
    TEXT_TYPE_OF,
    TYPE_ALIASES,
    TYPE_OF_ARCHITECTURE,
    type_defaults,
)
from kvplan.errors import SpecError
from kvplan.formats import canonical_name
from kvplan.spec import ModelSpec

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

# Keys that, when present but unread, may change the cache: they are named in the readings.
_CACHE_WORDS = re.compile(
    r"window|attention_chunk|kv|share_factor|shared_layers|compress|index_head"
    r"|layer_types|block_type|pattern|cache_dtype|ssm_dtype|latent|state_size"
)
# Keys that match the words above but shape computation, not the cache.
_NOT_CACHE = {
    "q_lora_rank",
    "o_lora_rank",
    "index_topk",
    "index_n_heads",
    "compress_rope_theta",
    "use_mamba_kernels",
    "mamba_chunk_size",
    "chunk_size",
    "kv_lora_rank_scale",
}

_MISSING = object()


class ConfigReader:
    """Reads one (text) config dict, recording the keys read and the defaults used."""

    def __init__(
        self, data: dict, model_type: str, where: str, implied: dict | None = None
    ):
        self.data = data
        self.model_type = model_type
        self.where = where
        self.defaults = {**type_defaults(model_type), **(implied or {})}
        self.read: set[str] = set()
        self.defaults_used: list[str] = []
        self.readings: list[str] = []

    def present(self, *keys: str) -> str | None:
        """The first of `keys` the config gives a non-null value for."""
        for key in keys:
            if key in self.data:
                self.read.add(key)
                if self.data[key] is not None:
                    return key
        return None

    def get(self, *keys: str, default=_MISSING):
        """The value of the first present key, else the type default, else `default`, else error."""
        key = self.present(*keys)
        if key is not None:
            return self.data[key]
        explicit_null = any(k in self.data for k in keys)
        for name in keys:
            if name in self.defaults:
                value = self.defaults[name]
                if explicit_null and value not in (DERIVED, SAME_AS_HEADS):
                    return None  # an explicit null is the config's word, not a gap
                text = f"{name} = {value} ({self.model_type} default)"
                if (
                    value not in (DERIVED, SAME_AS_HEADS)
                    and text not in self.defaults_used
                ):
                    self.defaults_used.append(
                        text
                    )  # rules (markers): the caller says what it did
                return value
        if default is not _MISSING:
            return default
        if explicit_null:
            return None
        raise self.missing(keys)

    def missing(self, keys: tuple[str, ...]) -> SpecError:
        known = (
            f"model type {self.model_type!r}" if self.model_type else "no model_type"
        )
        names = " / ".join(keys)
        return SpecError(
            f"{self.where}: missing key {names}, and {known} has no default kvplan knows; "
            "add it to the config or write a spec YAML",
            field=keys[0],
        )

    def integer(self, *keys: str, default=_MISSING) -> int:
        value = self.get(*keys, default=default)
        if value is None:
            return value
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise SpecError(
                f"{self.where}: {keys[0]} must be a positive integer, got {value!r}",
                field=keys[0],
            )
        return value

    def flag(self, key: str) -> bool:
        return bool(self.get(key, default=False))

    def unread_cache_keys(self) -> list[str]:
        """Keys the reader did not use whose names suggest they shape the cache."""
        return sorted(
            key
            for key, value in self.data.items()
            if key not in self.read
            and key not in _NOT_CACHE
            and value not in (None, False)
            and _CACHE_WORDS.search(key)
        )


def load_json(path: Path) -> dict:
    """A config.json as a dict, or one clear error naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SpecError(
            f"cannot read {path}: {error.strerror or error}", field="model"
        ) from None
    except UnicodeDecodeError:
        raise SpecError(f"{path} is not UTF-8 text", field="model") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise SpecError(
            f"{path} is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})",
            field="model",
        ) from None
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected a JSON object of config keys", field="model")
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
    text: dict, data: dict, nested_path: list[str], parent_type: str
) -> str:
    if text.get("model_type"):
        return str(text["model_type"])
    if nested_path:
        return TEXT_TYPE_OF.get(parent_type, parent_type)
    for arch in data.get("architectures") or []:
        if arch in TYPE_OF_ARCHITECTURE:
            return TYPE_OF_ARCHITECTURE[arch]
    return ""


def _dtype(reader: ConfigReader, top: dict) -> str:
    value = (
        reader.get(*DTYPE, default=None) or top.get("torch_dtype") or top.get("dtype")
    )
    if value is None:
        reader.defaults_used.append("dtype = bf16 (no torch_dtype in the config)")
        return "bf16"
    try:
        return canonical_name(str(value).replace("torch.", ""), field="torch_dtype")
    except ValueError:
        reader.readings.append(
            f"torch_dtype {value!r} is not a cache format; bf16 assumed"
        )
        return "bf16"


def read_heads(reader: ConfigReader) -> tuple[int, int]:
    """Query heads and KV heads, with every MQA/GQA spelling the configs use."""
    n_heads = reader.integer(*HEADS)
    if (
        reader.present("multi_query_attention")
        or "multi_query_attention" in reader.defaults
    ):
        if reader.flag("multi_query_attention"):
            return n_heads, reader.integer("multi_query_group_num")
        return n_heads, n_heads
    if reader.flag("new_decoder_architecture"):
        return n_heads, reader.integer(*KV_HEADS)
    if reader.present("multi_query") or "multi_query" in reader.defaults:
        if reader.flag("multi_query"):
            reader.readings.append("multi_query: true means one KV head (MQA)")
            return n_heads, 1
    value = reader.get(*KV_HEADS)
    if value == SAME_AS_HEADS:
        reader.readings.append(
            f"no num_key_value_heads: {n_heads} KV heads (MHA), as {reader.model_type} assumes"
        )
        return n_heads, n_heads
    if isinstance(value, list):
        return n_heads, value
    return n_heads, reader.integer(*KV_HEADS)


def read_head_dim(reader: ConfigReader, hidden: int, n_heads: int) -> int:
    """head_dim as given; derived from hidden/heads only where the type's code derives it."""
    value = reader.get(*HEAD_DIM)
    if value == DERIVED:
        if hidden % n_heads:
            raise SpecError(
                f"{reader.where}: hidden_size {hidden} is not a multiple of {n_heads} heads, "
                "so head_dim cannot be derived; add head_dim",
                field="head_dim",
            )
        reader.readings.append(
            f"head_dim = hidden_size / num_attention_heads = {hidden} / {n_heads} = "
            f"{hidden // n_heads} (no head_dim key; {reader.model_type} derives it so)"
        )
        return hidden // n_heads
    if isinstance(value, list):
        return value
    return reader.integer(*HEAD_DIM)


def spec_from_config(data: dict, *, name: str, source: str = "") -> ModelSpec:
    """A ModelSpec from a parsed config.json dict."""
    from kvplan.config_layers import read_layers
    from kvplan.config_weights import read_weights

    data = {k: v for k, v in data.items() if not k.startswith("_")}
    text, parent_type, nested = _text_config(data, name)
    model_type = _model_type(text, data, nested, parent_type)
    implied = {}
    if model_type in TYPE_ALIASES:
        model_type, implied = TYPE_ALIASES[model_type]
    where = f"{name} ({'.'.join(nested)})" if nested else name
    reader = ConfigReader(text, model_type, where, implied)
    if nested:
        reader.readings.append(f"read the language model from {'.'.join(nested)}")
    if not model_type:
        reader.readings.append("no model_type: keys read as given, no type defaults")
    elif not type_defaults(model_type):
        reader.readings.append(
            f"model type {model_type!r} is unknown to kvplan: no defaults"
        )
    n_layers = reader.integer(*LAYERS)
    hidden = reader.integer(*HIDDEN)
    if reader.present(
        "kv_lora_rank"
    ):  # MLA: KV heads and head_dim do not shape the cache
        n_heads = reader.integer(*HEADS)
        n_kv_heads = n_heads
        head_dim = reader.integer("qk_nope_head_dim") + reader.integer(
            "qk_rope_head_dim"
        )
    else:
        n_heads, n_kv_heads = read_heads(reader)
        head_dim = read_head_dim(reader, hidden, n_heads)
    layers = read_layers(
        reader,
        n_layers=n_layers,
        n_heads=n_heads,
        n_kv_heads=n_kv_heads,
        head_dim=head_dim,
    )
    if reader.present("dense_attention_every_n_layers"):
        reader.readings.append(
            "dense_attention_every_n_layers: the block-sparse layers still cache every token"
        )
    ssm_dtype = reader.get("mamba_ssm_dtype", "mamba_ssm_cache_dtype", default=None)
    weights = read_weights(reader, n_layers=n_layers, hidden=hidden, top=data)
    unread = reader.unread_cache_keys()
    if unread:
        reader.readings.append(
            f"keys not read by kvplan (check they do not shape the cache): "
            f"{', '.join(unread)}"
        )
    return ModelSpec(
        name=name,
        layers=layers,
        n_heads=n_heads,
        n_kv_heads=_headline(n_kv_heads),
        head_dim=_headline(head_dim),
        hidden_size=hidden,
        dtype=_dtype(reader, data),
        max_positions=reader.integer(*POSITIONS, default=None),
        model_type=model_type,
        source=source,
        ssm_dtype=_state_dtype_name(reader, ssm_dtype),
        defaults_used=tuple(reader.defaults_used),
        readings=tuple(reader.readings),
        weights=weights,
    )


def _state_dtype_name(reader: ConfigReader, value) -> str:
    """The recurrent-state dtype a config names (mamba_ssm_dtype), as a format name."""
    if value in (None, "auto"):
        return ""
    name = canonical_name(str(value).replace("torch.", ""), field="mamba_ssm_dtype")
    reader.readings.append(f"recurrent states kept in {name} (mamba_ssm_dtype)")
    return name


def _headline(value: int | list) -> int:
    """One number for display where a config gives per-layer values: the first layer's."""
    return value[0] if isinstance(value, list) else value


def config_path(path: Path) -> Path:
    """The config.json a path names: the file itself, or config.json in a folder."""
    if path.is_dir():
        candidate = path / "config.json"
        if not candidate.is_file():
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
    return spec_from_config(
        data, name=label, source=str(data.get("_name_or_path") or file)
    )


def _name_from(data: dict, file: Path) -> str:
    """A display name: the file's stem, or its folder's name for a plain config.json."""
    if file.stem != "config":
        return file.stem
    return file.resolve().parent.name or str(data.get("model_type") or "model")
