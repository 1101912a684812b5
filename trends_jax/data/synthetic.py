"""Synthetic datasets: `dataset.name='synthetic:<name>'` reads, in every split, `NUM_EXAMPLES`
random examples of dataset `<name>`'s own features (TFDS mock data, the same examples on every
read), so that any config runs, its preprocessing included, on a machine without its data: what
benchmarks of the training step need. Nothing is read from or written to `dataset.data_dir`.
"""

import tensorflow_datasets as tfds

PREFIX = "synthetic:"
NUM_EXAMPLES = 1024


def name(dataset: str) -> str:
  """The synthetic stand-in for `dataset`."""
  return PREFIX + dataset


def real_name(dataset: str) -> str | None:
  """The dataset a synthetic name stands for; None for any other name."""
  return dataset[len(PREFIX):] if dataset.startswith(PREFIX) else None


def data_source(dataset: str, split: str, builder_kwargs: dict):
  """Random examples of `dataset`'s features; the source keeps working after mock_data ends
  (its records come from a generator seeded by index, not from files)."""
  with tfds.testing.mock_data(num_examples=NUM_EXAMPLES):
    return tfds.data_source(dataset, split=split, builder_kwargs=builder_kwargs)
