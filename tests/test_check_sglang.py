"""`kvplan check` on SGLang logs: each pool's line as that pool prints it, and the pool
predicted from the memory the log printed (tests/data/logs/README.md names the sources)."""

from fractions import Fraction

from kvplan.logs import parse_log
from kvplan.predict_sglang import _rest_range
from kvplan.reconcile import build_setup, check_rows, header_notes, resolve_model

from .conftest import DATA

LOGS = DATA / "logs"
QWQ = "sglang-qwq32b-4xl4-tp4.log"


def check_text(text, model=None, **options):
    facts = parse_log(text)
    spec, note = resolve_model(facts, model)
    setup, notes = build_setup(facts, spec, **options)
    rows = check_rows(facts, setup, [note, *header_notes(facts, setup), *notes])
    return {row["figure"]: row for row in rows}, rows.notes


def check(log, model=None, **options):
    return check_text((LOGS / log).read_text(encoding="utf-8"), model, **options)


# ---------------------------------------------------------------- each pool's own line


def test_mla_pool_prints_one_kv_size_read_as_one():
    # sglang PR 13466, Kimi-K2 TP 8: "#tokens: 8050, KV size: 0.53 GB" is the one latent
    # buffer, not K and V: no V size is read, and #tokens comes from 0.53 GiB alone
    facts = parse_log((LOGS / "sglang-13466-kimi-k2-mla-tp8.log").read_text())
    assert set(facts.figures) == {"kv_cache_tokens", "kv_size_gib"}
    rows, _ = check("sglang-13466-kimi-k2-mla-tp8.log")
    # 61 layers x (8,050 + 1 padded row) x 576 values x 2 B / 2^30 = 0.5269, printed 0.53
    assert rows["kv_size_gib"]["predicted"] == 61 * 8051 * 576 * 2 / 2**30
    assert rows["kv_size_gib"]["verdict"] == "match"
    # 0.525-0.535 GiB / (61 x 1,152 B) - 1 row holds 8,021-8,174 tokens: 8,050 is inside
    assert rows["kv_cache_tokens"]["verdict"] == "within rounding"
    assert 8021 <= rows["kv_cache_tokens"]["predicted"] <= 8174


def test_mha_pool_line_with_the_dtype_field_of_newer_versions():
    text = (
        "python3 -m sglang.launch_server --model-path Qwen/Qwen3-32B --tp 4\n"
        "[2026-01-01 00:01:01] KV Cache is allocated. dtype: torch.bfloat16,"
        " #tokens: 500000, K size: 7.63 GB, V size: 7.63 GB\n"
    )  # the format string of _finalize_allocation_log with the dtype field
    facts = parse_log(text)
    assert facts.figures["kv_cache_tokens"].value == 500000
    assert facts.figures["k_size_gib"].value == Fraction("7.63")
    assert "kv_size_gib" not in facts.figures


def test_sliding_window_pools_are_read_apart():
    # SWAKVPool builds the sliding layers' pool first, then the full layers' one, then
    # prints its summary (mem_cache/swa_memory_pool.py); lines written with those formats
    text = (
        "Use sliding window memory pool. full_layer_tokens=100000,"
        " swa_layer_tokens=80000\n"
        "KV Cache is allocated. #tokens: 80000, K size: 0.28 GB, V size: 0.28 GB\n"
        "KV Cache is allocated. #tokens: 100000, K size: 0.34 GB, V size: 0.34 GB\n"
        "SWAKVPool mem usage: 1.24 GB, swa size: 80000, full size: 100000\n"
    )
    figures = parse_log(text).figures
    assert figures["swa_kv_cache_tokens"].value == 80000
    assert figures["swa_k_size_gib"].value == Fraction("0.28")
    assert figures["kv_cache_tokens"].value == 100000
    assert figures["k_size_gib"].value == Fraction("0.34")


def test_mamba_pool_line_is_read():
    text = (
        "Mamba Cache is allocated. max_mamba_cache_size: 22, conv_state size: 0.06GB,"
        " ssm_state size: 3.23GB\n"
        "KV Cache is allocated. #tokens: 300000, K size: 3.00 GB, V size: 3.00 GB\n"
    )  # memory_pool.py MambaPool's format string (no space before GB)
    figures = parse_log(text).figures
    assert figures["mamba_cache_size"].value == 22
    assert figures["ssm_state_gib"].value == Fraction("3.23")


def test_deepseek_v32_nsa_pool_includes_the_indexer_key():
    # sglang PR 11309 (DeepSeek-V3.2-Exp, 8x B200: SGLang sets an fp8 cache on Blackwell):
    # 61 x ((975,424 + 64) x 656 + 15,242 pages x 64 x 132) B = 43.67 GiB
    rows, notes = check(
        "sglang-11309-deepseek-v32-exp-dp8.log", "deepseek-v3.2", cache_dtype="fp8"
    )
    assert rows["kv_size_gib"]["predicted"] == 61 * 975488 * (656 + 132) / 2**30
    assert rows["kv_cache_tokens"]["predicted"] == 975424  # whole pages of 64
    assert {r["verdict"] for r in rows.values()} == {"match"}
    assert any(n.startswith("pages of 64 tokens") for n in notes)


