"""Model specs by name (the shipped model_specs/*.yaml), from spec YAML files, and `load_spec`.

A spec YAML holds the spec's own vocabulary (docs/specs.md):

    name: Llama-3.1-8B
    source: meta-llama/Llama-3.1-8B      # the Hugging Face repo it was read from
    n_layers: 32
    n_heads: 32
    n_kv_heads: 8
    head_dim: 128
    hidden_size: 4096
    layers:                              # optional: runs of layers, in order
      - {kind: full, count: 32}

Unknown keys are errors naming the file and the key; YAML tags are refused (safe loading).
"""

import difflib
import importlib.util
from functools import cache
from pathlib import Path

from kvplan.errors import SpecError, UnknownNameError
from kvplan.spec import ModelSpec

TOP_KEYS = {
    "name", "source", "model_type", "dtype", "state_dtype", "ssm_dtype", "hidden_size", "n_heads",
    "n_kv_heads", "head_dim", "head_dim_k", "head_dim_v", "max_positions", "n_layers",
    "layers", "notes", "weights",
}  # fmt: skip
LAYER_KEYS = {
    "kind", "count", "n_kv_heads", "head_dim", "head_dim_k", "head_dim_v", "window",
    "kv_lora_rank", "rope_dim", "index_head_dim", "conv_values", "ssm_values", "state_kind",
    "kv_shared", "compress_ratio", "compressed_dims",
}  # fmt: skip
REPEAT_KEYS = {"repeat", "layers"}


@cache
def specs_dir() -> Path:
    """Where the shipped specs live (installed as the package `kvplan.model_specs`)."""
    found = importlib.util.find_spec("kvplan.model_specs")
    if found is None or not found.submodule_search_locations:
        raise SpecError("the shipped model_specs are not installed", field="model")
    return Path(list(found.submodule_search_locations)[0])


@cache
def shipped_files() -> dict[str, Path]:
    """Shipped spec files by lowercased stem."""
    return {p.stem.lower(): p for p in sorted(specs_dir().glob("*.yaml"))}


def _load_yaml(path: Path) -> dict:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SpecError(
            f"cannot read {path}: {error.strerror or error}", field="model"
        ) from None
    except UnicodeDecodeError:
        raise SpecError(f"{path} is not UTF-8 text", field="model") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        first = str(error).splitlines()[0] if str(error) else "malformed"
        raise SpecError(
            f"{path} is not valid spec YAML ({first})", field="model"
        ) from None
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected a mapping of spec keys", field="model")
    return data


