r"""Input-pipeline throughput (examples/sec) with 0, 1 and 2 grain worker processes:

    python experiments/bench/input.py [--batches=40] [--workdir=runs/bench_input]

Pipelines: Fashion-MNIST (28×28, value_range) read from its files and decoded into memory first
(`dataset.cache`), and an ImageNet-shaped one on mock JPEGs (500×375, decode → inception_crop(224)
→ flip → normalize). With 0 workers the trainer's `BatchLoader` reads, with more grain's
DataLoader. Prints a table and writes results.json and results.md into --workdir.
"""

import io
import json
import os

import numpy as np
import PIL.Image
from absl import flags

from trends_jax import data
from trends_jax.bench import timing as benchmark
from trends_jax.data import memory_cache, pipeline
from trends_jax.run import cli

FLAGS = flags.FLAGS
flags.DEFINE_integer("batches", 40, "Batches timed per measurement, after 3 warm-up batches.")
flags.DEFINE_list("workers", ["0", "1", "2"], "grain worker process counts to measure.")
flags.DEFINE_integer("read_threads", -1, "Reader threads (-1: by core count, as the trainer).")
flags.DEFINE_string("data_dir", None, "TFDS data directory.")
flags.DEFINE_string("workdir", "runs/bench_input", "Where results.json and results.md go.")

IMAGENET_PP = ("decode|inception_crop(224)|flip_lr|value_range(0, 1)|"
               "standardize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))")


def mock_jpegs(count: int = 256) -> list[dict]:
  """Smooth random images (so JPEG sizes are realistic, ~50 KB) at ImageNet's typical 500×375."""
  rng = np.random.default_rng(0)
  examples = []
  for i in range(count):
    small = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    image = PIL.Image.fromarray(small).resize((500, 375), PIL.Image.BICUBIC)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    examples.append({"image": buffer.getvalue(), "label": i % 1000})
  return examples


def examples_per_sec(source, spec: str, batch_size: int, workers: int) -> float:
  dataset = data.DatasetSpec(preprocess=spec, num_workers=workers, read_threads=FLAGS.read_threads)
  iterator = iter(pipeline.train_loader(source, dataset, global_batch_size=batch_size, seed=0))
  return benchmark.examples_per_sec(iterator, batch_size, FLAGS.batches)


def main(argv):
  del argv
  fashion = lambda: data.data_source("fashion_mnist", "train", FLAGS.data_dir)  # noqa: E731
  cases = [("fashion_mnist", fashion, "value_range(0, 1)", 128),
           ("fashion_mnist_cached", lambda: memory_cache.DecodedSplit(fashion(), "fashion_mnist train"),
            "value_range(0, 1)", 128),
           ("imagenet_shaped_jpeg", mock_jpegs, IMAGENET_PP, 32)]
  rows = []
  for name, make_source, spec, batch_size in cases:
    source = cli.run_user_code(make_source)
    for workers in map(int, FLAGS.workers):
      rate = examples_per_sec(source, spec, batch_size, workers)
      rows.append({"pipeline": name, "batch_size": batch_size, "workers": workers,
                   "examples_per_sec": round(rate, 1)})
      print(f"{name:22s} batch {batch_size:4d} workers {workers}: {rate:10.1f} examples/s", flush=True)
  os.makedirs(FLAGS.workdir, exist_ok=True)
  with open(os.path.join(FLAGS.workdir, "results.json"), "w") as f:
    json.dump({"cpu_count": os.cpu_count(), "rows": rows}, f, indent=2)
  with open(os.path.join(FLAGS.workdir, "results.md"), "w") as f:
    f.write("| pipeline | batch | workers | examples/s |\n|---|---|---|---|\n")
    f.writelines(f"| {r['pipeline']} | {r['batch_size']} | {r['workers']} | {r['examples_per_sec']:.0f} |\n"
                 for r in rows)


if __name__ == "__main__":
  cli.run(main)
