"""A word2vec training corpus: vocabulary, the stream of word ids, and its two distributions.

As in word2vec.c and gensim: words seen fewer than `min_count` times are dropped from the
stream (not mapped to an unknown id); frequent words are randomly discarded with the
probability of Mikolov et al. (2013b) as gensim computes it; negatives are drawn from the
unigram distribution raised to the 3/4 power.
"""

import collections
import dataclasses
from collections.abc import Iterable

import numpy as np

from trends_jax.errors import UserError


@dataclasses.dataclass
class WordCorpus:
  words: list[str]  # By descending count; ties by the word, so a corpus always gives the same ids.
  counts: np.ndarray  # int64, counts[i] of words[i].
  ids: np.ndarray  # int32, the whole corpus as one stream of vocabulary ids.

  @classmethod
  def from_documents(cls, documents: Iterable[list[str]], min_count: int = 5,
                     max_vocab_size: int = 0) -> "WordCorpus":
    """Documents are token lists; they are concatenated, as word2vec.c reads text8."""
    documents = list(documents)
    counter = collections.Counter()
    for tokens in documents:
      counter.update(tokens)
    words = sorted((w for w, c in counter.items() if c >= min_count), key=lambda w: (-counter[w], w))
    if max_vocab_size:
      words = words[:max_vocab_size]
    if not words:
      most = counter.most_common(1)
      raise UserError(
          f"the vocabulary is empty: no word occurs {min_count} times (the most frequent, "
          f"{most[0][0]!r}, occurs {most[0][1]}); lower dataset.min_count or use a larger corpus"
          if most else "the corpus has no words; check dataset.name / dataset.text_file")
    index = {w: i for i, w in enumerate(words)}
    ids = np.fromiter((index[t] for tokens in documents for t in tokens if t in index), np.int32)
    return cls(words, np.array([counter[w] for w in words], np.int64), ids)

  def keep_probabilities(self, sample: float) -> np.ndarray:
    """P(keep) per word: (sqrt(c / (s·N)) + 1)·(s·N) / c, capped at 1 (gensim's formula); 1 if s = 0."""
    if sample <= 0:
      return np.ones(len(self.words), np.float32)
    threshold = sample * self.counts.sum()
    keep = (np.sqrt(self.counts / threshold) + 1) * threshold / self.counts
    return np.minimum(keep, 1.0).astype(np.float32)

  def noise_distribution(self, power: float = 0.75) -> np.ndarray:
    """P(negative = w) ∝ count(w)^power."""
    weights = self.counts.astype(np.float64) ** power
    return (weights / weights.sum()).astype(np.float32)

  def save_vocabulary(self, path: str) -> None:
    """word<TAB>count lines, in id order."""
    with open(path, "w", encoding="utf-8") as f:
      f.writelines(f"{w}\t{c}\n" for w, c in zip(self.words, self.counts))


def text_file_documents(path: str) -> list[list[str]]:
  """A UTF-8 text file, one document per line, tokens split on whitespace (word2vec.c's reading)."""
  try:
    with open(path, encoding="utf-8") as f:
      return [line.split() for line in f]
  except FileNotFoundError:
    raise UserError(f"dataset.text_file {path!r} does not exist") from None
  except UnicodeDecodeError as e:
    raise UserError(
        f"dataset.text_file {path!r} is not UTF-8 (byte 0x{e.object[e.start]:02x} at offset {e.start}); "
        f"convert it first, e.g. iconv -f latin1 -t utf-8 {path} > {path}.utf8") from None