def test_deepseek_v32_in_bf16_names_the_fp8_cache():
    rows, _ = check("sglang-11309-deepseek-v32-exp-dp8.log", "deepseek-v3.2")
    assert rows["kv_size_gib"]["verdict"] == "mismatch"
    assert rows["kv_size_gib"]["note"].startswith("looks like a fp8 cache, not bf16")


# ------------------------------------------------------------- the pool from the memory


def test_qwq_pool_from_the_memory_lines():
    # QwQ-32B on 4x L4, TP 4, mem_fraction_static 0.85: rest = 6.09 - 21.63 x 0.15
    # = 2.8455 GiB; a token is 64 layers x 2 KV heads x 128 x 2 (K,V) x 2 B = 65,536 B;
    # 2.8455 x 2^30 / 65,536 = 46,620.67 -> 46,620 tokens (46,611 logged)
    rows, notes = check(QWQ, "qwen2.5-32b")
    row = rows["kv_cache_tokens"]
    assert row["predicted"] == 46620
    assert row["verdict"] == "within rounding"
    assert row["note"].startswith("from the logged memory: 6.09 GiB after loading")
    # the sizes from that pool: (46,620 + 1) x 64 x 2 x 128 x 2 B / 2^30 = 1.4228 GiB
    assert rows["k_size_gib"]["predicted"] == 46621 * 64 * 2 * 128 * 2 / 2**30
    assert rows["k_size_gib"]["verdict"] == "match"
    assert any(
        "total taken from 'Load weight begin. avail mem=21.63 GB'" in n for n in notes
    )


def test_a_doubled_pool_no_longer_matches():
    # the tester's tampering: the same log with the pool line's figures doubled
    text = (LOGS / QWQ).read_text()
    text = text.replace("#tokens: 46611, K size: 1.42 GB, V size: 1.42 GB",
                        "#tokens: 93222, K size: 2.84 GB, V size: 2.84 GB")  # fmt: skip
    rows, notes = check_text(text, "qwen2.5-32b")
    assert rows["kv_cache_tokens"]["verdict"] == "mismatch"
    assert rows["kv_cache_tokens"]["predicted"] == 46620
    assert rows["k_size_gib"]["verdict"] == "mismatch"
    assert any("#tokens 93,222 agrees with its own sizes but not" in n for n in notes)


def test_without_mem_fraction_static_the_pool_is_checked_against_itself():
    text = (LOGS / QWQ).read_text().replace("mem_fraction_static=0.85, ", "")
    rows, notes = check_text(text, "qwen2.5-32b")
    assert rows["kv_cache_tokens"]["note"].startswith("from the logged sizes")
    assert any("mem_fraction_static is not in the log" in n for n in notes)
    rows, _ = check_text(text, "qwen2.5-32b", options=["mem_fraction_static=0.85"])
    assert rows["kv_cache_tokens"]["predicted"] == 46620


def test_a_second_model_load_is_not_taken_for_the_memory():
    lines = (LOGS / QWQ).read_text().splitlines()
    draft = "[2025-03-08 12:29:21 TP0] Load weight begin. avail mem=6.09 GB"
    at = next(i for i, line in enumerate(lines) if "KV Cache is allocated" in line)
    text = "\n".join(lines[:at] + [draft] + lines[at:])
    rows, notes = check_text(text, "qwen2.5-32b")
    assert rows["kv_cache_tokens"]["note"].startswith("from the logged sizes")
    assert any("loaded more than one model" in n for n in notes)


def test_rest_memory_as_the_profiling_line_computes_it():
    # a DeepSeek-V4 start-up (SGLang's 'Memory profiling' line, quoted in a public log):
    # available_gpu_memory=57.01 GB, total_gpu_memory=93.58 GB, mem_fraction_static=0.60,
    # rest_memory=19.58 GB: 57.01 - 93.58 x 0.40 = 19.578 GiB
    text = (
        "Memory profiling: available_gpu_memory=57.01 GB, total_gpu_memory=93.58 GB,"
        " mem_fraction_static=0.60, rest_memory=19.58 GB\n"
    )
    facts = parse_log(text + "KV Cache is allocated. #tokens: 1, KV size: 0.01 GB\n")
    figures = facts.figures
    middle, low, high = _rest_range(
        figures["profiled_avail_gib"], figures["profiled_total_gib"], Fraction(6, 10)
    )
    assert middle == int(Fraction("19.578") * 2**30)
    # the printed figures' rounding: 57.005 - 93.585 x 0.4 to 57.015 - 93.575 x 0.4
    assert (low, high) == (
        int(Fraction("19.571") * 2**30),
        int(Fraction("19.585") * 2**30),
    )
