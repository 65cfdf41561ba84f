"""Engine profiles: what vLLM, SGLang, TensorRT-LLM, llama.cpp and transformers reserve.

    from kvplan.engines import get_profile, rank_cost
    vllm = get_profile("vllm", max_num_batched_tokens=2048)
    cost = rank_cost(spec, "bf16", tp=2)
    vllm.request_bytes(cost, 131072), vllm.pool_tokens(cost, 20 * 2**30)

`name@version` picks the rules of one engine version where they differ (`vllm@0.24`).
docs/engines.md gives every rule with its source.
"""

import re
import types
from dataclasses import fields
from fractions import Fraction

from kvplan.engines.base import (
    EngineProfile,
    EngineRuleError,
    Figure,
    largest_fitting_context,
    rank_cost,
)
from kvplan.engines.hf_transformers import TransformersProfile
from kvplan.engines.ideal import IdealProfile
from kvplan.engines.llamacpp import LlamacppProfile
from kvplan.engines.sglang import SglangProfile
from kvplan.engines.trtllm import TrtllmProfile
from kvplan.engines.vllm import V1_BEFORE_HYBRID, V1_VERSIONS, VllmProfile
from kvplan.engines.vllm_v0 import VllmV0Profile
from kvplan.errors import UnknownNameError

PROFILES: dict[str, EngineProfile] = {
    p.name: p
    for p in (
        IdealProfile(),
        VllmProfile(),
        VllmV0Profile(),
        SglangProfile(),
        TrtllmProfile(),
        LlamacppProfile(),
        TransformersProfile(),
    )
}
ENGINE_NAMES = tuple(PROFILES)

__all__ = [
    "ENGINE_NAMES",
    "EngineProfile",
    "EngineRuleError",
    "Figure",
    "PROFILES",
    "get_profile",
    "largest_fitting_context",
    "parse_knobs",
    "rank_cost",
]


def _version_tuple(text: str) -> tuple[int, ...]:
    """(major, minor) of `0.19.1rc1.dev301+g...`, `v0.24`, `0.10`."""
    match = re.match(r"v?(\d+)\.(\d+)", text.strip())
    if not match:
        raise EngineRuleError(
            f"expected a version such as 0.24, got {text!r}", field="engine"
        )
    return int(match.group(1)), int(match.group(2))


def _vllm_at(version: str) -> EngineProfile:
    """vLLM's rules for one version: V0 below 0.8 (or `v0`), else the V1 range holding it."""
    if version.lower() in ("v0", "0"):
        return PROFILES["vllm-v0"]
    wanted = _version_tuple(version)
    if wanted < (0, 8):
        return PROFILES["vllm-v0"]
    for versions, token_line in V1_VERSIONS.items():
        low = _version_tuple(versions.split("-")[0].rstrip("+"))
        high = versions.split("-")[1] if "-" in versions else None
        if wanted >= low and (high is None or wanted <= _version_tuple(high)):
            return VllmProfile(versions=versions, token_line=token_line)
    # 0.8-0.9: V1 before the hybrid allocator: sliding layers were full-attention specs
    return VllmProfile(versions=V1_BEFORE_HYBRID, hybrid_allocator=False)


def get_profile(name: str, **knobs) -> EngineProfile:
    """A profile by name (`vllm`, `vllm@0.24`, `sglang`, ...) with some knobs changed."""
    base, _, version = str(name).strip().lower().partition("@")
    if base not in PROFILES:
        import difflib

        near = difflib.get_close_matches(base, ENGINE_NAMES, n=3, cutoff=0.5)
        raise UnknownNameError(
            "engine", name, near or list(ENGINE_NAMES), field="engine"
        )
    profile = PROFILES[base]
    if version:
        if base not in ("vllm", "vllm-v0"):
            raise EngineRuleError(
                f"{base} has one rule set ({profile.versions}); only vllm takes @version",
                field="engine",
            )
        profile = _vllm_at(version)
    return profile.with_knobs(**knobs) if knobs else profile


def _convert(text: str, kind, key: str):
    """One knob value from text, by the knob's type (tokens accept 8k, fractions 0.9)."""
    from kvplan.units import parse_fraction, parse_tokens

    if isinstance(kind, types.UnionType):
        if text.lower() in ("none", ""):
            return None
        kind = next(k for k in kind.__args__ if k is not type(None))
    if kind is bool:
        if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise EngineRuleError(f"expected true or false, got {text!r}", field=key)
        return text.lower() in ("true", "1", "yes")
    if kind is int:
        return parse_tokens(text, field=key)
    if kind is Fraction:
        return parse_fraction(text, field=key)
    return text


def parse_knobs(profile: EngineProfile, items) -> dict:
    """`key=value` strings (from --engine-opt) as typed knob values for this profile."""
    types_by_name = {f.name: f.type for f in fields(profile)}
    knobs = {}
    for item in items:
        key, sep, value = str(item).partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise EngineRuleError(
                f"expected KEY=VALUE such as max_num_batched_tokens=2048, got {item!r}",
                field="engine_opt",
            )
        if key not in profile.knobs():
            raise EngineRuleError(
                f"{profile.name} has no setting {key!r};"
                f" settings: {', '.join(sorted(profile.knobs()))}",
                field="engine_opt",
            )
        knobs[key] = _convert(value.strip(), types_by_name[key], key)
    return knobs
