"""Character language-model data: one long text per split → character ids → windows of `seq_len`.

A config with `dataset.seq_len > 0` trains a language model: the trainer reads, instead of the
dataset's examples, non-overlapping windows of `seq_len` character ids with the next character
at every position as the label (`LanguageModelWindows`: truncated backpropagation through time,
each window starting from a zero state). The text of a split is `dataset.text_key` of every
example of the TFDS dataset `dataset.name` (shakespeare_char holds one per split), joined by blank
lines, or, with `dataset.text_file` set, that UTF-8 file cut 90/5/5% into train/validation/test.
The vocabulary is every character of the training split (ids 0 padding, 1 unknown, then by
descending count); characters seen only in other splits become the unknown id.
"""

import functools

from trends_jax.data import vocab as vocab_lib
from trends_jax.data.spec import DatasetSpec
from trends_jax.data.text_ops import LanguageModelWindows
from trends_jax.errors import UserError

FILE_SPLITS = {"train": (0.0, 0.9), "validation": (0.9, 0.95), "test": (0.95, 1.0)}


@functools.lru_cache(maxsize=4)
def _file_text(path: str) -> str:
  try:
    with open(path, encoding="utf-8") as f:
      return f.read()
  except FileNotFoundError:
    raise UserError(f"dataset.text_file {path!r} does not exist; give the path of a UTF-8 text file") from None
  except UnicodeDecodeError as e:
    raise UserError(f"dataset.text_file {path!r} is not UTF-8 ({e.reason} at byte {e.start}); "
                    "convert it, e.g. iconv -f latin1 -t utf-8") from None


@functools.lru_cache(maxsize=8)
def _split_text(name: str, split: str, data_dir: str | None, text_file: str, text_key: str) -> str:
  if text_file:
    if split not in FILE_SPLITS:
      raise UserError(f"a dataset.text_file has the splits {', '.join(FILE_SPLITS)}, not {split!r}; "
                      "set dataset.train_split / eval_split to those")
    text = _file_text(text_file)
    lo, hi = FILE_SPLITS[split]
    return text[int(len(text) * lo):int(len(text) * hi)]
  from trends_jax import data  # Here, not at the top: trends_jax.data imports this module.
  source = data.data_source(name, split, data_dir)
  if text_key not in source[0]:
    raise UserError(f"dataset {name!r} has no text feature {text_key!r}; its features: "
                    f"{', '.join(sorted(source[0]))} (set dataset.text_key)")
  values = (source[i][text_key] for i in range(len(source)))
  return "\n\n".join(v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values)


def split_text(spec: DatasetSpec, split: str) -> str:
  """The whole text of `split` of the dataset."""
  return _split_text(spec.name, split, spec.data_dir, spec.text_file, spec.text_key)


def vocabulary(spec: DatasetSpec) -> vocab_lib.Vocabulary:
  """Every character of the training split, most frequent first, after padding and unknown."""
  return _vocabulary(split_text(spec, spec.train_split))


@functools.lru_cache(maxsize=4)
def _vocabulary(text: str) -> vocab_lib.Vocabulary:
  return vocab_lib.Vocabulary.build([text])


def windows(spec: DatasetSpec, split: str) -> LanguageModelWindows:
  """Windows of `spec.seq_len` character ids over `split`, labels shifted by one character."""
  if spec.preprocess:
    raise UserError(f"a language model reads character ids, not preprocessed examples; set "
                    f"dataset.preprocess='' (got {spec.preprocess!r})")
  text = split_text(spec, split)
  if spec.seq_len >= len(text):
    raise UserError(f"dataset.seq_len={spec.seq_len} needs more than the {len(text):,} characters of the "
                    f"{split!r} split; lower --config.dataset.seq_len below {len(text)}")
  ids = vocabulary(spec).encode(text)
  return LanguageModelWindows(ids, spec.seq_len)

