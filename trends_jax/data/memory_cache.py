"""A split decoded once and held in memory (`dataset.cache=True`), for datasets of up to a few
hundred MB such as MNIST, Fashion-MNIST and CIFAR: reading a record is then a list index instead
of a file read and a PNG decode (docs/performance.md has the rates).
"""

import os

import numpy as np

from trends_jax.data import pipeline
from trends_jax.errors import UserError

_CHUNK = 1024  # Records decoded per call: batched reads are twice as fast as single ones.


def _nbytes(record) -> int:
  return sum(np.asarray(v).nbytes for v in record.values())


def _available_memory_bytes() -> int:
  return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


class DecodedSplit:
  """Every record of `source`, decoded, in a list; read-only, so that no op edits the cache."""

  def __init__(self, source, name: str):
    estimate = _nbytes(source[0]) * len(source)
    available = _available_memory_bytes()
    if estimate > available // 2:
      raise UserError(
          f"dataset.cache=True would hold about {estimate / 2**20:,.1f} MiB of decoded {name} in memory, "
          f"more than half of the {available / 2**20:,.1f} MiB available; set --config.dataset.cache=False")
    # grain checks a restored iterator against repr(source): a cached run resumes an uncached one.
    self._description = repr(source)
    self._records = []
    for start in range(0, len(source), _CHUNK):
      for record in pipeline.read_records(source, range(start, min(start + _CHUNK, len(source)))):
        for value in record.values():
          if isinstance(value, np.ndarray):
            value.setflags(write=False)
        self._records.append(record)

  def __repr__(self) -> str:
    return self._description

  def __len__(self) -> int:
    return len(self._records)

  def __getitem__(self, index: int):
    return self._records[index]

  def __getitems__(self, indices) -> list:
    return [self._records[i] for i in indices]
