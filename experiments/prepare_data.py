r"""Writes datasets in TFDS array_record format, read later through `tfds.data_source`:

    python experiments/prepare_data.py [--datasets=mnist5k,digits] [--data_dir=~/tensorflow_datasets]

Offline datasets are built from files that ship in installed packages; stock TFDS names
(mnist, cifar10, …) download and need a network (and TensorFlow for TFDS's own image builders).
"""

import time

import launch
from absl import flags

from trends_jax import data

FLAGS = flags.FLAGS
flags.DEFINE_list("datasets", sorted(data.OFFLINE), "Datasets to prepare.")
flags.DEFINE_string("data_dir", None, "TFDS data directory (default: TFDS's, ~/tensorflow_datasets).")


def main(argv):
  del argv
  for name in FLAGS.datasets:
    start = time.perf_counter()
    builder = launch.run_user_code(data.prepare, name, FLAGS.data_dir, download=True)
    counts = ", ".join(f"{split} {info.num_examples:,}" for split, info in sorted(builder.info.splits.items()))
    print(f"{name}: {counts} in {builder.data_dir} ({time.perf_counter() - start:.1f}s)", flush=True)


if __name__ == "__main__":
  launch.run(main)
