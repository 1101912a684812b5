"""Datasets: every task reads `tfds.data_source(...)` over array_record files, with no TensorFlow.

Project builders (`OFFLINE`) turn data that ships inside pip or Debian packages into TFDS
datasets, so that every task runs here with no network; stock TFDS names (mnist, cifar10,
imagenet2012, …) keep working for users who have one; `synthetic:<name>` is random examples of any
of them (`synthetic`); `prepare_image_folder` writes a folder of class sub-folders as a dataset
that is then read by its name (`image_folder`).
"""

import logging
import os

import numpy as np
import tensorflow_datasets as tfds

from trends_jax.data import (
  digits,
  fashion_mnist,
  image_folder,
  image_ops,
  language_model,
  memory_cache,
  mnist5k,
  pipeline,
  synthetic,
  text_corpora,
)
from trends_jax.data.spec import DatasetSpec
from trends_jax.errors import UserError

# Project builders whose sources ship in installed packages: preparing them needs no network,
# so they are prepared on first use.
OFFLINE = {
    "mnist5k": mnist5k.Mnist5k,
    "digits": digits.Digits,
    "fashion_mnist": fashion_mnist.FashionMnistFromDebian,
    "shakespeare_char": text_corpora.ShakespeareChar,
    "bbc_news": text_corpora.BbcNews,
    "w2v_corpus": text_corpora.W2vCorpus,
}
word_eval_file = text_corpora.word_eval_file

READ_KWARGS = {"file_format": "array_record"}

# TFDS warns that PIL, not OpenCV, decodes images (both are correct) and about dataset folders
# it is still probing (our own error says what to do); in grain workers too, which import this.
logging.getLogger("absl").addFilter(lambda record: not any(
    noise in record.getMessage() for noise in ("OpenCV is not installed", "has no dataset_info.json")))


def builder(name: str, data_dir: str | None = None) -> tfds.core.DatasetBuilder:
  """The TFDS builder for `name`, with unknown names reported in one line."""
  try:
    return tfds.builder(name, data_dir=data_dir, **READ_KWARGS)
  except tfds.core.registered.DatasetNotFoundError:
    where = os.path.expanduser(data_dir or tfds.core.constants.DATA_DIR)
    raise UserError(
        f"unknown dataset {name!r} in dataset.name; offline datasets: {', '.join(sorted(OFFLINE))}, "
        f"a folder dataset prepared in {where} (python experiments/prepare_data.py --image_folder=DIR "
        f"--name={name} --data_dir={where}), any TFDS catalog name (prepared with a network), "
        "or synthetic:<one of those>") from None


def prepare_image_folder(root: str, name: str, data_dir: str | None = None):
  """Writes the class sub-folders of `root` as dataset `name` (`image_folder`); returns its builder
  and the one warning line about skipped files (None if none)."""
  return image_folder.prepare(root, name, data_dir, taken=set(OFFLINE))


def prepare(name: str, data_dir: str | None = None, download: bool = False) -> tfds.core.DatasetBuilder:
  """Writes dataset `name` under `data_dir` if it is not there yet; returns its builder.

  Offline datasets are built from installed packages. Stock TFDS datasets are downloaded only
  with `download=True`; otherwise an unprepared one fails at once rather than after minutes of
  network retries.
  """
  b = builder(name, data_dir)
  if b.is_prepared():
    return b
  if name.partition("/")[0] not in OFFLINE and not download:
    root = os.path.dirname(os.path.dirname(b.data_dir))
    raise UserError(
        f"dataset {name!r} is not prepared in {b.data_dir}; on a machine with a network run "
        f"python experiments/prepare_data.py --datasets={name} --data_dir={root}, "
        f"or use an offline dataset: {', '.join(sorted(OFFLINE))}")
  tfds.disable_progress_bar()
  base_name, _, config_name = name.partition("/")
  if base_name in OFFLINE:
    # Built from installed files; stock names (fashion_mnist) are written as TFDS would.
    offline = OFFLINE[base_name](data_dir=data_dir, config=config_name or None, **READ_KWARGS)
    offline.download_and_prepare()
    return builder(name, data_dir)
  b.download_and_prepare()
  return b


