"""`kvplan check` on real llama.cpp logs: the geometry the log prints wins over a spec's.

Logs in tests/data/logs/ (sources in the README there). Sizes by hand: K and V of one cell of
one layer are n_head_kv x head_dim x 2 B each at f16.
"""

from .test_check import run_check

MIB = 2**20


def test_phi3_log_prints_no_window_and_the_check_follows_it():
    # llama.cpp disabled Phi-3's SWA (pull request 13676): the log prints n_swa = 0 and one
    # cache of 4096 cells x 32 layers; 32 x 4096 x 2 x 32 x 96 x 2 B = 1536 MiB
    rows, notes = run_check("llamacpp-phi3-mini-4k-textgen-webui.log", "phi-3-mini-4k")
    assert 32 * 4096 * 2 * 32 * 96 * 2 == 1536 * MIB
    assert rows["kv_size_mib"]["predicted"] == 1536
    assert rows["kv_cells"]["predicted"] == 4096
    assert {r["verdict"] for r in rows.values()} == {"match"}
    assert any("(n_swa 0)" in n and "32 sliding(2047)" in n for n in notes)


def test_an_unnamed_model_is_built_from_the_printed_geometry():
    # Arm's RPC log: general.name "Llama Hf" names no spec; 80 layers x 8 KV heads x 128,
    # 4096 cells: 80 x 4096 x 2 x 8 x 128 x 2 B = 1280 MiB
    rows, notes = run_check("llamacpp-rpc-llama31-70b-q4_0.log")
    assert 80 * 4096 * 2 * 8 * 128 * 2 == 1280 * MIB
    assert rows["kv_size_mib"]["predicted"] == 1280
    assert rows["kv_size_mib"]["verdict"] == "match"
    assert "'Llama Hf' matches no shipped spec" in notes[0]
    assert "80 full, 8 KV heads x 128" in notes[0]


def test_gpt_oss_iswa_log_matched_by_its_general_name():
    # 12 full layers x 131,072 cells and 12 sliding layers x pad256(128 + 512) = 768 cells,
    # 8 KV heads x 64: 12 x 131072 x 2048 B = 3072 MiB and 12 x 768 x 2048 B = 18 MiB
    rows, notes = run_check("llamacpp-gptoss20b-iswa-131k-m5.log")
    assert notes[0].startswith("matched the log's model 'Gpt Oss 20b' to gpt-oss-20b")
    assert rows["kv_size_mib"]["predicted"] == 12 * 131072 * 2048 / MIB == 3072
    assert rows["swa_kv_cells"]["predicted"] == 768
    assert rows["swa_kv_size_mib"]["predicted"] == 12 * 768 * 2048 / MIB == 18
    assert {r["verdict"] for r in rows.values()} == {"match"}


def test_larger_ubatch_widens_the_sliding_cache():
    # n_ubatch 2048: pad256(128 + 2048) = 2304 cells, 12 x 2304 x 2048 B = 54 MiB
    rows, _ = run_check("llamacpp-gptoss20b-iswa-131k-ubatch2048.log")
    assert rows["swa_kv_cells"]["predicted"] == 2304
    assert rows["swa_kv_size_mib"]["predicted"] == 54
    assert rows["swa_kv_size_mib"]["verdict"] == "match"


def test_four_slots_of_gemma2_fill_the_sliding_cache_to_n_ctx():
    # 4 slots x 4096 window + 512 = 16,896 cells > n_ctx 8192: the SWA cache is 8192 cells;
    # 13 layers x 8192 x 2 x 4 x 256 x 2 B = 416 MiB each
    rows, _ = run_check("llamacpp-server-gemma2-2b-4slots.log")
    assert rows["swa_kv_cells"]["predicted"] == 8192
    assert rows["swa_kv_size_mib"]["predicted"] == 13 * 8192 * 2 * 4 * 256 * 2 / MIB
    assert {r["verdict"] for r in rows.values()} == {"match"}
