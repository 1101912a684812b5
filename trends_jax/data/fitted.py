"""What preprocessing ops fit on a dataset's training split, computed once and cached on disk.

A vocabulary or document frequencies must come from the training split only, whatever split is
being read (evaluation reads the test split with the training split's vocabulary). A fitted op
receives the TFDS data source it will read; `cached` opens the named split of the same dataset,
fits on it, and keeps the result as JSON inside the dataset's own folder
(`<data_dir>/<name>/<version>/fitted/<op>-<hash of the parameters>.json`), so that a fresh machine
needs no manual step, other data dirs never see a stale file, and deleting the dataset deletes
what was fit on it. A read-only data dir still works: the fit is then redone in each process.
"""

import functools
import hashlib
import json
import logging
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow_datasets as tfds

from trends_jax.errors import UserError

CACHE_FOLDER = "fitted"
FORMAT = 1  # Bump when what is stored changes: old files are then ignored.


def texts(source, key: str) -> list[str]:
  """Every example's `key` of `source`, decoded to str."""
  values = (source[i][key] for i in range(len(source)))
  return [v.decode("utf-8") if isinstance(v, (bytes, np.bytes_)) else str(v) for v in values]


def _dataset_folder(source, op: str) -> str:
  info = getattr(source, "dataset_info", None)
  if info is None:
    raise UserError(f"{op} fits on a dataset's training split, but its input is not a TFDS data "
                    "source; read it through trends_jax.data.data_source (or give the op a saved file)")
  return info.data_dir


def split_source(source, split: str, op: str):
  """The `split` of the TFDS dataset that `source` reads."""
  folder = _dataset_folder(source, op)
  builder = tfds.builder_from_directory(folder)
  if split.split("[")[0] not in builder.info.splits:
    raise UserError(f"dataset {builder.info.full_name} has no split {split!r} to fit on; "
                    f"set fit_split to one of {', '.join(sorted(builder.info.splits))}")
  return builder.as_data_source(split)


def cache_path(source, op: str, params: dict) -> str:
  """Where what `op` fits with `params` on `source`'s dataset is kept."""
  key = json.dumps({"op": op, "format": FORMAT, **params}, sort_keys=True)
  digest = hashlib.sha256(key.encode()).hexdigest()[:12]
  return os.path.join(_dataset_folder(source, op), CACHE_FOLDER, f"{op}-{digest}.json")


def cached(source, op: str, params: dict, fit: Callable[[Any], dict]) -> dict:
  """`fit(training split source)` for `params["fit_split"]`, from the cache file when it is there.

  `params` identify the result (the file name hashes them); `fit` raises UserError for a bad
  result (an empty vocabulary…) so that nothing bad is ever cached.
  """
  path = cache_path(source, op, params)
  if os.path.exists(path):
    with open(path) as f:
      return json.load(f)["fitted"]
  result = fit(split_source(source, params["fit_split"], op))
  try:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temporary = f"{path}.tmp{os.getpid()}"
    with open(temporary, "w") as f:
      json.dump({"op": op, "params": params, "fitted": result}, f, ensure_ascii=False)
    os.replace(temporary, path)  # Atomic: a concurrent reader sees the whole file or none.
  except OSError as e:
    logging.warning("could not cache %s in %s (%s); it is recomputed on each use", op, path, e)
  return result


def _not_fit(example, op):
  raise UserError(f"{op} was built without the dataset it fits on; build pipelines through "
                  "trends_jax.data.pipeline, which passes it the data source")


def not_fit(op: str):
  """Stands in for a fitted op parsed without a data source (a spec checked on its own)."""
  return functools.partial(_not_fit, op=op)
