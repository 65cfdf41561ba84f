"""A model spec from the geometry a llama.cpp log prints, and the log's word over a spec's.

llama.cpp's loader prints the model as it runs it (`print_info: n_layer = 32`, n_head,
n_head_kv, n_embd_head_k/v, n_swa, n_ctx_train), and each cache its layer count
(`size = 1536.00 MiB (4096 cells, 32 layers, ...)`). Those are what the engine did, so `check`
predicts with them rather than with a spec's reading where they differ: a Phi-3 log prints
`n_swa = 0` and one cache of 32 layers, whatever the config's `sliding_window` says.

Sliding layers are the ones an `SWA KV cache` section holds; a log without that section keeps
every token in every layer (llama.cpp before its iSWA cache masked windows but cached all).
Layers no cache holds (recurrent or KV-sharing layers) are counted as holding no KV.
"""

from collections import Counter

from kvplan.logs import LogFacts
from kvplan.spec import Layer, ModelSpec

NEEDED = ("n_layer", "n_head", "n_head_kv", "n_embd_head_k", "n_embd_head_v")


def _int(facts: LogFacts, key: str) -> int | None:
    value = facts.extra.get(key)
    return value if isinstance(value, int) else None


def log_spec(facts: LogFacts, name: str | None = None) -> ModelSpec | None:
    """The spec the log's printed geometry describes; None when it prints too little."""
    values = {key: _int(facts, key) for key in NEEDED}
    if (
        facts.engine != "llamacpp"
        or None in values.values()
        or _int(facts, "n_lora_kv")
    ):
        return None  # MLA logs print per-head sizes that are not the cache's
    n_layer = values["n_layer"]
    sliding = _int(facts, "swa_cache_layers") or 0
    window = _int(facts, "n_swa") or 0
    if not window:
        sliding = 0
    full = _int(facts, "cache_layers") or n_layer - sliding
    if full + sliding > n_layer or not values["n_head_kv"]:
        return None
    geometry = {
        "n_kv_heads": values["n_head_kv"],
        "head_dim_k": values["n_embd_head_k"],
        "head_dim_v": values["n_embd_head_v"],
    }
    layers = (Layer(kind="full", **geometry),) * full + (Layer(kind="mlp"),) * (
        n_layer - full - sliding
    )
    if sliding:
        layers += (Layer(kind="sliding", window_tokens=window, **geometry),) * sliding
    n_heads = values["n_head"]
    return ModelSpec(
        name=name or facts.model or "the log's model",
        layers=layers,
        n_heads=n_heads,
        n_kv_heads=values["n_head_kv"],
        head_dim=values["n_embd_head_k"],
        hidden_size=_int(facts, "n_embd") or n_heads * values["n_embd_head_k"],
        dtype="fp16",
        max_positions=_int(facts, "n_ctx_train"),
        model_type=str(facts.extra.get("arch", "")).replace("-", "_"),
        source="the geometry a llama.cpp log prints",
    )


def _shape(spec: ModelSpec) -> str:
    """`32 full, 32 KV heads x 96/96`: the layout and the KV geometry of the cache layers."""
    kv = [layer for layer in spec.layers if layer.holds_kv]
    heads = sorted({(x.n_kv_heads, x.head_dim_k, x.head_dim_v) for x in kv})
    dims = ", ".join(f"{h} KV heads x {k}/{v}" for h, k, v in heads)
    layout = " + ".join(
        f"{n} {label}" for label, n in Counter(x.label for x in kv).items()
    )
    return f"{layout}; {dims}"


def with_log_geometry(facts: LogFacts, spec: ModelSpec) -> tuple[ModelSpec, str | None]:
    """The log's geometry where it differs from the spec's reading, and a note saying so."""
    printed = log_spec(facts, name=spec.name)
    if printed is None or any(x.kind == "mla" for x in spec.layers):
        return spec, None
    if _shape(printed) == _shape(spec):
        return spec, None
    note = (
        f"the log prints the model as {_shape(printed)} (n_swa {_int(facts, 'n_swa')});"
        f" {spec.name}'s spec reads {_shape(spec)}: predicted with what the log printed"
    )
    return printed, note
