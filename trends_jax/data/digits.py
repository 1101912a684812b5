"""scikit-learn's 1,797 8×8 handwritten digits (UCI), as a TFDS dataset for tiny tests.

Pixel values 0–16 are rescaled to 0–255 so that image preprocessing is the same as for MNIST.
Split with a fixed permutation: 1,437 train / 360 test.
"""

import numpy as np
import PIL.Image
import tensorflow_datasets as tfds

NUM_TEST = 360


class Digits(tfds.core.GeneratorBasedBuilder):
  """sklearn digits: 1,437 train / 360 test 8×8 grey images, 10 classes."""

  VERSION = tfds.core.Version("1.0.0")

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=__doc__,
        features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(8, 8, 1)),
            "label": tfds.features.ClassLabel(num_classes=10),
        }),
        supervised_keys=("image", "label"),
    )

  def _split_generators(self, dl_manager):
    from sklearn.datasets import load_digits
    digits = load_digits()
    images = np.round(digits.images * (255 / 16)).astype(np.uint8)
    order = np.random.default_rng(1797).permutation(len(images))
    return {"train": self._generate_examples(images, digits.target, np.sort(order[NUM_TEST:])),
            "test": self._generate_examples(images, digits.target, np.sort(order[:NUM_TEST]))}

  def _generate_examples(self, images, labels, indices):
    for i in indices:
      yield int(i), {"image": PIL.Image.fromarray(images[i]), "label": int(labels[i])}
