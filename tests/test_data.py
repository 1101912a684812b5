"""Offline datasets through tfds.data_source, the grain pipeline, and data errors."""

import time

import numpy as np
import pytest
import tensorflow_datasets as tfds

from trends_jax import data
from trends_jax.data import pipeline, preprocess
from trends_jax.errors import UserError


@pytest.mark.parametrize("name, shape, counts", [
    ("mnist5k", (28, 28, 1), {"train": 4000, "test": 1000}),
    ("digits", (8, 8, 1), {"train": 1437, "test": 360}),
])
def test_offline_builder_end_to_end(data_dir, name, shape, counts):
  for split, count in counts.items():
    source = data.data_source(name, split, data_dir)
    assert len(source) == count
    example = source[0]
    assert example["image"].shape == shape and example["image"].dtype == np.uint8
    labels = np.array([source[i]["label"] for i in range(len(source))])
    # Balanced-ish real labels over all 10 classes.
    assert set(labels.tolist()) == set(range(10))
    assert np.bincount(labels).min() >= count // 10 * 0.6
  # Readable with plain TFDS too, as the contract promises.
  plain = tfds.data_source(name, split="test", data_dir=data_dir, builder_kwargs={"file_format": "array_record"})
  assert len(plain) == counts["test"]


def test_mnist5k_splits_are_disjoint_real_digits(data_dir):
  train = data.data_source("mnist5k", "train", data_dir)
  test = data.data_source("mnist5k", "test", data_dir)
  train_images = {train[i]["image"].tobytes() for i in range(len(train))}
  assert not any(test[i]["image"].tobytes() in train_images for i in range(len(test)))
  # MNIST's mean pixel is 0.1307 × 255 ≈ 33: these are real digits, not noise or blanks.
  assert 25 < np.mean([test[i]["image"].mean() for i in range(len(test))]) < 45


def _loader(source, seed=0):
  return pipeline.train_loader(source, global_batch_size=16, seed=seed, preprocess_spec="value_range(0, 1)")


def test_train_batches_are_seeded_and_resume_exactly(data_dir):
  source = data.data_source("digits", "train", data_dir)
  first = [next(it)["label"] for it in [iter(_loader(source))] for _ in range(5)]
  again = iter(_loader(source))
  assert all(np.array_equal(a, next(again)["label"]) for a in first)
  other_seed = iter(_loader(source, seed=1))
  assert not np.array_equal(next(other_seed)["label"], first[0])

  iterator = iter(_loader(source))
  for _ in range(3):
    next(iterator)
  prefetch = pipeline.PrefetchToDevice(iterator, put=lambda b: b, size=2)
  consumed = next(prefetch)  # Batch 4; batches 5 and 6 are already read ahead.
  resumed = iter(_loader(source))
  pipeline.restore_loader_state(resumed, prefetch.state())
  np.testing.assert_array_equal(next(resumed)["label"], next(prefetch)["label"])
  assert not np.array_equal(consumed["label"], next(prefetch)["label"])


def test_batch_shapes_dtypes_and_ranges(data_dir):
  batch = next(iter(_loader(data.data_source("mnist5k", "train", data_dir))))
  assert batch["inputs"].shape == (16, 28, 28, 1) and batch["inputs"].dtype == np.float32
  assert batch["label"].dtype == np.int32
  assert 0.0 <= batch["inputs"].min() and batch["inputs"].max() <= 1.0 and batch["inputs"].max() > 0.9


def test_eval_batches_cover_the_split_once_with_padding(data_dir):
  source = data.data_source("digits", "test", data_dir)  # 360 = 2 × 128 + 104
  batches = list(pipeline.eval_batches(source, global_batch_size=128))
  assert len(batches) == 3
  assert [int(b["mask"].sum()) for b in batches] == [128, 128, 104]
  labels = np.concatenate([b["label"][b["mask"] > 0] for b in batches])
  np.testing.assert_array_equal(labels, [source[i]["label"] for i in range(len(source))])


def test_preprocess_ops():
  example = {"image": np.full((2, 2, 1), 255, np.uint8), "label": 3}
  example = preprocess.apply_all(example, preprocess.parse("value_range(-1, 1)|standardize((0.5,), (2.0,))|flatten"))
  np.testing.assert_allclose(example["image"], [0.25] * 4)


@pytest.mark.parametrize("spec, message", [
    ("value_range(0, 1", "cannot parse"),
    ("blur(3)", "unknown preprocessing op 'blur'"),
    ("value_range(lo=x)", "arguments must be literals"),
    ("flatten(1, 2, 3)", "flatten"),
    ("inception_crop(0)", "image size must be a positive int"),
    ("random_crop((32, -1), pad=4)", "image size must be a positive int"),
    ("resize_small(-5)", "image size must be a positive int"),
])
def test_bad_preprocess_spec_is_one_line(spec, message):
  with pytest.raises(UserError, match=message) as e:
    preprocess.parse(spec)
  assert "\n" not in str(e.value)


def test_unprepared_stock_dataset_fails_fast(tmp_path):
  start = time.perf_counter()
  with pytest.raises(UserError, match=r"'mnist' is not prepared .* --datasets=mnist --data_dir="):
    data.data_source("mnist", "train", str(tmp_path))
  assert time.perf_counter() - start < 10


def test_unknown_dataset_lists_the_offline_ones(tmp_path):
  with pytest.raises(UserError, match="offline datasets: bbc_news, digits, fashion_mnist, mnist5k"):
    data.data_source("mnist5000", "train", str(tmp_path))


def test_stock_name_through_mock_data():
  """Stock TFDS names go through the same data_source path (mocked: no network here)."""
  with tfds.testing.mock_data(num_examples=20):
    source = tfds.data_source("mnist", split="train", builder_kwargs={"file_format": "array_record"})
    batch = next(iter(pipeline.train_loader(source, global_batch_size=8, seed=0,
                                            preprocess_spec="value_range(0, 1)")))
  assert batch["inputs"].shape == (8, 28, 28, 1)
