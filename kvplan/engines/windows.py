"""Which sliding and chunked windows an engine keeps in its cache: one rule per engine.

A config's `sliding_window` does not make every engine keep only the window. Some engines
decide by architecture and hold every token in every layer for the others, using the window
as an attention mask only (docs/engines.md gives each source):

- llama.cpp sets `swa_type` per architecture in src/llama-model.cpp; phi3 has had SWA disabled
  since pull request 13676 (its logs print `n_swa = 0`), and the llama, qwen2 and starcoder2
  architectures (Mistral-7B-v0.1 converts to llama) never read a window;
- SGLang splits its pool into full and sliding parts only for the architectures its
  `is_hybrid_swa_model` lists (python/sglang/srt/configs/model_config.py); Gemma-2/3, Phi-3
  and Mistral-7B-v0.1 get one pool holding every token in every layer;
- vLLM keeps every window: a layer without a per-layer window takes the model's
  `sliding_window` (Attention's `cache_config.sliding_window`), so Phi-3 and Mistral-7B-v0.1
  are sliding-window specs in every layer.

`engine_spec` turns the windows an engine does not keep into full layers, so that every figure
a profile gives (request bytes, pool, concurrency, explain) counts them the same way.
"""

from dataclasses import dataclass, replace

from kvplan.spec import ModelSpec

WINDOWED = ("sliding", "chunked")


@dataclass(frozen=True)
class WindowRule:
    """The model types whose windows an engine keeps (None: every one), and the source."""

    kept: frozenset[str] | None = None
    source: str = ""

    def keeps(self, model_type: str) -> bool | None:
        """True or False by the rule; None when the spec names no model type to decide by."""
        if self.kept is None:
            return True
        if not model_type:
            return None
        return model_type in self.kept


KEEP_ALL = WindowRule()

# Model types (config.json `model_type`) of the architectures each engine keeps windows for.
LLAMACPP_SWA_TYPES = (
    "gemma2", "gemma3", "gemma3_text", "gemma3n", "gemma3n_text", "gemma4", "gemma4_text",
    "gpt_oss", "cohere2", "llama4", "llama4_text", "exaone4",
)  # fmt: skip
SGLANG_HYBRID_SWA_TYPES = (
    "llama4", "llama4_text", "gpt_oss", "gemma4", "gemma4_text", "deepseek_v4",
    "mimo_v2_flash", "step3p5",
)  # fmt: skip

LLAMACPP_WINDOWS = WindowRule(
    kept=frozenset(LLAMACPP_SWA_TYPES),
    source="llama.cpp sets swa_type per architecture in src/llama-model.cpp; phi3's is"
    " disabled since pull request 13676",
)
SGLANG_WINDOWS = WindowRule(
    kept=frozenset(SGLANG_HYBRID_SWA_TYPES),
    source="SGLang splits its pool only for the architectures is_hybrid_swa_model lists",
)


def _as_full(layer):
    """A sliding or chunked layer as a full-attention layer of the same geometry."""
    if layer.kind not in WINDOWED:
        return layer
    return replace(layer, kind="full", window_tokens=None)


def engine_spec(
    rule: WindowRule, spec: ModelSpec, engine: str
) -> tuple[ModelSpec, str | None]:
    """The spec as the engine caches it, and a note when a window was dropped or assumed."""
    windowed = [layer for layer in spec.layers if layer.kind in WINDOWED]
    if not windowed:
        return spec, None
    keeps = rule.keeps(spec.model_type)
    if keeps:
        return spec, None
    labels = sorted({layer.label for layer in windowed})
    what = f"{len(windowed)} {' and '.join(labels)} layers"
    if keeps is None:
        return spec, (
            f"{spec.name} on {engine}: the spec names no model type, and {engine} keeps"
            f" windows only for some architectures; its {what} are counted as windows"
        )
    layers = tuple(_as_full(layer) for layer in spec.layers)
    note = (
        f"{spec.name} on {engine}: {engine} keeps no window for model type"
        f" {spec.model_type!r} ({rule.source}); its {what} hold every token, as full"
        " layers"
    )
    return spec.with_layers(layers), note
