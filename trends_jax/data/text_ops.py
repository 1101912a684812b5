"""Text preprocessing ops for `dataset.preprocess`, and language-model windows over one long text.

`words_to_ids` and `chars_to_ids` read a saved vocabulary, or fit one on the dataset's training
split on first use and cache it next to the dataset (`fitted`).
"""

import functools

import numpy as np

from trends_jax.data import fitted, vocab as vocab_lib
from trends_jax.data.op_registry import register, register_fitted
from trends_jax.errors import UserError


def _decode_text(example, key):
  value = example[key]
  return {**example, key: value.decode("utf-8") if isinstance(value, (bytes, np.bytes_)) else str(value)}


@register("decode_text")
def decode_text(key: str = "text"):
  return functools.partial(_decode_text, key=key)


def _to_ids(example, key, vocabulary, tokenize, max_len):
  text = example[key]
  text = text.decode("utf-8") if isinstance(text, (bytes, np.bytes_)) else text
  ids = vocabulary.encode(tokenize(text)[:max_len])
  return {**example, key: np.pad(ids, (0, max_len - len(ids)))}  # 0 is the padding id.


def _characters(text: str) -> list[str]:
  return list(text)


def _lowercase_characters(text: str) -> list[str]:
  return list(text.lower())


def _vocabulary(op, vocab_path, source, tokenize, params):
  """The saved vocabulary at `vocab_path`, or one fit on the training split and cached (`fitted`).

  `params` (fit_split, key, min_count, max_size and what else changes the tokens) name the cache file.
  """
  if vocab_path:
    return vocab_lib.Vocabulary.load(vocab_path)

  def fit(train):
    documents = fitted.texts(train, params["key"])
    vocabulary = vocab_lib.Vocabulary.build((tokenize(t) for t in documents), params["min_count"],
                                            params["max_size"])
    if len(vocabulary) <= 2:
      raise UserError(f"no token occurs at least min_count={params['min_count']} times in the "
                      f"{len(documents):,} {params['fit_split']!r} documents, so the vocabulary is "
                      "empty; lower min_count in dataset.preprocess")
    return {"tokens": vocabulary.tokens}

  return vocab_lib.Vocabulary(fitted.cached(source, op, params, fit)["tokens"])


def _check(max_len, min_count, max_size):
  if max_len <= 0:
    raise ValueError(f"max_len must be > 0, e.g. max_len=1014, got {max_len}")
  if min_count < 1:
    raise ValueError(f"min_count must be >= 1, got {min_count}")
  if max_size is not None and max_size < 3:
    raise ValueError(f"max_size must be >= 3 (padding, unknown and one token) or None, got {max_size}")


@register_fitted("words_to_ids")
def words_to_ids(vocab_path: str = "", max_len: int = 0, min_count: int = 1, max_size: int | None = None,
                 fit_split: str = "train", key: str = "text", source=None):
  """Text → int32 ids of its words, truncated or zero-padded to `max_len` (OOV id 1).

  The vocabulary is the file `vocab_path` (a saved `Vocabulary`) or, without one, the words of
  the dataset's `fit_split` seen at least `min_count` times, at most `max_size` ids with padding
  and OOV, fit on first use and cached next to the dataset.
  """
  _check(max_len, min_count, max_size)
  if source is None and not vocab_path:
    return fitted.not_fit("words_to_ids")
  vocabulary = _vocabulary("words_to_ids", vocab_path, source, vocab_lib.word_tokens,
                           {"fit_split": fit_split, "key": key, "min_count": min_count, "max_size": max_size})
  return functools.partial(_to_ids, key=key, vocabulary=vocabulary, tokenize=vocab_lib.word_tokens,
                           max_len=max_len)


@register_fitted("chars_to_ids")
def chars_to_ids(vocab_path: str = "", max_len: int = 0, min_count: int = 1, max_size: int | None = None,
                 lowercase: bool = False, fit_split: str = "train", key: str = "text", source=None):
  """Text → int32 ids of its characters (a character CNN's input), truncated or zero-padded.

  Ids 0 padding, 1 out of vocabulary, then characters by descending count in the training split,
  so `max_size` keeps the most frequent (Zhang et al. 2015: 70 characters, lowercased). The
  vocabulary comes from `vocab_path` or is fit on `fit_split` and cached, as in `words_to_ids`.
  """
  _check(max_len, min_count, max_size)
  if source is None and not vocab_path:
    return fitted.not_fit("chars_to_ids")
  tokenize = _lowercase_characters if lowercase else _characters
  vocabulary = _vocabulary("chars_to_ids", vocab_path, source, tokenize,
                           {"fit_split": fit_split, "key": key, "min_count": min_count, "max_size": max_size,
                            "lowercase": lowercase})
  return functools.partial(_to_ids, key=key, vocabulary=vocabulary, tokenize=tokenize, max_len=max_len)


class LanguageModelWindows:
  """Random-access source of non-overlapping windows of a token-id stream: predict the next id.

  Example i is {"inputs": ids[iL : iL+L], "label": ids[iL+1 : iL+L+1]} for L = seq_len.
  """

  def __init__(self, ids: np.ndarray, seq_len: int):
    if seq_len <= 0:
      raise ValueError(f"seq_len must be > 0, got {seq_len}")
    if len(ids) < seq_len + 1:
      raise ValueError(f"a text of {len(ids)} tokens is shorter than one window of {seq_len} + 1")
    self.ids, self.seq_len = np.asarray(ids, np.int32), seq_len

  def __len__(self) -> int:
    return (len(self.ids) - 1) // self.seq_len

  def __getitem__(self, index: int) -> dict:
    if not 0 <= index < len(self):
      raise IndexError(index)
    start = index * self.seq_len
    return {"inputs": self.ids[start:start + self.seq_len],
            "label": self.ids[start + 1:start + self.seq_len + 1]}
