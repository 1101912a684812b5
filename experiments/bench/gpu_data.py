r"""The carried data, made into the TFDS directory that experiments/bench/bench_gpu.sh's parts read:

    python experiments/bench/gpu_data.py --carry=CARRY --data_dir=TFDS_DIR

CARRY/data is what experiments/bench/gpu_wheels.sh writes:
- tfds/: datasets already prepared here (shakespeare_char, w2v_corpus/small), copied as they are;
- fashion-mnist/*.xz: Debian's four Fashion-MNIST IDX files, xz-compressed (26 MB against
  Debian's 31 MB of gzip, the difference that keeps the carry folder under 64 MiB). They are
  re-gzipped into TFDS_DIR/../fashion-mnist and written as `fashion_mnist` by trends_jax's own
  builder, pointed at that folder with $TRENDS_JAX_FASHION_MNIST_DIR;
- word_eval/: the three word-vector evaluation files from gensim's wheel,
  without gensim itself (27 MB); where gensim is not installed, bench_gpu.sh points
  $TRENDS_JAX_WORD_EVAL_DIR at them.
"""

import gzip
import lzma
import os
import shutil

from absl import flags

from trends_jax import data
from trends_jax.data import fashion_mnist
from trends_jax.run import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("carry", None, "The carry folder (experiments/bench/gpu_wheels.sh's output).")
flags.mark_flag_as_required("carry")
flags.DEFINE_string("data_dir", None, "The TFDS data directory to write.")
flags.mark_flag_as_required("data_dir")


def unpack_fashion_mnist(source: str, target: str) -> None:
  """Debian's file names and gzip format, from the carried .xz files."""
  os.makedirs(target, exist_ok=True)
  for pair in fashion_mnist.FILES.values():
    for name in pair:
      with lzma.open(os.path.join(source, name[:-len(".gz")] + ".xz")) as f, \
          gzip.open(os.path.join(target, name), "wb", compresslevel=1) as out:
        shutil.copyfileobj(f, out)


def main(argv):
  del argv
  carried = os.path.join(FLAGS.carry, "data")
  if not os.path.isdir(carried):
    cli.fail(f"{carried} does not exist; fill {FLAGS.carry} with experiments/bench/gpu_wheels.sh")
  prepared = os.path.join(carried, "tfds")
  if os.path.isdir(prepared):
    shutil.copytree(prepared, FLAGS.data_dir, dirs_exist_ok=True)
  xz_dir = os.path.join(carried, "fashion-mnist")
  if os.path.isdir(xz_dir):
    debian_dir = os.path.join(os.path.dirname(os.path.abspath(FLAGS.data_dir)), "fashion-mnist")
    unpack_fashion_mnist(xz_dir, debian_dir)
    os.environ[fashion_mnist.DIR_VARIABLE] = debian_dir
    builder = cli.run_user_code(data.prepare, "fashion_mnist", FLAGS.data_dir)
    print(f"fashion_mnist: {', '.join(f'{s} {i.num_examples:,}' for s, i in sorted(builder.info.splits.items()))}"
          f" in {FLAGS.data_dir}", flush=True)
  print(f"datasets in {FLAGS.data_dir}: {', '.join(sorted(os.listdir(FLAGS.data_dir)))}", flush=True)


if __name__ == "__main__":
  cli.run(main)
