"""`kvplan check` on more real logs: restarts, workers, error lines, old and new formats.

Logs in tests/data/logs/ (sources in the README there); malformed variants a tester built are
written inline, each saying what it changes. Expected values are the engines' printed figures,
or arithmetic written out here.
"""

import pytest

from kvplan.logs import LogError, parse_runs
from kvplan.reconcile import check_runs

from .conftest import DATA

LOGS = DATA / "logs"
GIB = 2**30
LLAMA8B_TOKEN = 32 * 2 * 8 * 128 * 2  # 131,072 B per token at bf16


def check(text: str, model=None, **options):
    rows, _ = check_runs(parse_runs(text), model=model, **options)
    return list(rows), rows.notes


def check_file(name: str, model=None, **options):
    return check((LOGS / name).read_text(encoding="utf-8"), model, **options)


def by_figure(rows, run=1):
    return {r["figure"]: r for r in rows if r["run"] == run}


# ---------------------------------------------------------------------- restarts, workers


def test_two_start_ups_in_one_file_are_checked_apart():
    # issue 10517's two runs appended: 3.81 GiB at max_model_len 20000, then 2.89 GiB at
    # 29000. Run 1: 3.81 GiB // 2 MiB blocks = 1950 blocks; 1950 x 16 / 20000 = 1.56x.
    # Run 2: 2.89 GiB // 2 MiB = 1479 blocks; 1479 x 16 / 29000 = 0.816 -> 0.82x
    rows, notes = check_file("concat-two-runs.log", "llama-3.1-8b")
    assert {r["run"] for r in rows} == {1, 2}
    first, second = by_figure(rows, 1), by_figure(rows, 2)
    assert first["max_concurrency"]["predicted"] == 1950 * 16 / 20000
    assert second["max_concurrency"]["predicted"] == 1479 * 16 / 29000
    assert first["max_concurrency"]["verdict"] == "match"
    assert second["max_concurrency"]["verdict"] == "match"
    assert any("holds 2 start-ups" in n for n in notes)
    assert any(n.startswith("run 2 (lines 6-11)") and "29000" in n for n in notes)


def test_the_pool_is_sized_from_the_smallest_worker():
    # issue 14452 (V0 in 0.8): the driver printed 14.52 GiB, a worker 14.26 GiB; V0 takes
    # the smallest: 14.26 GiB // 2 MiB = 7301 blocks (the log: 7299, within its rounding),
    # and 7301 x 16 / 50000 = 2.336 prints 2.34 as the log did (14.52 GiB would give 2.38)
    rows, notes = check_file("vllm-v0.8-issue14452-cuda-blocks.log", "llama-3.1-8b")
    table = by_figure(rows)
    assert table["gpu_blocks"]["logged"] == 7299
    assert table["gpu_blocks"]["predicted"] == 7301
    assert table["max_concurrency"]["predicted"] == 7301 * 16 / 50000
    assert table["max_concurrency"]["verdict"] == "match"
    # '# CPU blocks': 4 GiB of swap // 2 MiB per block
    assert table["cpu_blocks"]["predicted"] == 4 * GIB // (16 * LLAMA8B_TOKEN) == 2048
    assert any(
        "2 workers printed kv_cache_memory_gib from 14.26 to 14.52" in n for n in notes
    )


def test_workers_in_either_order_give_the_same_pool():
    # the tester's variant: the worker's line first, the driver's after
    lines = (LOGS / "vllm-v0.8-issue14452-cuda-blocks.log").read_text().splitlines()
    reordered = "\n".join([lines[2], lines[3], lines[4], lines[1], *lines[5:]])
    rows, _ = check(reordered, "llama-3.1-8b")
    assert len({r["run"] for r in rows}) == 1
    assert by_figure(rows)["max_concurrency"]["verdict"] == "match"