def _check_keys(data: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(str(k) for k in data if k not in allowed)
    if unknown:
        raise SpecError(
            f"{where}: unknown key {unknown[0]!r}; expected one of {', '.join(sorted(allowed))}",
            field=unknown[0],
        )


def _layer_entry(entry: dict, top: dict, where: str):
    """A Layer and its count from one `layers` entry."""
    from kvplan.spec import Layer

    if not isinstance(entry, dict):
        raise SpecError(f"{where}: each layers entry must be a mapping", field="layers")
    _check_keys(entry, LAYER_KEYS, where)
    kind = entry.get("kind", "full")
    attention = kind in ("full", "sliding", "chunked", "mla")
    head_dim = entry.get("head_dim", top.get("head_dim")) if attention else None
    default_kv = top.get("n_heads") if kind == "mla" else top.get("n_kv_heads")
    fields = {
        "kind": kind,
        "n_kv_heads": entry.get("n_kv_heads", default_kv) if attention else 0,
        "head_dim_k": entry.get("head_dim_k", top.get("head_dim_k", head_dim))
        if attention
        else 0,
        "head_dim_v": entry.get("head_dim_v", top.get("head_dim_v", head_dim))
        if attention
        else 0,
        "window_tokens": entry.get("window"),
    }
    for name in (
        "kv_lora_rank",
        "rope_dim",
        "index_head_dim",
        "conv_values",
        "ssm_values",
    ):
        fields[name] = entry.get(name, 0)
    fields["state_kind"] = str(entry.get("state_kind", ""))
    fields["kv_shared"] = bool(entry.get("kv_shared", False))
    fields["compress_ratio"] = entry.get("compress_ratio", 0)
    fields["compressed_dims"] = tuple(entry.get("compressed_dims") or ())
    for name in ("n_kv_heads", "head_dim_k", "head_dim_v"):
        if attention and fields[name] is None:
            key = "head_dim" if name.startswith("head_dim") else name
            raise SpecError(f"{where}: missing {key} (at the top level or on the layer)", field=key)
    try:
        layer = Layer(**fields)
    except SpecError as error:
        raise SpecError(f"{where}: {error.args[0]}", field=error.field) from None
    except TypeError as error:
        raise SpecError(f"{where}: {error}", field="layers") from None
    count = entry.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
        raise SpecError(
            f"{where}: count must be a positive integer, got {count!r}", field="count"
        )
    return layer, count


def _expand_layers(entries, top: dict, where: str) -> list:
    if not isinstance(entries, list) or not entries:
        raise SpecError(f"{where}: layers must be a non-empty list", field="layers")
    layers = []
    for entry in entries:
        if isinstance(entry, dict) and "repeat" in entry:
            _check_keys(entry, REPEAT_KEYS, where)
            times = entry["repeat"]
            if isinstance(times, bool) or not isinstance(times, int) or times <= 0:
                raise SpecError(
                    f"{where}: repeat must be a positive integer", field="repeat"
                )
            layers += _expand_layers(entry.get("layers"), top, where) * times
        else:
            layer, count = _layer_entry(entry, top, where)
            layers += [layer] * count
    return layers


def spec_from_mapping(data: dict, *, where: str, source: str = "") -> ModelSpec:
    """A ModelSpec from a spec YAML mapping."""
    _check_keys(data, TOP_KEYS, where)
    if "layers" in data:
        layers = _expand_layers(data["layers"], data, where)
    else:
        entry = {"kind": "full", "count": data.get("n_layers")}
        layers = _expand_layers([entry], data, where)
    n_layers = data.get("n_layers", len(layers))
    if n_layers != len(layers):
        raise SpecError(
            f"{where}: n_layers is {n_layers} but layers lists {len(layers)}",
            field="n_layers",
        )
    first = next((x for x in layers if x.kind != "mla" and x.head_dim_k), layers[0])
    try:
        return ModelSpec(
            name=str(data.get("name") or Path(where).stem),
            layers=tuple(layers),
            n_heads=data.get("n_heads"),
            n_kv_heads=data.get("n_kv_heads", first.n_kv_heads or data.get("n_heads")),
            head_dim=data.get("head_dim", first.head_dim_k),
            hidden_size=data.get("hidden_size"),
            dtype=str(data.get("dtype", "bf16")),
            state_dtype=str(data.get("state_dtype", "")),
            ssm_dtype=str(data.get("ssm_dtype", "")),
            max_positions=data.get("max_positions"),
            model_type=str(data.get("model_type", "")),
            source=str(data.get("source", source)),
            notes=tuple(str(n) for n in data.get("notes") or ()),
            weights=_weights(data, where),
        )
    except SpecError as error:
        raise SpecError(f"{where}: {error}", field=error.field) from None


def _weights(data: dict, where: str):
    """The optional `weights:` mapping as a WeightShape (docs/specs.md)."""
    if data.get("weights") is None:
        return None
    from kvplan.weight_shape import weight_shape_from_mapping

    return weight_shape_from_mapping(data["weights"], where)


def load_spec_file(path: str | Path) -> ModelSpec:
    """A ModelSpec from a spec YAML file."""
    file = Path(path)
    return spec_from_mapping(_load_yaml(file), where=str(file), source=str(file))


def shipped_names() -> list[str]:
    """The names `kvplan models` lists (file stems)."""
    return list(shipped_files())


@cache
def _aliases() -> dict[str, str]:
    """Every name a shipped spec answers to (its name and its source repo), by stem."""
    aliases = {}
    for stem, path in shipped_files().items():
        data = _load_yaml(path)
        for alias in (data.get("name"), data.get("source")):
            if alias:
                aliases[str(alias).lower()] = stem
                aliases[str(alias).lower().rsplit("/", 1)[-1]] = stem
    return aliases


def find_shipped(name: str) -> Path:
    """The shipped spec file for a name, HF repo id or file stem, case-insensitively."""
    key = name.strip().lower()
    files = shipped_files()
    for candidate in (key, key.rsplit("/", 1)[-1]):
        if candidate in files:
            return files[candidate]
    stem = _aliases().get(key)
    if stem:
        return files[stem]
    near = difflib.get_close_matches(key, list(files), n=5, cutoff=0.6)
    raise UnknownNameError("model", name, near, field="model")


def load_shipped(name: str) -> ModelSpec:
    """A shipped spec by name."""
    return load_spec_file(find_shipped(name))


def load_spec(model: "str | Path | ModelSpec") -> ModelSpec:
    """A ModelSpec from a spec, a shipped name, a spec YAML, or a config.json (or its folder)."""
    if isinstance(model, ModelSpec):
        return model
    text = str(model)
    path = Path(text).expanduser()
    if path.exists():
        if path.is_dir() or path.suffix.lower() == ".json":
            from kvplan.configs import load_config

            return load_config(path)
        if path.suffix.lower() in (".yaml", ".yml"):
            return load_spec_file(path)
        raise SpecError(
            f"{path}: expected a config.json, a folder holding one, or a spec .yaml",
            field="model",
        )
    if path.suffix.lower() in (".json", ".yaml", ".yml"):
        raise SpecError(f"no such file: {path}", field="model")
    return load_shipped(text)
