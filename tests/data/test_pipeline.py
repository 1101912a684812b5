"""Offline datasets through tfds.data_source, the grain pipeline, and data errors."""

import json
import time

import numpy as np
import pytest
import tensorflow_datasets as tfds

from trends_jax import data
from trends_jax.data import DatasetSpec, pipeline, preprocess, synthetic
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
  spec = DatasetSpec(preprocess="value_range(0, 1)")
  return pipeline.train_loader(source, spec, global_batch_size=16, seed=seed)


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
  batches = list(pipeline.eval_batches(source, DatasetSpec(), global_batch_size=128))
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
    batch = next(iter(pipeline.train_loader(source, DatasetSpec(preprocess="value_range(0, 1)"),
                                            global_batch_size=8, seed=0)))
  assert batch["inputs"].shape == (8, 28, 28, 1)


def _grain_loader(source, spec, seed, batch_size):
  """grain's own DataLoader over the project's sampler: what `BatchLoader` must match."""
  import grain
  sampler = pipeline.GlobalBatchSampler(len(source), batch_size, seed)
  operations = pipeline._transforms(DatasetSpec(preprocess=spec), source) + [
      grain.transforms.Batch(batch_size, drop_remainder=True)]
  return grain.DataLoader(data_source=source, sampler=sampler, operations=operations,
                          shard_options=grain.sharding.NoSharding(), worker_count=0)


@pytest.mark.parametrize("spec", ["random_crop(6, pad=1)|flip_lr|value_range(0, 1)", "value_range(0, 1)"])
def test_batch_loader_reads_what_grains_data_loader_reads(data_dir, spec):
  source = data.data_source("digits", "train", data_dir)  # 1,437 records: 3 epochs in 70 batches of 64.
  theirs = iter(_grain_loader(source, spec, seed=5, batch_size=64))
  ours = pipeline.train_loader(source, DatasetSpec(preprocess=spec), global_batch_size=64, seed=5)
  assert isinstance(ours, pipeline.BatchLoader)
  for step in range(70):
    a, b = next(theirs), next(ours)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a), step
    assert json.loads(theirs.get_state()) == json.loads(ours.get_state()), step
  # Either one's checkpointed state resumes the other at the same batch.
  resumed_ours = pipeline.train_loader(source, DatasetSpec(preprocess=spec), global_batch_size=64, seed=5)
  resumed_ours.set_state(theirs.get_state())
  resumed_theirs = iter(_grain_loader(source, spec, seed=5, batch_size=64))
  resumed_theirs.set_state(ours.get_state())
  expected = next(ours)
  for resumed in (resumed_ours, resumed_theirs):
    np.testing.assert_array_equal(next(resumed)["inputs"], expected["inputs"])


def test_sampler_reads_what_grains_index_sampler_reads():
  import grain
  ours = pipeline.GlobalBatchSampler(100, 10, seed=7)
  theirs = grain.samplers.IndexSampler(100, shuffle=True, num_epochs=None, seed=7)
  for index in range(0, 350, 7):  # Three and a half epochs.
    assert ours[index].record_key == theirs[index].record_key
    np.testing.assert_array_equal(ours.rng(index).integers(0, 2**31, 4), theirs[index].rng.integers(0, 2**31, 4))


def test_a_decoded_split_reads_like_its_source_and_cannot_be_edited(data_dir):
  from trends_jax.data import memory_cache
  source = data.data_source("digits", "test", data_dir)
  cached = memory_cache.DecodedSplit(source, "digits test")
  assert len(cached) == len(source) and repr(cached) == repr(source)
  for i in (0, 17, len(source) - 1):
    assert cached[i].keys() == source[i].keys()
    np.testing.assert_array_equal(cached[i]["image"], source[i]["image"])
    assert cached[i]["label"] == source[i]["label"]
  with pytest.raises(ValueError, match="read-only"):
    cached[0]["image"][0, 0, 0] = 1
  # The same batches, and a state saved reading one resumes reading the other.
  spec = "random_crop(6, pad=1)|value_range(0, 1)"
  plain = pipeline.train_loader(source, DatasetSpec(preprocess=spec), global_batch_size=32, seed=1)
  fast = pipeline.train_loader(cached, DatasetSpec(preprocess=spec), global_batch_size=32, seed=1)
  for _ in range(13):
    np.testing.assert_array_equal(next(plain)["inputs"], next(fast)["inputs"])
  resumed = pipeline.train_loader(cached, DatasetSpec(preprocess=spec), global_batch_size=32, seed=1)
  resumed.set_state(plain.get_state())
  np.testing.assert_array_equal(next(resumed)["inputs"], next(plain)["inputs"])


def test_caching_a_split_larger_than_half_the_free_memory_is_refused_before_reading(data_dir, monkeypatch):
  from trends_jax.data import memory_cache
  source = data.data_source("mnist5k", "train", data_dir)
  monkeypatch.setattr(memory_cache, "_available_memory_bytes", lambda: 4 * 2**20)
  with pytest.raises(UserError, match=r"about 3\.0 MiB of decoded mnist5k train in memory, more than half of "
                                      r"the 4\.0 MiB available; set --config.dataset.cache=False"):
    memory_cache.DecodedSplit(source, "mnist5k train")


def test_synthetic_name_reads_random_examples_of_the_features_and_no_data_dir(tmp_path):
  data_dir = str(tmp_path / "nothing_here")
  spec = DatasetSpec(name="synthetic:fashion_mnist", data_dir=data_dir, preprocess="value_range(0, 1)")
  source = data.examples(spec, "test")
  assert len(source) == synthetic.NUM_EXAMPLES and source[0]["image"].shape == (28, 28, 1)
  np.testing.assert_array_equal(source[3]["image"], data.data_source(spec.name, "test")[3]["image"])
  assert data.num_outputs(spec) == 10
  batch = next(iter(pipeline.train_loader(source, spec, global_batch_size=8, seed=0)))
  assert batch["inputs"].shape == (8, 28, 28, 1) and batch["inputs"].dtype == np.float32
  assert not (tmp_path / "nothing_here").exists()