def test_two_engines_in_one_file_are_refused():
    with pytest.raises(
        LogError, match="start-ups of two engines, SGLang .* and vLLM V1"
    ):
        parse_runs((LOGS / "concat-two-engines.log").read_text())


# ---------------------------------------------------------------------- vLLM lines


def test_v1_not_enough_memory_error_is_read_and_checked():
    # LMCache issue 1372, a Qwen3-4B shape: 36 layers x 8 KV heads x 128 x 2 x 2 B =
    # 147,456 B per token; 32,768 tokens = 2,048 blocks of 16 = 4.50 GiB needed. 3.58 GiB
    # hold 3.58 x 2^30 // (16 x 147,456) = 1,629 blocks = 26,064 tokens; the log's 26,032
    # (1,627 blocks) is inside 3.575-3.585 GiB
    rows, notes = check_file("vllm-lmcache1372-valueerror.log", "qwen3-4b")
    table = by_figure(rows)
    assert table["kv_needed_gib"]["predicted"] == 2048 * 16 * 147456 / GIB == 4.5
    assert table["kv_needed_gib"]["verdict"] == "match"
    assert table["estimated_max_model_len"]["predicted"] == 1629 * 16
    assert table["estimated_max_model_len"]["verdict"] == "within rounding"
    assert any(n.startswith("the engine did not start: To serve") for n in notes)


def test_v1_error_with_an_fp8_cache():
    # issue 25350: Qwen3-30B-A3B, 48 layers x 4 KV heads x 128 x 2 x 1 B = 49,152 B per
    # token; 221,000 tokens = cdiv(221000, 16) = 13,813 blocks: 10.117 GiB, printed 10.12
    rows, _ = check_file(
        "vllm-25350-fp8-221k-error.log", "qwen3-30b-a3b", cache_dtype="fp8"
    )
    table = by_figure(rows)
    assert table["kv_needed_gib"]["predicted"] == 13813 * 16 * 49152 / GIB
    assert table["kv_needed_gib"]["verdict"] == "match"
    assert table["estimated_max_model_len"]["verdict"] == "within rounding"


def test_v0_pool_line_alone_checks_whole_blocks():
    # QwenLM/Qwen3 issue 295: only "... stored in KV cache (7344)": 459 blocks of 16
    rows, notes = check_file(
        "vllm-v0-qwen1.5-7b-valueerror.log", "tests/data/specs/qwen1.5-7b.yaml"
    )
    row = by_figure(rows)["kv_cache_tokens"]
    assert row["predicted"] == 459 * 16 == 7344 and row["verdict"] == "match"
    assert "459 blocks" in row["note"]
    assert any("max seq len (32768) is larger" in n for n in notes)


def test_v065_memory_profile_table_is_read_and_its_sum_checked():
    # pull request 10511: 79.22 GiB x 0.90 - 14.96 - 1.26 - 1.79 = 53.288, printed 53.29
    rows, notes = check_file("vllm-v0.6.5-pr10511-profile-table.log")
    row = by_figure(rows)["kv_cache_memory_gib"]
    assert row["logged"] == 53.29
    assert row["predicted"] == pytest.approx(79.22 * 0.90 - 14.96 - 1.26 - 1.79)
    assert row["verdict"] == "match"
    assert "to Meta-Llama-3-8B" in notes[0]


def test_early_v1_gpu_blocks_line_is_v1_and_predicts_the_concurrency():
    # pull request 12569, VLLM_USE_V1=1: 1,381 blocks, 2,048-token requests take 128:
    # 1381 / 128 = 10.79x
    runs = parse_runs((LOGS / "vllm-12569-llama70b-w8a8.log").read_text())
    assert runs[0].engine == "vllm" and runs[0].format == "vLLM V1"
    rows, _ = check_file("vllm-12569-llama70b-w8a8.log")
    row = by_figure(rows)["max_concurrency"]
    assert row["predicted"] == 1381 / 128 and row["verdict"] == "match"


