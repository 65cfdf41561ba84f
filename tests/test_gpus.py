"""The GPU catalog: names and aliases, memory units, dense peaks, sources."""

import pytest

from kvplan.errors import UnknownNameError
from kvplan.gpus import CATALOG, custom_gpu, find_gpu
from kvplan.units import GIB

# Every device the issue names, as a user would type it.
ISSUE_GPUS = {
    "H100 SXM": "H100 SXM",
    "h100-pcie": "H100 PCIe",
    "h100-nvl": "H100 NVL",
    "h200": "H200",
    "h20": "H20",
    "b200": "B200",
    "gb200": "GB200",
    "a100-40gb": "A100 40GB",
    "A100 80GB": "A100 80GB",
    "a10g": "A10G",
    "l4": "L4",
    "l40s": "L40S",
    "rtx 4090": "RTX 4090",
    "RTX-5090": "RTX 5090",
    "rtx 6000 ada": "RTX 6000 Ada",
    "mi250x": "MI250X",
    "mi300x": "MI300X",
    "MI325X": "MI325X",
    "tpu v5e": "TPU v5e",
    "tpu-v6e": "TPU v6e",
    "gaudi3": "Gaudi 3",
}


@pytest.mark.parametrize(("typed", "name"), sorted(ISSUE_GPUS.items()))
def test_every_issue_gpu_is_found_case_insensitively(typed, name):
    assert find_gpu(typed).name == name


def test_h100_alias_is_the_sxm_part():
    assert find_gpu("h100").name == "H100 SXM"
    assert find_gpu("H100").name == "H100 SXM"


@pytest.mark.parametrize("gpu", CATALOG, ids=lambda g: g.name)
def test_every_entry_is_complete(gpu):
    assert gpu.memory_bytes > 0 and gpu.bandwidth_bytes_per_s > 0
    assert gpu.bf16_flops > 0
    assert gpu.fp8_flops is None or gpu.fp8_flops >= gpu.bf16_flops
    assert len(gpu.source) > 20  # names a datasheet or document
    if gpu.visible_bytes:
        # the runtime sees a little less than the capacity, never more
        assert 0.9 * gpu.memory_bytes < gpu.visible_bytes < gpu.memory_bytes
        assert gpu.visible_source


def test_vendor_gb_of_hbm_is_gib_and_the_runtime_sees_less():
    h100 = find_gpu("h100")
    assert h100.memory_bytes == 80 * 2**30  # "80 GB" of HBM3 is 80 GiB of parts
    assert h100.visible_bytes == 81089 * 2**20  # torch: total_memory=81089MB
    assert (
        round(h100.visible_bytes / GIB, 2) == 79.19
    )  # what vLLM logs as total_gpu_memory
    assert h100.budget_bytes == h100.visible_bytes
    assert h100.budget_basis == "runtime"
    assert (
        find_gpu("a100-80gb").budget_basis == "vendor"
    )  # no public runtime figure kept


def test_dense_peaks_halve_the_sparsity_figures():
    h100 = find_gpu("h100")
    assert (
        h100.bf16_flops == 1979 * 10**12 // 2
    )  # datasheet: 1,979 TFLOPS with sparsity
    assert h100.fp8_flops == 3958 * 10**12 // 2
    assert find_gpu("a100").peak_flops("fp8") == 312 * 10**12  # no fp8: bf16 peak


def test_unknown_gpu_suggests_near_names():
    with pytest.raises(
        UnknownNameError, match="unknown GPU 'h10'; did you mean:"
    ) as error:
        find_gpu("h10")
    assert "H100 SXM" in error.value.near


def test_custom_memory_keeps_a_named_gpus_peaks():
    gpu = custom_gpu(75 * GIB, find_gpu("h100"))
    assert (gpu.budget_bytes, gpu.budget_basis) == (75 * GIB, "given")
    assert gpu.bandwidth_bytes_per_s == 3350 * 10**9
    bare = custom_gpu(24 * 10**9)
    assert (bare.budget_bytes, bare.bandwidth_bytes_per_s) == (24 * 10**9, None)


def test_l40s_dense_bf16_is_the_datasheets_printed_figure():
    # NVIDIA's L40S datasheet prints BF16 362.05 TFLOPS dense (733 with sparsity): not
    # half the sparse figure (366.5); FP8 733 dense (1,466 with sparsity)
    l40s = find_gpu("l40s")
    assert l40s.bf16_flops == 362_050_000_000_000
    assert l40s.fp8_flops == 733_000_000_000_000
