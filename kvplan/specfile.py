"""Spec YAML -> ModelSpec, strictly: every key and value checked, errors naming file and key.

The YAML is read with safe loading (no tags) and a mapping that gives a key twice is refused,
as is any value of the wrong type: `kv_shared: "false"` is a string, not a boolean; `head_dim:
128.5` is not an integer. Runs of layers (`count`, `repeat`) are sized before any list is
built, so `repeat: 1000000000000` is refused at once rather than exhausting memory.
docs/specs.md gives the vocabulary.
"""

from pathlib import Path

from kvplan.errors import SpecError
from kvplan.spec import KINDS, MAX_LAYERS, Layer, ModelSpec

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

# Layer fields as a spec YAML names them, where the dataclass names them otherwise.
_YAML_NAME = {"window_tokens": "window"}


def load_yaml(path: Path) -> dict:
    """A spec YAML file as a mapping: safe loading, duplicate keys refused."""
    import yaml

    from kvplan.textfile import read_text

    text = read_text(path)
    try:
        data = yaml.load(text, Loader=_strict_loader())
    except yaml.YAMLError as error:
        first = str(error).splitlines()[0] if str(error) else "malformed"
        raise SpecError(
            f"{path} is not valid spec YAML ({first})", field="model"
        ) from None
    except SpecError as error:
        raise SpecError(f"{path}: {error.args[0]}", field=error.field) from None
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected a mapping of spec keys", field="model")
    return data


def _strict_loader():
    """yaml's SafeLoader, refusing a mapping that gives the same key twice."""
    import yaml

    class StrictLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    line = key_node.start_mark.line + 1
                    raise SpecError(
                        f"key {key!r} is given twice (line {line}); each key once",
                        field=str(key),
                    )
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return StrictLoader


def _where_error(where: str, key: str, expected: str, value) -> SpecError:
    return SpecError(f"{where}: {key} must be {expected}, got {value!r}", field=key)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def positive(data: dict, key: str, where: str, *, default=None):
    """data[key] as a positive int (absent: `default`)."""
    value = data.get(key, default)
    if value is None or value is default:
        return value
    if not _is_int(value) or value <= 0:
        raise _where_error(where, key, "a positive integer", value)
    return value


def _non_negative(data: dict, key: str, where: str) -> int:
    value = data.get(key, 0)
    if not _is_int(value) or value < 0:
        raise _where_error(where, key, "a whole number (0 or more)", value)
    return value


def _text(data: dict, key: str, where: str, default: str = "") -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        raise _where_error(where, key, "a string", value)
    return value


