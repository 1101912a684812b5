"""Input pipelines: data source → grain (seeded shuffle, per-process shard, preprocess, batch) → devices.

Training batches come from a grain DataLoader (with worker processes) or from `BatchLoader`,
which reads the same batches a whole batch at a time in the training process. Either's iterator
state is saved with every checkpoint, so a resumed run sees exactly the batches an uninterrupted
run would have seen. Evaluation walks a split once in order, padding the last batch and marking
real examples with `mask`.
"""

import collections
import functools
import json
import math
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

import grain
import jax
import numpy as np

from trends_jax.data import preprocess
from trends_jax.data.spec import DatasetSpec


def _select(example, input_key: str, label_key: str):
  return {"inputs": example[input_key], "label": np.asarray(example[label_key], np.int32)}


def _transforms(spec: DatasetSpec, source=None) -> list:
  return preprocess.parse(spec.preprocess, source) + [
      preprocess.Apply(functools.partial(_select, input_key=spec.input_key, label_key=spec.label_key))]


def local_batch_size(global_batch_size: int) -> int:
  return global_batch_size // jax.process_count()


def example_batch(source, spec: DatasetSpec) -> dict:
  """The first example, preprocessed, as a batch of one: shapes for model initialization."""
  example = preprocess.apply_all(source[0], _transforms(spec, source))
  return jax.tree.map(lambda x: np.asarray(x)[None], example)


def read_options(read_threads: int = -1) -> grain.ReadOptions:
  """Threads that read and decode records; -1 picks by core count.

  grain's default (16 threads, 500 prefetched records) busy-polls its futures: on a 2-core
  machine it reads Fashion-MNIST at 1,486 examples/s against 2,886 with no read threads.
  """
  if read_threads < 0:
    cores = os.cpu_count() or 1
    read_threads = 0 if cores <= 4 else min(16, cores)
  return grain.ReadOptions(num_threads=read_threads, prefetch_buffer_size=256 if read_threads else 0)


def read_records(source, keys) -> list:
  """The records at `keys`: in one `__getitems__` call where the source has one (array_record
  reads a batch twice as fast as one record at a time), else one by one."""
  batched = getattr(source, "__getitems__", None)
  if batched is not None:
    try:
      return list(batched(keys))
    except TypeError:  # The sources of tfds.testing.mock_data break __getitems__ (TFDS 4.9).
      pass
  return [source[k] for k in keys]


class GlobalBatchSampler:
  """Each process reads only its part of every global batch, and the global batches are the same
  for any number of processes.

  The global order is one seeded shuffle of the dataset per epoch; global batch b is positions
  [b·B, (b+1)·B) of it, and process p reads positions p·B/P … (p+1)·B/P − 1 of each. A record keeps
  its random-augmentation seed (its global position), so a run on two hosts trains like a run on
  one. (Sharding the dataset by process instead would make the batches depend on the host count.)
  """

  def __init__(self, num_records: int, global_batch_size: int, seed: int,
               process_index: int = 0, process_count: int = 1):
    # What grain's IndexSampler(shuffle=True, seed=seed) reads, and the generators it gives
    # (tests/data/test_pipeline.py checks both against it): a new permutation every epoch.
    self._record_keys = grain.MapDataset.range(num_records).shuffle(seed=seed)
    self._seed = seed
    self._global_batch = global_batch_size
    self._local_batch = global_batch_size // process_count
    self._offset = process_index * self._local_batch
    # Every process has read the same local positions at any step, so one saved iterator state
    # (process 0's) restores all of them: the description leaves the process index out.
    self._description = (f"GlobalBatchSampler(num_records={num_records}, global_batch_size={global_batch_size}, "
                         f"seed={seed}, process_count={process_count})")
    if process_count == 1:
      # grain checks a restored iterator against repr(sampler). With one process this reads what
      # the per-process IndexSampler read before it, record for record: keep its repr, so that
      # checkpoints written before still resume.
      self._description = repr(grain.samplers.IndexSampler(
          num_records, shard_options=grain.sharding.ShardByJaxProcess(drop_remainder=True),
          shuffle=True, num_epochs=None, seed=seed))

  def __repr__(self) -> str:
    return self._description

  def __len__(self) -> int:
    return sys.maxsize  # Endless.

  def _global_position(self, index: int) -> int:
    batch, position = divmod(index, self._local_batch)
    return batch * self._global_batch + self._offset + position

  def record_key(self, index: int) -> int:
    return self._record_keys[self._global_position(index)]

  def rng(self, index: int) -> np.random.Generator:
    """The record's augmentation generator, seeded by its global position."""
    return np.random.Generator(np.random.Philox(key=self._seed + self._global_position(index)))

  def __getitem__(self, index: int) -> grain.RecordMetadata:
    return grain.RecordMetadata(index=index, record_key=self.record_key(index), rng=self.rng(index))


