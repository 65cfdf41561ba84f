"""The GPU catalog: memory, HBM bandwidth and dense peak FLOP/s of the devices people serve on.

Memory is kept twice. `memory_bytes` is the capacity the vendor states, in the unit it means:
vendors write "80 GB" for 80 GiB of HBM or GDDR (memory parts come in powers of two), so
80 GB is 80 x 2^30 bytes here. `visible_bytes` is what the runtime reports as the device total
(torch.cuda.get_device_properties().total_memory, the number vLLM and SGLang multiply by
their memory fraction), less than the capacity by what the driver reserves; it is recorded
where a public figure is known, and budgets use it then (docs/capacity.md, "GPU memory").

FLOP/s are dense (no 2:4 sparsity): datasheets that print sparse figures are halved. Every
entry names its source.
"""

import difflib
from dataclasses import dataclass

from kvplan.errors import UnknownNameError
from kvplan.units import GIB, MIB

TERA = 10**12
GIGA = 10**9


@dataclass(frozen=True, kw_only=True)
class Gpu:
    """One accelerator as a capacity review needs it; bytes, bytes/s and FLOP/s as ints."""

    name: str
    vendor: str
    memory_stated: str  # as the vendor writes it
    memory_bytes: int  # that capacity in bytes
    bandwidth_bytes_per_s: int | None
    bf16_flops: int | None  # dense peak
    fp8_flops: int | None  # dense peak; None where the device has no fp8 matmul
    source: str
    aliases: tuple[str, ...] = ()
    visible_bytes: int | None = None  # the runtime's device total, where publicly known
    visible_source: str = ""
    note: str = ""
    memory_given: bool = False  # memory_bytes came from --gpu-memory

    @property
    def budget_bytes(self) -> int:
        """The memory a budget starts from: the runtime's total when known, else the vendor's."""
        return self.visible_bytes or self.memory_bytes

    @property
    def budget_basis(self) -> str:
        """Which memory figure budget_bytes is: `runtime`, `vendor` or `given`."""
        if self.memory_given:
            return "given"
        return "runtime" if self.visible_bytes else "vendor"

    def peak_flops(self, dtype: str) -> int | None:
        """Dense peak FLOP/s for matmuls at `dtype` (fp8 falls back to bf16 without fp8)."""
        if dtype == "fp8" and self.fp8_flops:
            return self.fp8_flops
        return self.bf16_flops


def _tflops(value: float) -> int:
    """Tera-FLOP/s as written in a datasheet (up to two decimals) -> exact FLOP/s."""
    return round(value * 100) * TERA // 100


_TORCH = (
    "torch.cuda.get_device_properties(0).total_memory printed in public GitHub files"
)
_NV = "NVIDIA"
_HALF = "dense = the datasheet's sparsity figure / 2"

