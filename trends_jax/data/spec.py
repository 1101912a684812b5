"""What the data layer reads of a config's `dataset` block, as one value.

Every public function of `trends_jax.data` and `trends_jax.data.pipeline` that reads a task's
data takes a `DatasetSpec`: the trainer builds it once (`DatasetSpec.from_config(config.dataset)`)
instead of handing each function the fields it happens to need. Defaults are the pipeline's own
(no preprocessing), so tests and scripts name only what they set.
"""

import dataclasses

import ml_collections


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
  name: str = ""
  data_dir: str | None = None
  train_split: str = "train"  # What a language model's vocabulary is built from.
  input_key: str = "image"
  label_key: str = "label"
  preprocess: str = ""
  eval_preprocess: str = ""  # Empty: the same as preprocess.
  cache: bool = False
  num_workers: int = 0
  read_threads: int = -1
  seq_len: int = 0  # > 0: a character language model (`language_model`).
  text_file: str = ""
  text_key: str = "text"

  @classmethod
  def from_config(cls, dataset: ml_collections.ConfigDict) -> "DatasetSpec":
    """The fields of config.dataset the data layer reads; the ones a task leaves out keep their defaults."""
    return cls(**{f.name: dataset[f.name] for f in dataclasses.fields(cls) if f.name in dataset})

  def for_eval(self) -> "DatasetSpec":
    """The spec evaluation reads with: its preprocessing is `eval_preprocess`, or `preprocess`."""
    return dataclasses.replace(self, preprocess=self.eval_preprocess or self.preprocess, eval_preprocess="")
