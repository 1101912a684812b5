"""What a device can do at best: its peak dense FLOP/s, so that a measured rate becomes an MFU.

`PEAK_FLOPS` maps a device kind, exactly as `jax.devices()[0].device_kind` reports it, to the
vendor datasheet's dense (not 2:4-sparse) peak per JAX device, for bfloat16 and for float32.
"float32" is the rate of the units XLA's default matmul precision runs float32 matmuls on: TF32
tensor cores on NVIDIA Ampere and later, one bfloat16 pass on TPUs (with
`jax_default_matmul_precision='highest'` a float32 step can reach only a fraction of it).
CPUs are not listed: their peak depends on the SKU, its vector units and its clock, so MFU on a
CPU is None.
"""

import jax

TERA = 1e12

# device kind → {compute dtype: peak dense FLOP/s per JAX device}.
PEAK_FLOPS = {
    # NVIDIA datasheets (SXM unless named otherwise); float32 = TF32 tensor cores.
    "NVIDIA B200": {"bfloat16": 2250 * TERA, "float32": 1125 * TERA},
    "NVIDIA H200": {"bfloat16": 989.5 * TERA, "float32": 494.7 * TERA},
    "NVIDIA H200 NVL": {"bfloat16": 835.5 * TERA, "float32": 417.5 * TERA},
    "NVIDIA H100 80GB HBM3": {"bfloat16": 989.5 * TERA, "float32": 494.7 * TERA},
    "NVIDIA H100 PCIe": {"bfloat16": 756.5 * TERA, "float32": 378 * TERA},
    "NVIDIA H100 NVL": {"bfloat16": 835.5 * TERA, "float32": 417.5 * TERA},
    "NVIDIA A100-SXM4-80GB": {"bfloat16": 312 * TERA, "float32": 156 * TERA},
    "NVIDIA A100-SXM4-40GB": {"bfloat16": 312 * TERA, "float32": 156 * TERA},
    "NVIDIA A100 80GB PCIe": {"bfloat16": 312 * TERA, "float32": 156 * TERA},
    "NVIDIA A100-PCIE-40GB": {"bfloat16": 312 * TERA, "float32": 156 * TERA},
    "NVIDIA L4": {"bfloat16": 121 * TERA, "float32": 60 * TERA},
    "NVIDIA A10": {"bfloat16": 125 * TERA, "float32": 62.5 * TERA},
    # Google Cloud TPU pages, per JAX device: a v2/v3 chip is two devices, v4 and later one.
    "TPU v2": {"bfloat16": 22.5 * TERA, "float32": 22.5 * TERA},
    "TPU v3": {"bfloat16": 61.5 * TERA, "float32": 61.5 * TERA},
    "TPU v4": {"bfloat16": 275 * TERA, "float32": 275 * TERA},
    "TPU v5 lite": {"bfloat16": 197 * TERA, "float32": 197 * TERA},
    "TPU v5": {"bfloat16": 459 * TERA, "float32": 459 * TERA},
    "TPU v6 lite": {"bfloat16": 918 * TERA, "float32": 918 * TERA},
}


def peak_flops(device_kind: str, dtype: str) -> float | None:
  """Peak dense FLOP/s of one device of `device_kind` computing in `dtype`; None if unknown."""
  return PEAK_FLOPS.get(device_kind, {}).get(dtype)


def mfu(flops_per_second: float | None, device_kind: str, dtype: str, num_devices: int) -> float | None:
  """Model FLOPs utilization: achieved FLOP/s over the peak of all `num_devices`, or None."""
  peak = peak_flops(device_kind, dtype)
  if peak is None or flops_per_second is None:
    return None
  return flops_per_second / (peak * num_devices)


def peak_memory_bytes(devices=None) -> int | None:
  """The largest peak of bytes in use over `devices`, where the backend reports it (not on CPU)."""
  peaks = [(d.memory_stats() or {}).get("peak_bytes_in_use") for d in devices or jax.local_devices()]
  peaks = [p for p in peaks if p is not None]
  return max(peaks) if peaks else None