def test_a_log_version_picks_the_version_rules_and_says_so():
    text = (
        "Initializing a V1 LLM engine (v0.8.5) with config: model='Qwen/Qwen3-14B'\n"
        + (LOGS / "vllm-v1-qwen3-14b.log").read_text()
    )
    rows, notes = check(text)
    assert any("vLLM V1 log 0.8.5: predicted with vllm 0.8-0.9" in n for n in notes)
    assert by_figure(rows)["kv_cache_tokens"]["verdict"] == "match"


def test_a_negative_budget_is_the_engines_failure():
    # the tester's edit of a V1 log: -5.00 GiB and a 0-token pool
    text = "Available KV cache memory: -5.00 GiB\nGPU KV cache size: 0 tokens\n"
    with pytest.raises(LogError, match="KV cache memory is -5 GiB .* could not start"):
        check(text, "llama-3.1-8b")


def test_a_line_cut_short_is_named():
    text = "Available KV cache memory: 6.51 GiB\nGPU KV cache size: 42,6"
    with pytest.raises(LogError, match="line 2 is cut short or garbled"):
        check(text, "qwen3-14b")


# ---------------------------------------------------------------------- TensorRT-LLM


def test_trtllm_allocation_line_alone():
    # dynamo: "Allocated 26.91 GiB for max tokens in paged KV cache (220480)" with 64-token
    # blocks: 220,480 x 131,072 B = 26.914 GiB, printed 26.91; 3,445 blocks of 64
    rows, _ = check_file(
        "trtllm-dynamo-llama31-8b.log", "llama-3.1-8b", options=["block_size=64"]
    )
    table = by_figure(rows)
    assert table["allocated_gib"]["predicted"] == 220480 * LLAMA8B_TOKEN / GIB
    assert table["allocated_gib"]["verdict"] == "match"
    assert table["kv_cache_tokens"]["verdict"] in ("match", "within rounding")


LLAMA2_TOKEN = 32 * 2 * 32 * 128 * 2  # Llama-2-7B fp16: 524,288 B per token


def test_trtllm_08_allocate_bytes_and_using_tokens_lines():
    # issue 1400 (0.8): "Allocate 69524783104 bytes for k/v cache." and "Using 132608 tokens
    # in paged KV cache.": 69,524,783,104 / 524,288 = 132,608 tokens exactly
    rows, notes = check_file("trtllm-1400-llama2-7b-a100.log", "llama-2-7b")
    table = by_figure(rows)
    assert table["allocated_bytes"]["predicted"] == 132608 * LLAMA2_TOKEN == 69524783104
    assert table["kv_cache_tokens"]["predicted"] == 132608
    assert {r["verdict"] for r in rows} == {"match"}
    assert any(n.startswith("TensorRT-LLM 0.5-0.8 lines") for n in notes)


def test_trtllm_05_token_count_printed_before_the_block_rounding():
    # GptSession prints maxNumTokens, then allocates ceil(N / 32) blocks of 32: a count
    # 8 short of the allocation's 132,608 lies in its last block
    text = (LOGS / "trtllm-1400-llama2-7b-a100.log").read_text()
    text = text.replace("Using 132608 tokens", "Using 132600 tokens")
    table = by_figure(check(text, "llama-2-7b")[0])
    assert table["kv_cache_tokens"]["verdict"] == "within rounding"
    # cdiv(132,600, 32) x 32 = 132,608 tokens of 524,288 B: the same allocation
    assert table["allocated_bytes"]["verdict"] == "match"


def test_trtllm_05_token_line_alone_is_said_to_be_uncheckable():
    # issue 224: "Using 10718 tokens in paged KV cache." and nothing else:
    # 10,718 x 524,288 B = 5.23 GiB
    with pytest.raises(
        LogError, match=r"prints only the pool's token count .* 5\.23 GiB"
    ):
        check_file("trtllm-224-llama2-7b-a10.log", "llama-2-7b")