class BatchLoader:
  """grain's DataLoader with no worker processes, reading a whole batch per call.

  The DataLoader spends tens of microseconds of Python per record on its own machinery, which a
  small model's step cannot hide on a machine with few cores (docs/performance.md). This reads the
  batch's records in one `__getitems__` call and runs the same transforms with the same per-record
  generators, so it yields the DataLoader's batches exactly, and its state is the DataLoader's
  state: a checkpoint written by either resumes with either.
  """

  def __init__(self, source, sampler: GlobalBatchSampler, transforms: list, batch_size: int):
    self._source = source
    self._sampler = sampler
    self._transforms = transforms
    self._random = preprocess.is_random(transforms)
    self._batch_size = batch_size
    self._next_index = 0  # The sampler position of the next record to read.

  def __iter__(self):
    return self

  def __next__(self) -> dict:
    indices = range(self._next_index, self._next_index + self._batch_size)
    keys = [self._sampler.record_key(i) for i in indices]
    records = read_records(self._source, keys)
    # A generator costs 9 µs: made only for random transforms.
    rngs = [self._sampler.rng(i) for i in indices] if self._random else [None] * len(keys)
    examples = [preprocess.apply_all(r, self._transforms, rng) for r, rng in zip(records, rngs)]
    self._next_index += self._batch_size
    return jax.tree.map(lambda *xs: np.stack(xs), *examples)

  def get_state(self) -> bytes:
    return json.dumps({
        "version": 2, "last_seen_indices": {"0": self._next_index - 1}, "last_worker_index": -1,
        "worker_count": 0, "sampler": repr(self._sampler), "data_source": repr(self._source),
    }).encode()

  def set_state(self, state: bytes) -> None:
    state = json.loads(state)
    for key, expected in (("worker_count", 0), ("sampler", repr(self._sampler)),
                          ("data_source", repr(self._source))):
      if state[key] != expected:
        raise ValueError(f"{key} in checkpoint does not match the loader's: {state[key]!r} != {expected!r}")
    self._next_index = state["last_seen_indices"]["0"] + 1


def train_loader(source, spec: DatasetSpec, *, global_batch_size: int, seed: int):
  """Endless, reshuffled every epoch; each process reads its part of every global batch.

  With worker processes (`spec.num_workers`), grain's DataLoader (decoding in parallel, for large
  images); without, a `BatchLoader` that reads the same batches faster.
  """
  sampler = GlobalBatchSampler(len(source), global_batch_size, seed,
                               jax.process_index(), jax.process_count())
  transforms = _transforms(spec, source)
  if spec.num_workers == 0:
    return BatchLoader(source, sampler, transforms, local_batch_size(global_batch_size))
  operations = transforms + [grain.transforms.Batch(local_batch_size(global_batch_size), drop_remainder=True)]
  return grain.DataLoader(data_source=source, sampler=sampler, operations=operations,
                          shard_options=grain.sharding.NoSharding(),  # The sampler picks each process's part.
                          worker_count=spec.num_workers, read_options=read_options(spec.read_threads))


def eval_batches(source, spec: DatasetSpec, *, global_batch_size: int) -> Iterator[dict]:
  """One ordered pass with the evaluation preprocessing (`spec.for_eval()`); every process yields
  the same number of batches (padded, `mask`=0)."""
  transforms = _transforms(spec.for_eval(), source)
  per_process = local_batch_size(global_batch_size)
  num_batches = math.ceil(len(source) / global_batch_size)
  offset = jax.process_index() * per_process
  positions = (np.arange(num_batches)[:, None] * global_batch_size + offset
               + np.arange(per_process)[None, :]).reshape(-1)
  dataset = grain.MapDataset.source(source).seed(0)  # Seeded in case an eval op is random.
  for t in transforms:
    dataset = dataset.map(t)
  template = None
  for b in range(num_batches):
    chunk = positions[b * per_process:(b + 1) * per_process]
    examples = [dataset[int(i)] for i in chunk if i < len(source)]
    template = template or examples[0]
    mask = np.zeros(per_process, np.float32)
    mask[:len(examples)] = 1.0
    padding = [jax.tree.map(np.zeros_like, template)] * (per_process - len(examples))
    batch = jax.tree.map(lambda *xs: np.stack(xs), *(examples + padding))
    yield {**batch, "mask": mask}


class PrefetchToDevice:
  """Keeps the next batches on the devices while the current step runs.

  Tracks the loader state that goes with the last batch handed out (not the last one read), so
  that a checkpoint records exactly what training has consumed.
  """

  def __init__(self, loader_iterator, put: Callable[[Any], Any], size: int = 2):
    self._iterator = loader_iterator
    self._put = put
    self._size = size
    self._queue: collections.deque = collections.deque()
    self._consumed_state = self._iterator.get_state()  # Raw bytes: parsed only when saved.

  def _fill(self):
    while len(self._queue) < self._size:
      host_batch = next(self._iterator)
      self._queue.append((self._put(host_batch), self._iterator.get_state()))

  def __iter__(self):
    return self

  def __next__(self):
    self._fill()
    batch, self._consumed_state = self._queue.popleft()
    self._fill()
    return batch

  def state(self) -> dict:
    """Loader state after the last batch returned by `next`, for checkpoints."""
    return json.loads(self._consumed_state)


def restore_loader_state(loader_iterator, state: dict) -> None:
  loader_iterator.set_state(json.dumps(state).encode())
