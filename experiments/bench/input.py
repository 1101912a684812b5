r"""Input-pipeline throughput, and ImageNet-style JPEG training input against PyTorch's loader:

    python experiments/bench/input.py [--batches=40] [--workdir=runs/bench_input] [--quick]

Fashion-MNIST (28×28, value_range) read from its files and decoded into memory first
(`dataset.cache`), with 0, 1 and 2 grain worker processes. JPEGs: `--images` generated photo-like
JPEGs of 500×375 (`--jpeg_size`; ~110 KB, ImageNet's commonest shape and mean file size) written
as an ImageFolder tree and prepared as a folder dataset, then read at batch 32 with the same
worker counts by
(a) `decode|inception_crop(224)|flip_lr|value_range|standardize` on TFDS-decoded images, (b) the
fused `decode_jpeg_and_inception_crop(224, fast=False)|…` on the stored JPEG bytes (its PIL branch),
(b') the same with the `fast_jpeg` extra's decoders (simplejpeg and OpenCV; PIL again where they
are not installed, as the codecs line of the results says), and (c) torchvision's
`ImageFolder` + `RandomResizedCrop(224)` + `RandomHorizontalFlip` + `ToTensor` + `Normalize`
through a `DataLoader` (skipped, with a line, where torch is not installed). Rates are images/s,
and per core: divided by the processes that decode (the workers, or the one reading process).
With 0 workers the trainer's `BatchLoader` reads, with more grain's DataLoader. Prints a table and
writes results.json and results.md into --workdir, with the host cores one accelerator's ResNet-50
training step needs at `--accelerator_images_per_sec`.
"""

import importlib.util
import io
import json
import os
import tempfile
import time

import numpy as np
import PIL.Image
from absl import flags

from trends_jax import data
from trends_jax.bench import timing as benchmark
from trends_jax.data import image_ops, memory_cache, pipeline
from trends_jax.run import cli

FLAGS = flags.FLAGS
flags.DEFINE_integer("batches", 40, "Batches timed per measurement, after 3 warm-up batches.")
flags.DEFINE_list("workers", ["0", "1", "2"], "Worker process counts to measure, e.g. 0,4,8,16 (kept by --quick).")
flags.DEFINE_list("pipelines", ["fashion_mnist", "jpeg"], "fashion_mnist (two rows) and/or jpeg (four).")
flags.DEFINE_integer("images", 256, "Generated JPEGs (in 4 class folders).")
flags.DEFINE_list("jpeg_size", ["500", "375"], "Width and height of the generated JPEGs.")
flags.DEFINE_integer("rounds", 3, "JPEG loaders are timed in turn this many times; the best round counts.")
flags.DEFINE_integer("read_threads", -1, "Reader threads (-1: by core count, as the trainer).")
flags.DEFINE_float("accelerator_images_per_sec", 3000.0,
                   "Training images/s of one accelerator, for the host cores its input needs: ResNet-50 bf16 "
                   "on one H200, a planning figure (not measured by trends_jax).")
flags.DEFINE_boolean("quick", False, "A tiny run for tests: 16 images, 2 batches of 8, 0 workers (unless --workers), JPEGs only.")
flags.DEFINE_string("data_dir", None, "TFDS data directory (Fashion-MNIST).")
flags.DEFINE_string("workdir", "runs/bench_input", "Where results.json and results.md go.")

NORMALIZE = f"value_range(0, 1)|standardize({image_ops.IMAGENET_MEAN}, {image_ops.IMAGENET_STD})"
JPEG_PIPELINES = {
    "old": f"decode|inception_crop(224)|flip_lr|{NORMALIZE}",
    # The fused op's PIL branch (draft + antialiased resize), what it runs without the fast_jpeg extra.
    "fast_pil": "decode_jpeg_and_inception_crop(224, fast=False)|flip_lr|normalize",
    # With the extra: simplejpeg (libjpeg-turbo) and OpenCV's bilinear resize.
    "fast": "decode_jpeg_and_inception_crop(224)|flip_lr|normalize",
}


def codec_versions() -> dict:
  """The decoders the fast path found: simplejpeg and cv2 (None where absent), and Pillow."""
  codecs = image_ops.fast_jpeg_codecs()
  return {"pillow": PIL.__version__, "simplejpeg": codecs and codecs[0].__version__,
          "cv2": codecs and codecs[1].__version__}