def test_a_doubled_trtllm_08_allocation_is_a_mismatch():
    text = (LOGS / "trtllm-1400-llama2-7b-a100.log").read_text()
    text = text.replace("Allocate 69524783104 bytes", "Allocate 139049566208 bytes")
    table = by_figure(check(text, "llama-2-7b")[0])
    assert table["allocated_bytes"]["verdict"] == "mismatch"
    assert table["kv_cache_tokens"]["predicted"] == 2 * 132608


def test_autodeploy_fake_cache_is_said_to_be_nothing_to_check():
    with pytest.raises(LogError, match="fake cache manager allocated no KV cache"):
        check_file("trtllm-autodeploy-fake-cache.log", "llama-3.1-8b")


# ------------------------------------------------------ vLLM's token line in whole blocks


QWEN3_NEXT = "vllm-26646-qwen3-next.log"
# Qwen3-Next: a full layer's token is 2 KV heads x 256 x 2 (K,V) x 2 B = 2,048 B at bf16;
# a linear-attention state is (3 x 8,192 conv + 32 x 128 x 128 ssm) x 2 B = 1,097,728 B.
# vLLM grows the attention block to 16 x cdiv(1,097,728, 16 x 2,048) = 16 x 34 = 544 tokens.


def test_a_token_line_not_in_whole_blocks_is_a_mismatch_with_its_cause():
    # issue 26646: 90,048 tokens is 165.53 blocks of 544, so not this block size; an fp8
    # cache halves the token to 1,024 B: 16 x cdiv(1,097,728, 16,384) = 1,072-token blocks,
    # and 90,048 = 84 x 1,072
    table = by_figure(check_file(QWEN3_NEXT, "qwen3-next-80b-a3b")[0])
    row = table["kv_cache_tokens"]
    assert row["verdict"] == "mismatch"
    assert row["predicted"] == 165 * 544
    assert row["note"].startswith("looks like a fp8 cache, not bf16")
    assert "90,048 is 165.53 of them" in row["note"]
    fp8 = by_figure(check_file(QWEN3_NEXT, "qwen3-next-80b-a3b", cache_dtype="fp8")[0])
    assert fp8["kv_cache_tokens"]["predicted"] == 84 * 1072 == 90048
    assert fp8["kv_cache_tokens"]["verdict"] == "match"


def test_another_kernel_block_alignment_is_a_setting_the_cause_finder_tries():
    # alignment 8 (not one vLLM's backends use by default) gives 8 x cdiv(1,097,728,
    # 16,384) = 536-token blocks at bf16, and 90,048 = 168 x 536
    rows, _ = check_file(
        QWEN3_NEXT, "qwen3-next-80b-a3b", options=["kernel_block_alignment=8"]
    )
    assert by_figure(rows)["kv_cache_tokens"]["predicted"] == 168 * 536 == 90048
    # alignment 32 (FlashInfer on Blackwell, head size 256) keeps 544 = 17 x 32 here
    rows, _ = check_file(
        QWEN3_NEXT, "qwen3-next-80b-a3b", options=["kernel_block_alignment=32"]
    )
    assert by_figure(rows)["kv_cache_tokens"]["predicted"] == 165 * 544


def test_the_cause_finder_names_a_kernel_block_alignment_that_fits():
    # the same log with 93,888 tokens = 163 blocks of 576 = 64 x cdiv(1,097,728, 64 x 2,048):
    # only alignment 64 divides it (544: 172.6, 640: 146.7, fp8's 1,072: 87.6)
    text = (LOGS / QWEN3_NEXT).read_text().replace("90,048 tokens", "93,888 tokens")
    row = by_figure(check(text, "qwen3-next-80b-a3b")[0])["kv_cache_tokens"]
    assert row["verdict"] == "mismatch"
    assert row["note"].startswith("looks like kernel_block_alignment = 64, or")