def data_source(name: str, split: str, data_dir: str | None = None, encoded: str | None = None):
  """Random-access source of examples (dicts of numpy arrays) for `name`/`split`; the image feature
  named `encoded` (if the dataset has one) comes as its stored bytes, for a preprocessing that
  decodes them itself."""
  stands_for = synthetic.real_name(name)
  if stands_for is not None:
    return synthetic.data_source(stands_for, split, READ_KWARGS)
  b = prepare(name, data_dir)
  if split.split("[")[0] not in b.info.splits:  # "train[:1000]" slices a split.
    raise UserError(
        f"dataset {name!r} has no split {split!r}; its splits: {', '.join(sorted(b.info.splits))}")
  if b.info.splits[split].num_examples == 0:  # tfds.data_source fails on it with a bare ValueError.
    raise UserError(f"split {split!r} of dataset {name!r} has no examples; pick a split or slice that has "
                    "some, e.g. 'train' or 'train[:1000]'")
  decoders = None
  features = b.info.features
  if encoded in features.keys() and isinstance(features[encoded], tfds.features.Image):
    decoders = {encoded: tfds.decode.SkipDecoding()}
  return tfds.data_source(name, split=split, data_dir=data_dir, download=False,
                          builder_kwargs=READ_KWARGS, decoders=decoders)


def num_classes(name: str, data_dir: str | None = None, label_key: str = "label") -> int:
  return builder(synthetic.real_name(name) or name, data_dir).info.features[label_key].num_classes


def reads_encoded(spec: DatasetSpec) -> bool:
  """Whether images reach the preprocessing as their stored bytes: when both the training and the
  evaluation preprocessing start with an op that decodes (a source serves either), so that the
  op decodes once, at the size it needs, instead of TFDS decoding at full size first."""
  return all(image_ops.decodes_first(p) for p in (spec.preprocess, spec.for_eval().preprocess))


def examples(spec: DatasetSpec, split: str):
  """What a trainer reads from `split`: the dataset's examples (decoded into memory once with
  `spec.cache`; images as bytes where `reads_encoded`) or, for a language model
  (`spec.seq_len > 0`), windows of character ids over its text (`language_model`)."""
  if spec.seq_len > 0:
    return language_model.windows(spec, split)
  source = data_source(spec.name, split, spec.data_dir, encoded=spec.input_key if reads_encoded(spec) else None)
  return memory_cache.DecodedSplit(source, f"{spec.name} {split}") if spec.cache else source


def num_outputs(spec: DatasetSpec) -> int:
  """The model's `num_classes`: the label's classes, or a language model's vocabulary size."""
  if spec.seq_len > 0:
    return len(language_model.vocabulary(spec))
  return num_classes(spec.name, spec.data_dir, spec.label_key)


def image_arrays(name: str, split: str, data_dir: str | None = None, pool: int = 1) -> tuple[np.ndarray, np.ndarray]:
  """A whole split of an image dataset in memory: float32 images in [0, 1] and int32 labels,
  average-pooled `pool`×`pool` (pool=2 makes 28×28 images 14×14, a network 4× cheaper), for
  experiments that train many small networks on the same arrays."""
  source = data_source(name, split, data_dir)
  examples = pipeline.read_records(source, range(len(source)))
  images = np.stack([e["image"] for e in examples]).astype(np.float32) / 255.0
  if pool > 1:
    n, h, w, c = images.shape
    images = images[:, :h - h % pool, :w - w % pool].reshape(
        n, h // pool, pool, w // pool, pool, c).mean(axis=(2, 4))
  return images, np.array([e["label"] for e in examples], np.int32)


def shuffled_batches(num_examples: int, batch_size: int, num_batches: int, seed: int) -> np.ndarray:
  """[num_batches, batch_size] example indices: epochs in a new seeded order each, one after
  another, for experiments that train on in-memory arrays (`image_arrays`)."""
  rng = np.random.default_rng(seed)
  epochs = -(-num_batches * batch_size // num_examples)
  order = np.concatenate([rng.permutation(num_examples) for _ in range(epochs)])
  return order[:num_batches * batch_size].reshape(num_batches, batch_size)
