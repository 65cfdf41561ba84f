"""A model name as a log prints it, matched to one shipped spec, or to none.

Logs name a model by its repository (`neuralmagic/Meta-Llama-3.1-70B-Instruct-quantized.w8a8`),
a path, a GGUF file (`DeepSeek-R1-0528-Qwen3-8B-Q8_0.gguf`) or llama.cpp's `general.name`
(`Gemma 2 2b It`). The parts that change weights, training or packaging but not the KV-cache
geometry are dropped, one reading at a time, and the first reading that names a shipped spec
exactly wins: the name as printed; without the organisation and path; with spaces as hyphens
and `Meta-` dropped; without every such part (Instruct, Chat, -it, Base, date suffixes such as
-2507, quantization suffixes such as -FP8, -AWQ-INT4, -GPTQ-Int4, -quantized.w8a8, -GGUF,
-Q4_K_M). A reading that names no spec lists the near ones and never picks among them.
"""

import difflib
import re

from kvplan.errors import KvplanError

# One hyphen-separated part that tells nothing about the cache's geometry.
_DROPPED = re.compile(
    r"^(instruct|chat|it|base|hf|thinking|reasoning|sft|dpo|rl|fp8|fp16|bf16|int4|int8"
    r"|awq|gptq|gguf|mlx|dynamic|quantized(\..+)?|w\d+a\d+|\d+bit|\d{4}"
    r"|i?q\d+(_[0-9a-z]+)*)$"
)
_EXTENSIONS = (".gguf", ".safetensors")


def _base(name: str) -> str:
    """The name without organisation, folders and file extension, lowercased."""
    key = name.strip().rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1].lower()
    if key.startswith("models--"):  # the Hugging Face cache's models--Org--Name folder
        key = key.rsplit("--", 1)[-1]
    for extension in _EXTENSIONS:
        key = key.removesuffix(extension)
    return key


def readings(name: str) -> list[tuple[str, list[str]]]:
    """The readings to try, in order, each with the parts it dropped."""
    key = _base(name)
    hyphenated = "-".join(key.split())
    parts = hyphenated.split("-")
    prefix = ["meta"] if parts[0] == "meta" and len(parts) > 1 else []
    parts = parts[len(prefix) :]
    kept = [p for p in parts if not _DROPPED.match(p)]
    dropped = prefix + [p for p in parts if _DROPPED.match(p)]
    found = [
        (name.strip().lower(), []),
        (key, []),
        (hyphenated, []),
        ("-".join(parts), prefix),
        ("-".join(kept), dropped),
    ]
    return [(reading, parts) for reading, parts in dict(found).items() if reading]


def _exact(reading: str):
    """The shipped spec file a reading names exactly (name, stem, repo id), or None."""
    from kvplan.catalog import find_shipped

    try:
        return find_shipped(reading)
    except KvplanError:
        return None


def match_shipped(name: str):
    """(spec, note) of the one shipped spec the name matches, or (None, near names)."""
    from kvplan.catalog import load_spec_file, shipped_names

    tried = readings(name)
    for reading, dropped in tried:
        path = _exact(reading)
        if path is not None:
            spec = load_spec_file(path)
            how = f" (dropping {', '.join(dropped)})" if dropped else ""
            return spec, f"matched the log's model {name!r} to {spec.name}{how}"
    last = tried[-1][0] if tried else ""
    names = shipped_names()
    near = [n for n in names if n.startswith(f"{last}-")][:6]
    near = near or difflib.get_close_matches(last, names, n=4, cutoff=0.75)
    return None, near
