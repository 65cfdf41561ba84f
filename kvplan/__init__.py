"""kvplan: exact KV-cache sizing, GPU capacity and measured proof for LLM inference.

The library behind the `kvplan` command; everything the CLI does is one import away:

    import kvplan
    spec = kvplan.load_spec("llama-3.1-8b")          # shipped name, spec YAML or config.json
    rows = kvplan.estimate(spec, context="128k", cache_dtype=["bf16", "fp8"])
    rows[0]["kv_bytes"]                               # 17179869184
    frame = rows.to_frame()                           # pandas, imported only here

Heavy modules (numpy, pandas, torch) are imported only by the functions that need them.
"""

from kvplan.catalog import load_spec
from kvplan.errors import (
    FormatError,
    KvplanError,
    SpecError,
    UnitError,
    UnknownNameError,
)
from kvplan.estimate import estimate
from kvplan.spec import Layer, LayerGroup, ModelSpec

__version__ = "0.1.0"

__all__ = [
    "FormatError",
    "KvplanError",
    "Layer",
    "LayerGroup",
    "ModelSpec",
    "SpecError",
    "UnitError",
    "UnknownNameError",
    "estimate",
    "load_spec",
]