def _boolean(data: dict, key: str, where: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise _where_error(where, key, "true or false (not a string)", value)
    return value


def _dims(data: dict, key: str, where: str) -> tuple[int, ...]:
    value = data.get(key) or []
    if not isinstance(value, list) or not all(_is_int(v) and v > 0 for v in value):
        raise _where_error(where, key, "a list of positive integers", value)
    return tuple(value)


def check_keys(data: dict, allowed: set[str], where: str) -> None:
    """Refuse a key the vocabulary does not have, naming it and the accepted ones."""
    unknown = sorted(str(k) for k in data if k not in allowed)
    if unknown:
        raise SpecError(
            f"{where}: unknown key {unknown[0]!r}; expected one of "
            f"{', '.join(sorted(allowed))}",
            field=unknown[0],
        )


def _kind(entry: dict, where: str) -> str:
    kind = entry.get("kind", "full")
    if kind not in KINDS:
        raise SpecError(
            f"{where}: kind must be one of {', '.join(KINDS)}, got {kind!r}",
            field="kind",
        )
    return kind


def _geometry(entry: dict, top: dict, kind: str, where: str) -> dict:
    """KV heads and head dims of an attention (or MLA) layer, from the layer or the top level."""
    if kind not in ("full", "sliding", "chunked", "mla"):
        for key in ("n_kv_heads", "head_dim", "head_dim_k", "head_dim_v"):
            if key in entry:
                raise SpecError(
                    f"{where}: {key} applies to attention layers, not {kind}"
                )
        return {"n_kv_heads": 0, "head_dim_k": 0, "head_dim_v": 0}
    heads_key = "n_heads" if kind == "mla" else "n_kv_heads"
    heads = positive(entry, "n_kv_heads", where) or positive(top, heads_key, where)
    common = positive(entry, "head_dim", where)
    dims = {}
    for key in ("head_dim_k", "head_dim_v"):
        value = positive(entry, key, where) or common
        dims[key] = (
            value or positive(top, key, where) or positive(top, "head_dim", where)
        )
    for key, value in (("n_kv_heads", heads), ("head_dim", dims["head_dim_k"])):
        if value is None:
            raise SpecError(
                f"{where}: missing {key} (give it at the top level or on the layer)",
                field=key,
            )
    if dims["head_dim_v"] is None:
        raise SpecError(f"{where}: missing head_dim_v", field="head_dim_v")
    return {"n_kv_heads": heads, **dims}


def _layer(entry: dict, top: dict, where: str) -> Layer:
    """One layers entry as a Layer, every value checked and named as the YAML writes it."""
    kind = _kind(entry, where)
    fields = {"kind": kind, **_geometry(entry, top, kind, where)}
    fields["window_tokens"] = positive(entry, "window", where)
    if kind in ("sliding", "chunked") and fields["window_tokens"] is None:
        raise SpecError(
            f"{where}: a {kind} layer needs window (tokens)", field="window"
        )
    for key in (
        "kv_lora_rank",
        "rope_dim",
        "index_head_dim",
        "conv_values",
        "ssm_values",
    ):
        fields[key] = _non_negative(entry, key, where)
    if kind == "mla":
        for key in ("kv_lora_rank", "rope_dim"):
            if not fields[key]:
                raise SpecError(f"{where}: an mla layer needs {key}", field=key)
    fields["compress_ratio"] = _non_negative(entry, "compress_ratio", where)
    fields["state_kind"] = _text(entry, "state_kind", where)
    fields["kv_shared"] = _boolean(entry, "kv_shared", where)
    fields["compressed_dims"] = _dims(entry, "compressed_dims", where)
    try:
        return Layer(**fields)
    except SpecError as error:
        field = _YAML_NAME.get(error.field or "", error.field)
        message = error.args[0]
        for internal, written in _YAML_NAME.items():
            message = message.replace(internal, written)
        raise SpecError(f"{where}: {message}", field=field) from None


def _runs(entries, top: dict, where: str) -> list[tuple[Layer, int]]:
    """The layers as (layer, count) runs, sized before anything is expanded."""
    if not isinstance(entries, list) or not entries:
        raise SpecError(f"{where}: layers must be a non-empty list", field="layers")
    runs: list[tuple[Layer, int]] = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise SpecError(
                f"{where}: each layers entry must be a mapping", field="layers"
            )
        if "repeat" in entry:
            check_keys(entry, REPEAT_KEYS, where)
            times = _layer_count(entry, "repeat", where)
            inner = _runs(entry.get("layers"), top, where)
            _within_limit(times * _total(inner), where)
            runs += inner * times
        else:
            check_keys(entry, LAYER_KEYS, where)
            runs.append(
                (_layer(entry, top, where), _layer_count(entry, "count", where))
            )
        _within_limit(_total(runs), where)
    return runs


def _total(runs: list[tuple[Layer, int]]) -> int:
    return sum(count for _, count in runs)


def _layer_count(entry: dict, key: str, where: str) -> int:
    """A count or repeat: a positive integer no larger than MAX_LAYERS."""
    value = entry.get(key, 1)
    if not _is_int(value) or value <= 0:
        raise _where_error(where, key, "a positive integer", value)
    _within_limit(value, where, key=key)
    return value


def _within_limit(n_layers: int, where: str, *, key: str = "layers") -> None:
    if n_layers > MAX_LAYERS:
        raise SpecError(
            f"{where}: {key} gives {n_layers:,} layers; kvplan accepts at most "
            f"{MAX_LAYERS:,} (real models have a few hundred)",
            field=key,
        )


def _layers(data: dict, where: str) -> tuple[Layer, ...]:
    """Every layer, in order: from `layers`, or `n_layers` full layers."""
    if "layers" in data:
        runs = _runs(data["layers"], data, where)
    elif "n_layers" in data:
        count = _layer_count(data, "n_layers", where)
        runs = [(_layer({"kind": "full"}, data, where), count)]
    else:
        raise SpecError(
            f"{where}: missing n_layers (or a layers list)", field="n_layers"
        )
    layers = tuple(layer for layer, count in runs for _ in range(count))
    n_layers = data.get("n_layers", len(layers))
    if n_layers != len(layers):
        raise SpecError(
            f"{where}: n_layers is {n_layers!r} but layers lists {len(layers)}",
            field="n_layers",
        )
    return layers


def _dtype(data: dict, key: str, where: str, *, default: str) -> str:
    """A dtype name, checked now so that the error names this file and key."""
    from kvplan.formats import canonical_name, float_format

    name = _text(data, key, where, default)
    if not name:
        return ""
    try:
        if key == "dtype":
            return canonical_name(name, field=key)
        return float_format(name, field=key).name
    except ValueError as error:  # FormatError: say which file and key
        raise SpecError(f"{where}: {key}: {error.args[0]}", field=key) from None


def _notes(data: dict, where: str) -> tuple[str, ...]:
    notes = data.get("notes") or []
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise _where_error(where, "notes", "a list of strings", notes)
    return tuple(notes)


def spec_from_mapping(data: dict, *, where: str, source: str = "") -> ModelSpec:
    """A ModelSpec from a spec YAML mapping (`where` names it in errors: the file)."""
    check_keys(data, TOP_KEYS, where)
    layers = _layers(data, where)
    for key in ("n_heads", "hidden_size"):
        if key not in data:
            raise SpecError(f"{where}: missing {key}", field=key)
    first = next((x for x in layers if x.kind != "mla" and x.head_dim_k), layers[0])
    for key in ("n_heads", "n_kv_heads", "head_dim", "hidden_size", "max_positions"):
        if key in data and (not _is_int(data[key]) or data[key] < 0):
            raise _where_error(where, key, "a positive integer", data[key])
    dtypes = {
        key: _dtype(data, key, where, default="bf16" if key == "dtype" else "")
        for key in ("dtype", "state_dtype", "ssm_dtype")
    }
    try:
        return ModelSpec(
            name=_text(data, "name", where) or Path(where).stem,
            layers=layers,
            n_heads=data.get("n_heads"),
            n_kv_heads=data.get("n_kv_heads", first.n_kv_heads or data.get("n_heads")),
            head_dim=data.get("head_dim", first.head_dim_k),
            hidden_size=data.get("hidden_size"),
            **dtypes,
            max_positions=data.get("max_positions"),
            model_type=_text(data, "model_type", where),
            source=_text(data, "source", where, source),
            notes=_notes(data, where),
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