CATALOG: tuple[Gpu, ...] = (
    Gpu(
        name="H100 SXM",
        vendor=_NV,
        memory_stated="80 GB HBM3",
        memory_bytes=80 * GIB,
        bandwidth_bytes_per_s=3350 * GIGA,
        bf16_flops=_tflops(989.5),
        fp8_flops=_tflops(1979),
        source=f"NVIDIA H100 Tensor Core GPU datasheet, SXM: BF16 1,979 / FP8 3,958 TFLOPS "
        f"with sparsity, 3.35 TB/s ({_HALF})",
        aliases=("h100", "h100-sxm", "h100-sxm5", "h100-80gb", "h100-80gb-hbm3"),
        visible_bytes=81089 * MIB,
        visible_source=f"{_TORCH}: 81089 MiB (torch 2.7, CUDA 12.8); other drivers show "
        "81082-81090 MiB, vLLM logs 79.11-79.33 GiB; nvidia-smi shows 81559 MiB",
    ),
    Gpu(
        name="H100 PCIe",
        vendor=_NV,
        memory_stated="80 GB HBM2e",
        memory_bytes=80 * GIB,
        bandwidth_bytes_per_s=2000 * GIGA,
        bf16_flops=_tflops(756.5),
        fp8_flops=_tflops(1513),
        source=f"NVIDIA H100 datasheet, PCIe: BF16 1,513 / FP8 3,026 TFLOPS with sparsity, "
        f"2 TB/s ({_HALF})",
        aliases=("h100-pcie",),
        visible_bytes=81008 * MIB,
        visible_source=f"{_TORCH}: 81008 MiB",
    ),
    Gpu(
        name="H100 NVL",
        vendor=_NV,
        memory_stated="94 GB HBM3",
        memory_bytes=94 * GIB,
        bandwidth_bytes_per_s=3900 * GIGA,
        bf16_flops=_tflops(835.5),
        fp8_flops=_tflops(1670.5),
        source=f"NVIDIA H100 datasheet, H100 NVL: BF16 1,671 / FP8 3,341 TFLOPS with "
        f"sparsity, 3.9 TB/s ({_HALF})",
        aliases=("h100-nvl", "h100nvl"),
    ),
    Gpu(
        name="H200",
        vendor=_NV,
        memory_stated="141 GB HBM3e",
        memory_bytes=141 * GIB,
        bandwidth_bytes_per_s=4800 * GIGA,
        bf16_flops=_tflops(989.5),
        fp8_flops=_tflops(1979),
        source=f"NVIDIA H200 Tensor Core GPU datasheet, SXM: BF16 1,979 / FP8 3,958 "
        f"TFLOPS with sparsity, 4.8 TB/s ({_HALF})",
        aliases=("h200-sxm", "h200-141gb"),
        visible_bytes=143156 * MIB,
        visible_source=f"{_TORCH}: 143156 MiB",
    ),
    Gpu(
        name="H20",
        vendor=_NV,
        memory_stated="96 GB HBM3",
        memory_bytes=96 * GIB,
        bandwidth_bytes_per_s=4000 * GIGA,
        bf16_flops=_tflops(148),
        fp8_flops=_tflops(296),
        source="NVIDIA H20 as reported from NVIDIA's product brief (no public datasheet): "
        "96 GB HBM3, 4.0 TB/s, FP16/BF16 148 and FP8 296 TFLOPS dense",
        aliases=("h20-96gb",),
    ),
    Gpu(
        name="B200",
        vendor=_NV,
        memory_stated="180 GB HBM3e",
        memory_bytes=180 * GIB,
        bandwidth_bytes_per_s=8000 * GIGA,
        bf16_flops=_tflops(2250),
        fp8_flops=_tflops(4500),
        source="NVIDIA HGX B200 datasheet: 8 GPUs with 1,440 GB HBM3e, 64 TB/s, FP16/BF16 "
        f"36 and FP8 72 PFLOPS with sparsity; per GPU = / 8 ({_HALF})",
        aliases=("b200-sxm", "hgx-b200"),
        visible_bytes=182631 * MIB,
        visible_source=f"{_TORCH}: 182631 MiB (182642 MiB on another driver)",
    ),
    Gpu(
        name="GB200",
        vendor=_NV,
        memory_stated="186 GB HBM3e (13.4 TB per 72 GPUs)",
        memory_bytes=186 * GIB,
        bandwidth_bytes_per_s=8000 * GIGA,
        bf16_flops=_tflops(2500),
        fp8_flops=_tflops(5000),
        source="NVIDIA GB200 NVL72 datasheet: 72 Blackwell GPUs with 13.4 TB HBM3e, 576 TB/s, "
        f"FP16/BF16 360 and FP8 720 PFLOPS with sparsity; per GPU = / 72 ({_HALF})",
        aliases=("gb200-nvl72", "gb200-gpu"),
    ),
    Gpu(
        name="A100 40GB",
        vendor=_NV,
        memory_stated="40 GB HBM2",
        memory_bytes=40 * GIB,
        bandwidth_bytes_per_s=1555 * GIGA,
        bf16_flops=_tflops(312),
        fp8_flops=None,
        source="NVIDIA A100 Tensor Core GPU datasheet, A100 40GB SXM: BF16 312 TFLOPS "
        "(624 with sparsity), 1,555 GB/s; no FP8",
        aliases=("a100-40gb", "a100-sxm4-40gb", "a100-40"),
        visible_bytes=40536 * MIB,
        visible_source=f"{_TORCH}: 40536 MiB (A100-SXM4-40GB)",
    ),
    Gpu(
        name="A100 80GB",
        vendor=_NV,
        memory_stated="80 GB HBM2e",
        memory_bytes=80 * GIB,
        bandwidth_bytes_per_s=2039 * GIGA,
        bf16_flops=_tflops(312),
        fp8_flops=None,
        source="NVIDIA A100 Tensor Core GPU datasheet, A100 80GB SXM: BF16 312 TFLOPS "
        "(624 with sparsity), 2,039 GB/s; no FP8",
        aliases=("a100", "a100-80gb", "a100-sxm4-80gb", "a100-80"),
    ),
    Gpu(
        name="A10G",
        vendor=_NV,
        memory_stated="24 GB GDDR6",
        memory_bytes=24 * GIB,
        bandwidth_bytes_per_s=600 * GIGA,
        bf16_flops=_tflops(70),
        fp8_flops=None,
        source="AWS EC2 G5 (A10G): 24 GB GDDR6, 600 GB/s; NVIDIA publishes no A10G "
        "datasheet; tensor FP16/BF16 about 70 TFLOPS dense per Baseten's 'NVIDIA A10 vs A10G'",
        aliases=("a10g-24gb",),
        visible_bytes=22587 * MIB,
        visible_source=f"{_TORCH}: 22587 MiB",
        note="FLOP/s figure is not from NVIDIA",
    ),
    Gpu(
        name="L4",
        vendor=_NV,
        memory_stated="24 GB GDDR6",
        memory_bytes=24 * GIB,
        bandwidth_bytes_per_s=300 * GIGA,
        bf16_flops=_tflops(121),
        fp8_flops=_tflops(242.5),
        source=f"NVIDIA L4 Tensor Core GPU datasheet: BF16 242 / FP8 485 TFLOPS with "
        f"sparsity, 300 GB/s ({_HALF})",
        aliases=("l4-24gb",),
    ),
    Gpu(
        name="L40S",
        vendor=_NV,
        memory_stated="48 GB GDDR6",
        memory_bytes=48 * GIB,
        bandwidth_bytes_per_s=864 * GIGA,
        bf16_flops=_tflops(362.05),
        fp8_flops=_tflops(733),
        source="NVIDIA L40S datasheet: BF16 362.05 (733 with sparsity) and FP8 733 (1,466 "
        "with sparsity) TFLOPS dense as printed, 864 GB/s",
        aliases=("l40s-48gb",),
        visible_bytes=45589 * MIB,
        visible_source=f"{_TORCH}: 45589 MiB (ECC on)",
    ),
    Gpu(
        name="RTX 4090",
        vendor=_NV,
        memory_stated="24 GB GDDR6X",
        memory_bytes=24 * GIB,
        bandwidth_bytes_per_s=1008 * GIGA,
        bf16_flops=_tflops(165.2),
        fp8_flops=_tflops(330.3),
        source="NVIDIA Ada Lovelace GPU architecture whitepaper, GeForce RTX 4090: BF16 165.2 "
        "and FP8 330.3 TFLOPS dense with FP32 accumulate, 1,008 GB/s",
        aliases=("4090", "rtx-4090", "geforce-rtx-4090"),
        visible_bytes=24563 * MIB,
        visible_source=f"{_TORCH}: 24563 MiB",
    ),
    Gpu(
        name="RTX 5090",
        vendor=_NV,
        memory_stated="32 GB GDDR7",
        memory_bytes=32 * GIB,
        bandwidth_bytes_per_s=1792 * GIGA,
        bf16_flops=_tflops(209.5),
        fp8_flops=_tflops(419),
        source="NVIDIA RTX Blackwell GPU architecture whitepaper, GeForce RTX 5090: FP16/BF16 "
        "209.5 and FP8 419 TFLOPS dense with FP32 accumulate, 1,792 GB/s",
        aliases=("5090", "rtx-5090", "geforce-rtx-5090"),
    ),
    Gpu(
        name="RTX 6000 Ada",
        vendor=_NV,
        memory_stated="48 GB GDDR6",
        memory_bytes=48 * GIB,
        bandwidth_bytes_per_s=960 * GIGA,
        bf16_flops=_tflops(364.2),
        fp8_flops=_tflops(728.5),
        source="NVIDIA RTX 6000 Ada Generation datasheet: 1,457 TFLOPS FP8 with sparsity "
        "(728.5 dense; BF16 half that), 960 GB/s",
        aliases=("rtx-6000-ada", "rtx6000ada", "rtx-6000"),
        visible_bytes=48622 * MIB,
        visible_source=f"{_TORCH}: 48622 MiB",
    ),
    Gpu(
        name="MI250X",
        vendor="AMD",
        memory_stated="64 GB HBM2e per GCD (128 GB per package of two)",
        memory_bytes=64 * GIB,
        bandwidth_bytes_per_s=1638 * GIGA + 400 * 10**6,
        bf16_flops=_tflops(191.5),
        fp8_flops=None,
        source="AMD Instinct MI250X datasheet: 128 GB HBM2e, 3.2768 TB/s, 383 TFLOPS BF16 per "
        "package; ROCm shows each of its two GCDs as one device, so one entry is one GCD (/ 2)",
        aliases=("mi250x-gcd", "mi250"),
        note="one GCD: ROCm shows a package as two devices",
    ),
    Gpu(
        name="MI300X",
        vendor="AMD",
        memory_stated="192 GB HBM3",
        memory_bytes=192 * GIB,
        bandwidth_bytes_per_s=5300 * GIGA,
        bf16_flops=_tflops(1307.4),
        fp8_flops=_tflops(2614.9),
        source="AMD Instinct MI300X datasheet: 192 GB HBM3, 5.3 TB/s, BF16 1,307.4 and "
        "FP8 2,614.9 TFLOPS dense",
        aliases=("mi300", "mi300x-192gb"),
        visible_bytes=196592 * MIB,
        visible_source=f"{_TORCH} (ROCm): 196592 MiB",
    ),
    Gpu(
        name="MI325X",
        vendor="AMD",
        memory_stated="256 GB HBM3E",
        memory_bytes=256 * GIB,
        bandwidth_bytes_per_s=6000 * GIGA,
        bf16_flops=_tflops(1307.4),
        fp8_flops=_tflops(2614.9),
        source="AMD Instinct MI325X datasheet: 256 GB HBM3E, 6 TB/s, BF16 1,307.4 and "
        "FP8 2,614.9 TFLOPS dense",
        aliases=("mi325",),
    ),
    Gpu(
        name="TPU v5e",
        vendor="Google",
        memory_stated="16 GB HBM2",
        memory_bytes=16 * GIB,
        bandwidth_bytes_per_s=819 * GIGA,
        bf16_flops=_tflops(197),
        fp8_flops=None,
        source="Google Cloud TPU v5e documentation: 16 GB HBM2 per chip, 819 GB/s, 197 "
        "TFLOPS bf16, 394 TOPS int8; no fp8",
        aliases=("v5e", "tpu-v5e", "tpuv5e", "v5litepod"),
    ),
    Gpu(
        name="TPU v6e",
        vendor="Google",
        memory_stated="32 GB HBM",
        memory_bytes=32 * GIB,
        bandwidth_bytes_per_s=1640 * GIGA,
        bf16_flops=_tflops(918),
        fp8_flops=None,
        source="Google Cloud TPU v6e (Trillium) documentation: 32 GB HBM per chip, 1,640 "
        "GB/s, 918 TFLOPS bf16, 1,836 TOPS int8; no fp8",
        aliases=("v6e", "tpu-v6e", "tpuv6e", "trillium"),
    ),
    Gpu(
        name="Gaudi 3",
        vendor="Intel",
        memory_stated="128 GB HBM2e",
        memory_bytes=128 * GIB,
        bandwidth_bytes_per_s=3700 * GIGA,
        bf16_flops=_tflops(1835),
        fp8_flops=_tflops(1835),
        source="Intel Gaudi 3 AI accelerator white paper: 128 GB HBM2e, 3.7 TB/s, 1,835 "
        "TFLOPS BF16 and FP8 (matrix engines)",
        aliases=("gaudi3", "gaudi-3", "hl-325l"),
    ),
)


