"""Word and character vocabularies: build from text with a minimum count, encode with an OOV id."""

import collections
import json
import re
from collections.abc import Iterable

import numpy as np

PAD, OOV = "<pad>", "<unk>"
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def word_tokens(text: str) -> list[str]:
  """Lowercased words and numbers; apostrophes inside words kept (don't, king's)."""
  return _WORD.findall(text.lower())


class Vocabulary:
  """Token ↔ id. Id 0 is padding and id 1 out-of-vocabulary; the rest by descending count."""

  def __init__(self, tokens: list[str]):
    if tokens[:2] != [PAD, OOV]:
      raise ValueError(f"a vocabulary starts with {PAD!r}, {OOV!r}")
    self.tokens = list(tokens)
    self.index = {t: i for i, t in enumerate(self.tokens)}

  @classmethod
  def build(cls, sequences: Iterable[Iterable[str]], min_count: int = 1,
            max_size: int | None = None) -> "Vocabulary":
    counts = collections.Counter()
    for sequence in sequences:
      counts.update(sequence)
    # Ties broken by the token itself, so the same text always gives the same ids.
    kept = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
    if max_size is not None:
      kept = kept[:max(0, max_size - 2)]
    return cls([PAD, OOV] + kept)

  def __len__(self) -> int:
    return len(self.tokens)

  def encode(self, tokens: Iterable[str]) -> np.ndarray:
    return np.array([self.index.get(t, 1) for t in tokens], np.int32)

  def decode(self, ids: Iterable[int]) -> list[str]:
    return [self.tokens[int(i)] for i in ids]

  def save(self, path: str) -> None:
    with open(path, "w") as f:
      json.dump(self.tokens, f, ensure_ascii=False)

  @classmethod
  def load(cls, path: str) -> "Vocabulary":
    with open(path) as f:
      return cls(json.load(f))
