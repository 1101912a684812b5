"""Fashion-MNIST under TFDS's own name and version, built from Debian's `dataset-fashion-mnist`.

Debian re-gzipped the standard IDX files, so TFDS's builder rejects their checksums. This
subclass reads them and writes `fashion_mnist/3.0.1` exactly as TFDS would (same features, splits
and version), after which `tfds.data_source('fashion_mnist', ...)` reads it with TFDS's own
builder. TFDS's checksum files are never touched.
"""

import gzip
import os

import numpy as np
import PIL.Image
from tensorflow_datasets.image_classification import mnist as tfds_mnist

from trends_jax.errors import UserError

DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"
DIR_VARIABLE = "TRENDS_JAX_FASHION_MNIST_DIR"  # Set: the four files are read from there instead.
FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
         "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}


def read_idx(path: str) -> np.ndarray:
  """An IDX file (the MNIST format): big-endian header of dimensions, then uint8 data."""
  with gzip.open(path, "rb") as f:
    raw = f.read()
  ndim = raw[3]
  shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
  return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def source_dir() -> str:
  directory = os.environ.get(DIR_VARIABLE) or DEBIAN_DIR
  if not all(os.path.exists(os.path.join(directory, f)) for pair in FILES.values() for f in pair):
    fix = (f"put {', '.join(f for pair in FILES.values() for f in pair)} there or unset {DIR_VARIABLE}"
           if directory != DEBIAN_DIR else "run: apt-get install dataset-fashion-mnist")
    raise UserError(f"dataset 'fashion_mnist' offline needs Debian's files in {directory}; {fix}")
  return directory


class FashionMnistFromDebian(tfds_mnist.FashionMNIST, skip_registration=True):
  """Same name, version and features as TFDS's fashion_mnist; only the source files differ."""

  name = "fashion_mnist"

  def _split_generators(self, dl_manager):
    directory = source_dir()
    return {split: self._generate_examples(os.path.join(directory, images), os.path.join(directory, labels))
            for split, (images, labels) in FILES.items()}

  def _generate_examples(self, images_path, labels_path):
    images, labels = read_idx(images_path), read_idx(labels_path)
    for i, (image, label) in enumerate(zip(images, labels)):
      # PIL images, since encoding numpy arrays would need TensorFlow.
      yield i, {"image": PIL.Image.fromarray(image), "label": int(label)}