def _key(name: str) -> str:
    """A name as looked up: lowercased, spaces and underscores as dashes."""
    return "-".join(str(name).strip().lower().replace("_", " ").split())


def _index() -> dict[str, Gpu]:
    index = {}
    for gpu in CATALOG:
        for alias in (gpu.name, *gpu.aliases):
            index[_key(alias)] = gpu
    return index


def find_gpu(name: str) -> Gpu:
    """A catalog GPU by name or alias, case-insensitively; a miss lists the near names."""
    index = _index()
    key = _key(name)
    if key in index:
        return index[key]
    near = difflib.get_close_matches(key, list(index), n=4, cutoff=0.5)
    names = list(dict.fromkeys(index[n].name for n in near))
    raise UnknownNameError("GPU", name, names, field="gpu")


def custom_gpu(memory_bytes: int, base: Gpu | None = None) -> Gpu:
    """A device of `memory_bytes` (--gpu-memory): a catalog GPU's other figures, or none."""
    from dataclasses import replace

    from kvplan.units import format_gib

    if base is not None:
        return replace(
            base,
            name=f"{base.name} ({format_gib(memory_bytes)})",
            memory_bytes=memory_bytes,
            visible_bytes=None,
            memory_stated=f"{format_gib(memory_bytes)} (--gpu-memory)",
            memory_given=True,
        )
    return Gpu(
        name=f"custom {format_gib(memory_bytes)}",
        vendor="",
        memory_stated=f"{format_gib(memory_bytes)} (--gpu-memory)",
        memory_bytes=memory_bytes,
        bandwidth_bytes_per_s=None,
        bf16_flops=None,
        fp8_flops=None,
        source="--gpu-memory",
        memory_given=True,
    )


def unnamed_gpu() -> Gpu:
    """The device of a --kv-budget run that names no GPU: no memory, bandwidth or FLOP/s."""
    return Gpu(
        name="(any GPU)",
        vendor="",
        memory_stated="",
        memory_bytes=0,
        bandwidth_bytes_per_s=None,
        bf16_flops=None,
        fp8_flops=None,
        source="--kv-budget without --gpu",
        memory_given=True,
    )
