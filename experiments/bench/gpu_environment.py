r"""What experiments/bench/bench_gpu.sh ran on, into OUT_DIR/environment.json, before any part runs:

    python experiments/bench/gpu_environment.py OUT_DIR [--require_gpu]

Python, the versions of the packages the parts use (or "missing"), JAX's backend and devices, the
GPU as nvidia-smi names it, and the CPU count. With --require_gpu (every run but QUICK=1), a JAX
that sees no GPU is one `error:` line and exit 2: the parts would otherwise spend the machine's
minutes measuring its CPU.
"""

import importlib.metadata
import json
import os
import platform
import subprocess
import sys

PACKAGES = ("jax", "jaxlib", "jax-cuda13-plugin", "flax", "optax", "orbax-checkpoint", "numpy", "ml_collections",
            "tensorflow-datasets", "grain", "array_record", "torch", "torchvision", "timm", "pillow", "simplejpeg",
            "opencv-python-headless", "gensim")


def package_versions() -> dict:
  versions = {}
  for name in PACKAGES:
    try:
      versions[name] = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
      versions[name] = "missing"
  return versions


def nvidia_smi() -> list[str] | str:
  try:
    result = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                            capture_output=True, text=True, timeout=30, check=True)
  except (OSError, subprocess.SubprocessError) as e:
    return f"not available ({type(e).__name__})"
  return [line.strip() for line in result.stdout.splitlines() if line.strip()]


def jax_devices() -> dict:
  try:
    import jax
    devices = jax.devices()
  except Exception as e:  # A broken CUDA plugin is what this records, whatever it raises.
    return {"backend": None, "error": f"{type(e).__name__}: {e}"[:500]}
  return {"backend": jax.default_backend(), "device_count": len(devices),
          "device_kinds": sorted({d.device_kind for d in devices})}


def main(out: str, require_gpu: bool) -> dict:
  environment = {"python": platform.python_version(), "platform": platform.platform(), "cpu_count": os.cpu_count(),
                 "packages": package_versions(), "jax": jax_devices(), "nvidia_smi": nvidia_smi()}
  with open(os.path.join(out, "environment.json"), "w") as f:
    json.dump(environment, f, indent=2)
  backend = environment["jax"]["backend"]
  print(f"python {environment['python']}, jax {environment['packages']['jax']} on {backend} "
        f"({', '.join(environment['jax'].get('device_kinds', []))}), {environment['cpu_count']} CPUs", flush=True)
  if require_gpu and backend != "gpu":
    reason = environment["jax"].get("error") or f"its backend is {backend}"
    print(f"error: JAX sees no GPU ({reason}); check the machine's jax CUDA plugin "
          "(environment.json), or run with QUICK=1 on a CPU", file=sys.stderr)
    sys.exit(2)
  return environment


if __name__ == "__main__":
  arguments = [a for a in sys.argv[1:] if a != "--require_gpu"]
  if len(arguments) != 1 or not os.path.isdir(arguments[0]):
    print("error: usage: experiments/bench/gpu_environment.py OUT_DIR [--require_gpu]", file=sys.stderr)
    sys.exit(2)
  main(arguments[0], "--require_gpu" in sys.argv[1:])
