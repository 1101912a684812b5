"""Text preprocessing ops for `dataset.preprocess`, and language-model windows over one long text."""

import functools

import numpy as np

from trends_jax.data import vocab as vocab_lib
from trends_jax.data.preprocess import OPS


def _decode_text(example, key):
  value = example[key]
  return {**example, key: value.decode("utf-8") if isinstance(value, (bytes, np.bytes_)) else str(value)}


@OPS.register("decode_text")
def decode_text(key: str = "text"):
  return functools.partial(_decode_text, key=key)


def _to_ids(example, key, vocabulary, tokenize, max_len):
  text = example[key]
  text = text.decode("utf-8") if isinstance(text, (bytes, np.bytes_)) else text
  ids = vocabulary.encode(tokenize(text))[:max_len]
  return {**example, key: np.pad(ids, (0, max_len - len(ids)))}  # 0 is the padding id.


def _characters(text: str) -> list[str]:
  return list(text)


@OPS.register("words_to_ids")
def words_to_ids(vocab_path: str, max_len: int, key: str = "text"):
  """Text → int32 ids of its words, truncated or zero-padded to `max_len` (OOV id 1)."""
  if max_len <= 0:
    raise ValueError(f"max_len must be > 0, got {max_len}")
  return functools.partial(_to_ids, key=key, vocabulary=vocab_lib.Vocabulary.load(vocab_path),
                           tokenize=vocab_lib.word_tokens, max_len=max_len)


@OPS.register("chars_to_ids")
def chars_to_ids(vocab_path: str, max_len: int, key: str = "text"):
  """Text → int32 ids of its characters (a character CNN's input), truncated or zero-padded."""
  if max_len <= 0:
    raise ValueError(f"max_len must be > 0, got {max_len}")
  return functools.partial(_to_ids, key=key, vocabulary=vocab_lib.Vocabulary.load(vocab_path),
                           tokenize=_characters, max_len=max_len)


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