def photo_jpeg(rng: np.random.Generator, size: tuple[int, int]) -> bytes:
  """A smooth image with film-grain noise: at quality 90 about as many bytes as an ImageNet photo."""
  width, height = size
  small = rng.integers(0, 256, (height // 25 + 1, width // 25 + 1, 3), dtype=np.uint8)
  image = np.asarray(PIL.Image.fromarray(small).resize(size, PIL.Image.BICUBIC), np.int16)
  grain = rng.normal(0, 24, (height, width, 1)) + rng.normal(0, 8, (height, width, 3))
  buffer = io.BytesIO()
  PIL.Image.fromarray(np.clip(image + grain, 0, 255).astype(np.uint8)).save(buffer, format="JPEG", quality=90)
  return buffer.getvalue()


def write_image_folder(root: str, count: int, size: tuple[int, int]) -> int:
  """`count` JPEGs of `size` in 4 class folders; returns their total bytes."""
  rng = np.random.default_rng(0)
  total = 0
  for i in range(count):
    folder = os.path.join(root, f"class_{i % 4}")
    os.makedirs(folder, exist_ok=True)
    raw = photo_jpeg(rng, size)
    total += len(raw)
    with open(os.path.join(folder, f"{i:05d}.jpg"), "wb") as f:
      f.write(raw)
  return total


def trends_loader(source, spec: str, batch_size: int, workers: int):
  dataset = data.DatasetSpec(preprocess=spec, num_workers=workers, read_threads=FLAGS.read_threads)
  return iter(pipeline.train_loader(source, dataset, global_batch_size=batch_size, seed=0))


def torch_loader(root: str, batch_size: int, workers: int):
  import torch
  from torchvision import datasets, transforms
  torch.set_num_threads(1)  # One core per decoding process, as DataLoader gives its workers.
  transform = transforms.Compose([
      transforms.RandomResizedCrop(224), transforms.RandomHorizontalFlip(), transforms.ToTensor(),
      transforms.Normalize(image_ops.IMAGENET_MEAN, image_ops.IMAGENET_STD)])
  loader = torch.utils.data.DataLoader(datasets.ImageFolder(root, transform), batch_size=batch_size, shuffle=True,
                                       num_workers=workers, persistent_workers=workers > 0, drop_last=True)

  def endless():
    while True:
      yield from loader

  return endless()


def jpeg_rows(workers_list, batch_size: int, batches: int, count: int, rounds: int,
              size: tuple[int, int]) -> tuple[list[dict], dict]:
  """The four JPEG loaders, measured in turn `rounds` times (the best round counts), so that a
  load from elsewhere on the machine slows all four alike."""
  rows = []
  with tempfile.TemporaryDirectory() as tmp:
    root = os.path.join(tmp, "images")
    total_bytes = write_image_folder(root, count, size)
    data_dir = os.path.join(tmp, "tfds")
    cli.run_user_code(data.prepare_image_folder, root, "bench_jpegs", data_dir)
    encoded = data.data_source("bench_jpegs", "train", data_dir, encoded="image")
    sources = {"old": data.data_source("bench_jpegs", "train", data_dir), "fast_pil": encoded, "fast": encoded}
    has_torch = all(importlib.util.find_spec(m) is not None for m in ("torch", "torchvision"))
    if not has_torch:
      print("pytorch: skipped (torch and torchvision are not installed; pip install torch torchvision)", flush=True)
    for workers in workers_list:
      loaders = {name: trends_loader(sources[name], spec, batch_size, workers) for name, spec in JPEG_PIPELINES.items()}
      if has_torch:
        loaders["pytorch"] = torch_loader(root, batch_size, workers)
      rates = {name: [] for name in loaders}
      for _ in range(rounds):
        for name, iterator in loaders.items():
          # The warm-up also drains what the workers read ahead while the others were timed.
          rates[name].append(benchmark.examples_per_sec(iterator, batch_size, batches, warmup=2 * workers + 2))
      for name, measured in rates.items():
        rate = max(measured)
        rows.append({"pipeline": f"jpeg_{name}", "batch_size": batch_size, "workers": workers,
                     "examples_per_sec": round(rate, 1), "examples_per_sec_per_core": round(rate / max(workers, 1), 1),
                     "rounds": [round(r, 1) for r in measured]})
      del loaders, iterator  # Ends their worker processes before the next count starts its own.
  info = {"jpeg_count": count, "jpeg_shape": list(size), "jpeg_mean_bytes": round(total_bytes / count),
          "jpeg_specs": {f"jpeg_{k}": v for k, v in JPEG_PIPELINES.items()}, "torch_installed": has_torch,
          "codecs": codec_versions()}
  return rows, info


def fashion_rows(workers_list, batches: int) -> list[dict]:
  fashion = cli.run_user_code(data.data_source, "fashion_mnist", "train", FLAGS.data_dir)
  rows = []
  for name, source in (("fashion_mnist", fashion),
                       ("fashion_mnist_cached", memory_cache.DecodedSplit(fashion, "fashion_mnist train"))):
    for workers in workers_list:
      rate = benchmark.examples_per_sec(trends_loader(source, "value_range(0, 1)", 128, workers), 128, batches)
      rows.append({"pipeline": name, "batch_size": 128, "workers": workers, "examples_per_sec": round(rate, 1),
                   "examples_per_sec_per_core": round(rate / max(workers, 1), 1)})
  return rows


def summary(rows: list[dict], images_per_sec: float) -> dict:
  """Fast path against PyTorch per core, and the host cores one accelerator's step needs."""
  best = {}
  for r in rows:
    if r["pipeline"].startswith("jpeg_"):
      name = r["pipeline"][len("jpeg_"):]
      best[name] = max(best.get(name, 0.0), r["examples_per_sec_per_core"])
  out = {"accelerator_images_per_sec": images_per_sec,
         "best_per_core": best,
         "host_cores_per_accelerator": {k: round(images_per_sec / v, 1) for k, v in best.items() if v > 0}}
  if "pytorch" in best:
    rate = {(r["pipeline"], r["workers"]): r["examples_per_sec"] for r in rows}
    for name in ("fast", "fast_pil"):
      out[f"{name}_vs_pytorch_per_core"] = round(best[name] / best["pytorch"], 2)
      out[f"{name}_vs_pytorch_each_worker_count"] = {
          str(w): round(rate[f"jpeg_{name}", w] / rate["jpeg_pytorch", w], 2) for p, w in rate if p == "jpeg_pytorch"}
  return out


def _markdown(results: dict) -> str:
  lines = ["| pipeline | batch | workers | images/s | images/s per core |", "|---|---|---|---|---|"]
  lines += [f"| {r['pipeline']} | {r['batch_size']} | {r['workers']} | {r['examples_per_sec']:,.0f} | "
            f"{r['examples_per_sec_per_core']:,.0f} |" for r in results["rows"]]
  s = results["summary"]
  lines.append("")
  for name, what in (("fast", "Fast path"), ("fast_pil", "Fast path's PIL branch")):
    if f"{name}_vs_pytorch_per_core" in s:
      lines.append(f"{what} against PyTorch, best per core: {s[f'{name}_vs_pytorch_per_core']}× "
                   f"(by worker count: {s[f'{name}_vs_pytorch_each_worker_count']}).")
  if results.get("codecs"):
    lines.append("Decoders: " + ", ".join(f"{k} {v}" for k, v in results["codecs"].items()) + ".")
  lines.append(f"Host cores for {s['accelerator_images_per_sec']:,.0f} training images/s: "
               + ", ".join(f"{k} {v}" for k, v in s["host_cores_per_accelerator"].items()) + ".")
  return "\n".join(lines) + "\n"


def main(argv):
  del argv
  start = time.perf_counter()
  # --quick keeps a worker list given explicitly (bench_gpu.sh's QUICK run checks the worker path).
  try:
    workers = [0] if FLAGS.quick and not FLAGS["workers"].present else [int(w) for w in FLAGS.workers]
  except ValueError:
    cli.fail(f"--workers must be integers, e.g. 0,4,8,16, got {','.join(FLAGS.workers)}")
  if not workers or min(workers) < 0:
    cli.fail(f"--workers must be counts >= 0, e.g. 0,4,8,16, got {','.join(FLAGS.workers)}")
  batches = 2 if FLAGS.quick else FLAGS.batches
  for flag in ("batches", "rounds", "images"):
    if FLAGS[flag].value < 1:
      cli.fail(f"--{flag} must be >= 1, got {FLAGS[flag].value}")
  unknown = set(FLAGS.pipelines) - {"fashion_mnist", "jpeg"}
  if unknown:
    cli.fail(f"--pipelines: unknown {', '.join(sorted(unknown))}; use fashion_mnist and/or jpeg")
  rows, info = [], {}
  if "fashion_mnist" in FLAGS.pipelines and not FLAGS.quick:
    rows += fashion_rows(workers, batches)
  if "jpeg" in FLAGS.pipelines or FLAGS.quick:
    jpeg, info = jpeg_rows(workers, 8 if FLAGS.quick else 32, batches, 16 if FLAGS.quick else FLAGS.images,
                           1 if FLAGS.quick else FLAGS.rounds, tuple(int(v) for v in FLAGS.jpeg_size))
    rows += jpeg
  for r in rows:
    print(f"{r['pipeline']:22s} batch {r['batch_size']:4d} workers {r['workers']}: {r['examples_per_sec']:10.1f} "
          f"images/s, {r['examples_per_sec_per_core']:10.1f} per core", flush=True)
  results = {"cpu_count": os.cpu_count(), "date": time.strftime("%Y-%m-%d"), "quick": FLAGS.quick, **info,
             "rows": rows, "summary": summary(rows, FLAGS.accelerator_images_per_sec),
             "seconds": round(time.perf_counter() - start, 1)}
  os.makedirs(FLAGS.workdir, exist_ok=True)
  with open(os.path.join(FLAGS.workdir, "results.json"), "w") as f:
    json.dump(results, f, indent=2)
  markdown = _markdown(results)
  with open(os.path.join(FLAGS.workdir, "results.md"), "w") as f:
    f.write(markdown)
  print(markdown, end="", flush=True)


if __name__ == "__main__":
  cli.run(main)
