"""Cache formats: how many bytes one row of a cache takes, scales and zero points included.

A row is the vector one token stores for one KV head (head_dim values), or one MLA latent.
Every format is described by the same four numbers, so no format can forget its overhead:

    row_bytes(d) = ceil(d * value_bits / 8) + groups(d) * group_overhead_bytes

where groups(d) is 1 for a per-row scale, ceil(d / group_values) for grouped formats, and
d / group_values for llama.cpp's block types (which refuse a row the block does not divide).
`tensor_scale_bytes` is a constant per cache tensor per layer (fp8's fp32 K and V scales).
docs/formats.md gives each layout in full; `kvplan measure` allocates exactly these layouts.
"""

from dataclasses import dataclass

from kvplan.errors import FormatError


@dataclass(frozen=True, kw_only=True)
class CacheFormat:
    """One cache storage format; all sizes in bits or bytes as named."""

    name: str
    description: str
    value_bits: int
    group_values: int | None = None  # None with an overhead: one group per row
    group_overhead_bytes: int = 0  # scale (and zero point) bytes per group
    whole_blocks: bool = False  # llama.cpp block types: the row must be whole blocks
    tensor_scale_bytes: int = 0  # per cache tensor per layer, independent of tokens
    is_float: bool = False  # usable as a state dtype and as a weight dtype

    def groups(self, row_values: int) -> int:
        """How many scale groups one row of `row_values` values carries."""
        if self.group_overhead_bytes == 0:
            return 0
        if self.group_values is None:
            return 1
        if self.whole_blocks:
            if row_values % self.group_values:
                raise FormatError(
                    f"{self.name} stores blocks of {self.group_values} values, which do not "
                    f"divide a row of {row_values} values (llama.cpp refuses this cache type "
                    "for such heads); use f16, bf16, fp8 or int8",
                    field="cache_dtype",
                )
            return row_values // self.group_values
        return -(-row_values // self.group_values)

    def row_bytes(self, row_values: int) -> int:
        """Bytes one row of `row_values` values takes, its scales included."""
        value_bytes = -(-row_values * self.value_bits // 8)
        return value_bytes + self.groups(row_values) * self.group_overhead_bytes

    def row_formula(self, row_values: int) -> str:
        """The row's bytes written out factor by factor, for `--explain`."""
        groups = self.groups(row_values)
        if self.whole_blocks:
            return f"{groups} blocks x {self.row_bytes(self.group_values or 1)} B"
        values = f"{row_values} x {_bytes_each(self.value_bits)} B"
        if groups == 0:
            return values
        overhead = "scale" if self.group_overhead_bytes == 2 else "scale+zero"
        return f"{values} + {groups} x {self.group_overhead_bytes} B {overhead}"


def _bytes_each(bits: int) -> str:
    """Bytes per value as written in a formula: 2, 1, 0.5, 0.625."""
    return f"{bits // 8}" if bits % 8 == 0 else f"{bits / 8:g}"


FORMATS: dict[str, CacheFormat] = {
    f.name: f
    for f in (
        CacheFormat(
            name="fp32", description="IEEE float32", value_bits=32, is_float=True
        ),
        CacheFormat(
            name="fp16", description="IEEE float16", value_bits=16, is_float=True
        ),
        CacheFormat(name="bf16", description="bfloat16", value_bits=16, is_float=True),
        CacheFormat(
            name="fp8",
            description="float8 e4m3, one fp32 scale per K and per V tensor per layer",
            value_bits=8,
            tensor_scale_bytes=4,
        ),
        CacheFormat(
            name="fp8_e5m2",
            description="float8 e5m2, one fp32 scale per K and per V tensor per layer",
            value_bits=8,
            tensor_scale_bytes=4,
        ),
        CacheFormat(
            name="int8",
            description="int8 symmetric, one fp16 scale per token per KV head",
            value_bits=8,
            group_overhead_bytes=2,
        ),
        CacheFormat(
            name="int4",
            description="int4, two a byte; fp16 scale and fp16 zero point per group of 64",
            value_bits=4,
            group_values=64,
            group_overhead_bytes=4,
        ),
        CacheFormat(
            name="q8_0",
            description="llama.cpp q8_0: blocks of 32 int8 values and one fp16 scale (34 B)",
            value_bits=8,
            group_values=32,
            group_overhead_bytes=2,
            whole_blocks=True,
        ),
        CacheFormat(
            name="q4_0",
            description="llama.cpp q4_0: blocks of 32 4-bit values and one fp16 scale (18 B)",
            value_bits=4,
            group_values=32,
            group_overhead_bytes=2,
            whole_blocks=True,
        ),
        CacheFormat(
            name="q4_1",
            description="llama.cpp q4_1: blocks of 32 4-bit values, fp16 scale and min (20 B)",
            value_bits=4,
            group_values=32,
            group_overhead_bytes=4,
            whole_blocks=True,
        ),
        CacheFormat(
            name="q5_0",
            description="llama.cpp q5_0: blocks of 32 5-bit values and one fp16 scale (22 B)",
            value_bits=5,
            group_values=32,
            group_overhead_bytes=2,
            whole_blocks=True,
        ),
        CacheFormat(
            name="q5_1",
            description="llama.cpp q5_1: blocks of 32 5-bit values, fp16 scale and min (24 B)",
            value_bits=5,
            group_values=32,
            group_overhead_bytes=4,
            whole_blocks=True,
        ),
        CacheFormat(
            name="iq4_nl",
            description="llama.cpp iq4_nl: blocks of 32 4-bit codes and one fp16 scale (18 B)",
            value_bits=4,
            group_values=32,
            group_overhead_bytes=2,
            whole_blocks=True,
        ),
    )
}

ALIASES: dict[str, str] = {
    "float32": "fp32",
    "f32": "fp32",
    "float": "fp32",
    "float16": "fp16",
    "f16": "fp16",
    "half": "fp16",
    "bfloat16": "bf16",
    "fp8_e4m3": "fp8",
    "fp8_e4m3fn": "fp8",
    "float8_e4m3fn": "fp8",
    "e4m3": "fp8",
    "float8_e5m2": "fp8_e5m2",
    "e5m2": "fp8_e5m2",
}

AUTO = "auto"


def format_names() -> list[str]:
    """Every canonical format name, in catalog order."""
    return list(FORMATS)


def canonical_name(name: str, *, field: str = "cache_dtype") -> str:
    """The canonical name of a format or alias, case-insensitively; `auto` stays `auto`."""
    key = str(name).strip().lower().replace("-", "_")
    if key == AUTO:
        return AUTO
    key = ALIASES.get(key, key)
    if key not in FORMATS:
        accepted = ", ".join([*FORMATS, AUTO])
        raise FormatError(
            f"unknown cache dtype {name!r}; expected one of {accepted}", field=field
        )
    return key


def resolve_auto(model_dtype: str, *, field: str = "cache_dtype") -> str:
    """What `auto` means for a checkpoint of `model_dtype`: the dtype engines serve it in.

    Engines run an fp32 checkpoint in 16 bits: vLLM's `_resolve_auto_dtype`
    (vllm/config/model.py) downcasts float32 to the first dtype the GPU supports, bfloat16 on
    Ampere and newer (float16 on older GPUs and in older vLLM: the same 2 bytes), so its
    `--kv-cache-dtype auto` cache is 2 bytes a value, not 4.
    """
    key = canonical_name(model_dtype, field=field)
    if key == AUTO:
        return "bf16"
    return "bf16" if key == "fp32" else key


def auto_note(model_dtype: str) -> str:
    """Why `auto` is not the checkpoint's dtype, or "" when it is."""
    if canonical_name(model_dtype) != "fp32":
        return ""
    return (
        "auto: an fp32 checkpoint is served in bf16 (vLLM downcasts float32 to the first "
        "supported dtype, bfloat16 on Ampere and newer GPUs; float16 on older ones, the "
        "same 2 bytes)"
    )


def get_format(
    name: str, *, model_dtype: str = "bf16", field: str = "cache_dtype"
) -> CacheFormat:
    """The format for a name or alias; `auto` means the dtype engines serve the model in."""
    key = canonical_name(name, field=field)
    if key == AUTO:
        key = resolve_auto(model_dtype, field=field)
    return FORMATS[key]


def float_format(name: str, *, field: str) -> CacheFormat:
    """A plain float format (fp32, fp16, bf16), as a state or weight dtype must be."""
    fmt = get_format(name, field=field)
    if not fmt.is_float:
        raise FormatError(f"expected fp32, fp16 or bf16, got {name!r}", field=field)
    return fmt
