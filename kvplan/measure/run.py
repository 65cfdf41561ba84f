"""One measured point: fill a cache by prefill, decode with it, time both, check the logits.

The order, for a point (cache dtype, context c, batch b, d decode tokens, T = c + d):
1. reference: one cache-less forward over all T tokens gives the logits of positions c-1..T-1
   (it also warms up the kernels at full length);
2. for fp8/int8 caches, the same prefill + decode into a bf16 cache, for the quantization error;
3. the cache is allocated for T tokens (on CUDA the allocator's growth is read around it), a
   short warm-up prefill and decode runs, then the timed prefill (TTFT) and d timed decode
   steps (TPOT = their median); each step's logits are compared with the reference as it goes;
4. with `recompute_steps`, decode again without a cache, re-running the prefix each step.

Times use CUDA events on the GPU (after a synchronize) and perf_counter on the CPU. The decode
tokens are fixed in advance (teacher forcing), so every path sees the same inputs.
"""

import statistics
import time
from dataclasses import dataclass

import torch

from kvplan.measure.cache import FP8_DTYPES

QUANTIZED = (*FP8_DTYPES, "int8")
WARMUP_TOKENS = 16
WARMUP_STEPS = 2
RECOMPUTE_STEPS = 16  # cache-less decode re-runs the whole prefix: kept short


@dataclass(frozen=True, kw_only=True)
class Point:
    """One grid point: cache format, prompt tokens, sequences, decode steps."""

    cache_dtype: str
    context: int
    batch_size: int
    decode_tokens: int
    seed: int = 0
    compare_recompute: bool = False

    @property
    def tokens(self) -> int:
        """Tokens the cache holds at the end: prompt plus decoded."""
        return self.context + self.decode_tokens


class Clock:
    """Wall time of a call in milliseconds: CUDA events on a GPU, perf_counter on the CPU."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def time(self, call):
        """(result, milliseconds) of `call()`, the device synchronized on both sides."""
        self.sync()
        if not self.cuda:
            start = time.perf_counter()
            result = call()
            return result, (time.perf_counter() - start) * 1000
        begin = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        begin.record()
        result = call()
        end.record()
        end.synchronize()
        return result, begin.elapsed_time(end)


def point_tokens(point: Point, vocab_size: int, device) -> torch.Tensor:
    """The point's token ids `[batch, T]`, drawn from its seed (the same for every dtype)."""
    generator = torch.Generator().manual_seed(point.seed)
    shape = (point.batch_size, point.tokens)
    return torch.randint(0, vocab_size, shape, generator=generator).to(device)


def cached_logits(model, tokens, cache, context: int, clock: Clock | None = None):
    """Prefill then decode into `cache`; yields (logits `[B, 1, V]`, milliseconds) per step.

    The first item is the prefill (the logits of position context-1), then one per decode step.
    """
    clock = clock or Clock(tokens.device)
    yield clock.time(lambda: model(tokens[:, :context], cache=cache))
    for position in range(context, tokens.shape[1]):
        step = tokens[:, position : position + 1]
        yield clock.time(lambda s=step, p=position: model(s, start=p, cache=cache))


def _warm_up(model, tokens, cache) -> None:
    """A short prefill and a few decode steps, so that timing starts warm."""
    length = min(WARMUP_TOKENS, tokens.shape[1] - 1)
    steps = min(WARMUP_STEPS, tokens.shape[1] - length)
    for _ in cached_logits(model, tokens[:, : length + steps], cache, length):
        pass


def _max_diff(a, b) -> torch.Tensor:
    return (a.float() - b.float()).abs().max()


def _bf16_logits(model, tokens, point: Point):
    """The logits of the same prefill and decode through a bf16 cache (untimed)."""
    cache = model.new_cache(
        batch_size=point.batch_size, tokens=point.tokens, cache_dtype="bf16"
    )
    logits = [out for out, _ in cached_logits(model, tokens, cache, point.context)]
    del cache
    return torch.cat(logits, dim=1)


def _allocated(device) -> int | None:
    return torch.cuda.memory_allocated(device) if device.type == "cuda" else None


def _timed_run(model, tokens, point: Point, reference, bf16, clock: Clock) -> dict:
    """Allocate the point's cache, warm up, time prefill and decode, compare logits."""
    device = tokens.device
    before = _allocated(device)
    cache = model.new_cache(
        batch_size=point.batch_size, tokens=point.tokens, cache_dtype=point.cache_dtype
    )
    growth = None if before is None else _allocated(device) - before
    measured = cache.storage_bytes()
    _warm_up(model, tokens, cache)
    diff = torch.zeros((), device=device)
    quant = torch.zeros((), device=device)
    times = []
    runs = cached_logits(model, tokens, cache, point.context, clock)
    for i, (logits, ms) in enumerate(runs):
        times.append(ms)
        diff = torch.maximum(diff, _max_diff(logits, reference[:, i : i + 1]))
        if bf16 is not None:
            quant = torch.maximum(quant, _max_diff(logits, bf16[:, i : i + 1]))
        if i == 0 and device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)  # the peak is the decode's alone
    peak = None
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) - before
    tpot = statistics.median(times[1:])
    return {
        "measured_kv_bytes": measured,
        "alloc_growth_bytes": growth,
        "decode_peak_bytes": peak,
        "ttft_ms": times[0],
        "tpot_ms": tpot,
        "decode_tokens_per_s": point.batch_size * 1000.0 / tpot,
        "max_abs_logit_diff": float(diff),
        "quant_logit_diff_vs_bf16": float(quant) if bf16 is not None else None,
    }


def recompute_times(
    model, tokens, context: int, steps: int, clock: Clock
) -> list[float]:
    """Milliseconds of each cache-less decode step: the whole prefix run again every step."""
    return [
        clock.time(lambda n=context + i + 1: model(tokens[:, :n]))[1]
        for i in range(steps)
    ]


def run_point(model, point: Point) -> dict:
    """Every measured column of one point (see docs/columns.md)."""
    device = model.embed.weight.device
    clock = Clock(device)
    tokens = point_tokens(point, model.dims.vocab_size, device)
    with torch.inference_mode():
        reference = model(tokens, logits_from=point.context - 1)
        bf16 = None
        if point.cache_dtype in QUANTIZED:
            bf16 = _bf16_logits(model, tokens, point)
        row = _timed_run(model, tokens, point, reference, bf16, clock)
        del reference, bf16
        row.update(recompute_steps=None, recompute_step_ms=None, recompute_ratio=None)
        if point.compare_recompute:
            steps = min(point.decode_tokens, RECOMPUTE_STEPS)
            step_ms = statistics.median(
                recompute_times(model, tokens, point.context, steps, clock)
            )
            row.update(
                recompute_steps=steps,
                recompute_step_ms=step_ms,
                recompute_ratio=step_ms / row["tpot_ms"],
            )
    return row
