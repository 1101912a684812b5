r"""Bag-of-words features for linear text classifiers: binary, counts and TF-IDF (op `bag_of_words`).

    dataset.preprocess = "bag_of_words('tfidf', min_df=2, max_size=20000)"   # input_key 'text'

A document becomes a float32 vector with one entry per vocabulary word. The vocabulary is fit on
the dataset's training split (`fit_split`) only, on first use, and cached next to the dataset
(`fitted`): the words (`vocab.word_tokens`: lowercased letters and digits, apostrophes inside words
kept) found in at least `min_df` training documents; of those at most the `max_size` most frequent
in the whole training text (ties broken by the word); columns in alphabetical order. Words outside
the vocabulary are dropped.

With c(t, d) the count of word t in document d, n training documents, df(t) of which hold t:

    binary   x_t = 1 if c(t, d) > 0 else 0
    count    x_t = c(t, d)
    tfidf    x_t = c(t, d) · idf(t),   idf(t) = ln((1 + n) / (1 + df(t))) + 1,   then x ← x / ‖x‖₂
             (a document with no vocabulary word stays all zeros)

These equal scikit-learn's CountVectorizer(binary=True), CountVectorizer() and TfidfVectorizer()
with its defaults (smooth_idf=True, sublinear_tf=False, norm='l2'), given the same tokenizer and
min_df=min_df, max_features=max_size (tests/data/test_text_classification.py checks it).
"""

import collections
import functools

import numpy as np

from trends_jax.data import fitted
from trends_jax.data.op_registry import register_fitted
from trends_jax.data.vocab import word_tokens
from trends_jax.errors import UserError


def fit_vocabulary(documents: list[list[str]], min_df: int = 1, max_size: int | None = None) -> dict:
  """Vocabulary and document frequencies of tokenized documents (see the module docstring)."""
  df, total = collections.Counter(), collections.Counter()
  for tokens in documents:
    total.update(tokens)
    df.update(set(tokens))
  kept = sorted((t for t, n in df.items() if n >= min_df), key=lambda t: (-total[t], t))
  kept = sorted(kept[:max_size] if max_size else kept)
  return {"tokens": kept, "df": [df[t] for t in kept], "num_documents": len(documents)}


def idf(vocabulary: dict) -> np.ndarray:
  """Smoothed inverse document frequency: ln((1 + n) / (1 + df)) + 1."""
  df = np.asarray(vocabulary["df"], np.float64)
  return (np.log((1 + vocabulary["num_documents"]) / (1 + df)) + 1).astype(np.float32)


def _binary(counts, idf_weights):
  return (counts > 0).astype(np.float32)


def _count(counts, idf_weights):
  return counts


def _tfidf(counts, idf_weights):
  x = counts * idf_weights
  norm = np.linalg.norm(x)
  return x / norm if norm > 0 else x


WEIGHTINGS = {"binary": _binary, "count": _count, "tfidf": _tfidf}


def term_counts(text: str, index: dict[str, int]) -> np.ndarray:
  counts = np.zeros(len(index), np.float32)
  for token, count in collections.Counter(word_tokens(text)).items():
    column = index.get(token)
    if column is not None:
      counts[column] = count
  return counts


def _bag_of_words(example, key, index, idf_weights, weigh):
  text = example[key]
  text = text.decode("utf-8") if isinstance(text, (bytes, np.bytes_)) else str(text)
  return {**example, key: weigh(term_counts(text, index), idf_weights)}


def vectorizer(vocabulary: dict, weighting: str, key: str = "text"):
  """The example → example function of a fit vocabulary (plain data: it pickles into workers)."""
  return functools.partial(_bag_of_words, key=key, index={t: i for i, t in enumerate(vocabulary["tokens"])},
                           idf_weights=idf(vocabulary), weigh=WEIGHTINGS[weighting])


@register_fitted("bag_of_words")
def bag_of_words(weighting: str = "tfidf", min_df: int = 1, max_size: int | None = None,
                 fit_split: str = "train", key: str = "text", source=None):
  """Document → float32 bag-of-words vector: 'binary', 'count' or 'tfidf' (module docstring)."""
  if weighting not in WEIGHTINGS:
    raise ValueError(f"weighting must be one of {', '.join(WEIGHTINGS)}, got {weighting!r}")
  if min_df < 1:
    raise ValueError(f"min_df must be >= 1, got {min_df}")
  if max_size is not None and max_size < 1:
    raise ValueError(f"max_size must be >= 1 or None, got {max_size}")
  if source is None:
    return fitted.not_fit("bag_of_words")

  def fit(train):
    documents = [word_tokens(text) for text in fitted.texts(train, key)]
    vocabulary = fit_vocabulary(documents, min_df, max_size)
    if not vocabulary["tokens"]:
      raise UserError(f"no word occurs in at least min_df={min_df} of the "
                      f"{len(documents):,} {fit_split!r} documents, so the vocabulary is empty; "
                      "lower min_df in dataset.preprocess")
    return vocabulary

  params = {"fit_split": fit_split, "key": key, "min_df": min_df, "max_size": max_size}
  return vectorizer(fitted.cached(source, "bag_of_words", params, fit), weighting, key)
