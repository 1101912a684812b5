"""Trained word vectors: word2vec-format export and import, nearest words, and the standard
evaluations (Google analogies by 3CosAdd, WordSim-353 / SimLex-999 Spearman correlation).

Pure numpy. The evaluations reproduce gensim's `KeyedVectors.evaluate_word_analogies` and
`evaluate_word_pairs` question for question (same vocabulary restriction, case folding and
skipping of out-of-vocabulary questions), so numbers from a JAX-trained model can be put next to
gensim's; the tests check that they agree exactly.
"""

import math

import numpy as np
from scipy import stats

from trends_jax.errors import UserError

# Questions scored per matrix product: 1,024 × 30,000 float32 similarities is 123 MB.
_ANALOGY_BATCH = 1024
# gensim looks at the 5 best candidates and takes the first that is not a question word.
_ANALOGY_CANDIDATES = 5


class WordVectors:
  """`words[i]` has vector `vectors[i]`; rows in descending corpus frequency, as trainers emit
  them, because the evaluations restrict themselves to the first `restrict_vocab` rows."""

  def __init__(self, words: list[str], vectors: np.ndarray):
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != len(words):
      raise UserError(f"word vectors need a (words, dim) matrix with one row per word; got shape "
                      f"{vectors.shape} for {len(words)} words")
    self.words = list(words)
    self.vectors = vectors
    self.index = {}
    for i, word in enumerate(self.words):
      if not isinstance(word, str) or not word or any(c.isspace() for c in word):
        raise UserError(f"word {i} ({word!r}) is empty or contains whitespace; words must be "
                        f"non-empty strings without spaces")
      if word in self.index:
        raise UserError(f"word {word!r} appears twice (rows {self.index[word]} and {i}); "
                        f"give each word one row")
      self.index[word] = i
    self._unit_vectors = None

  def __len__(self) -> int:
    return len(self.words)

  def __contains__(self, word: str) -> bool:
    return word in self.index

  def __getitem__(self, word: str) -> np.ndarray:
    return self.vectors[self._index_of(word)]

  @property
  def unit_vectors(self) -> np.ndarray:
    """Rows scaled to length 1 (all-zero rows stay zero)."""
    if self._unit_vectors is None:
      norms = np.linalg.norm(self.vectors, axis=1, keepdims=True)
      self._unit_vectors = self.vectors / np.where(norms > 0, norms, 1).astype(np.float32)
    return self._unit_vectors

  def _index_of(self, word: str) -> int:
    if word not in self.index:
      raise UserError(f"{word!r} is not in the vocabulary of {len(self.words)} words; check its "
                      f"spelling and case")
    return self.index[word]

  # ---- word2vec C tool formats --------------------------------------------------------------

  def save_word2vec_format(self, path: str, binary: bool) -> None:
    """The word2vec C tool's `-binary 1` or `-binary 0` output: a "V D" header line, then per
    word its UTF-8 bytes, a space and either D little-endian float32s or D decimal numbers."""
    rows, dim = self.vectors.shape
    little_endian = self.vectors.astype("<f4")
    with open(path, "wb") as f:
      f.write(f"{rows} {dim}\n".encode())
      for word, row in zip(self.words, little_endian):
        if binary:
          f.write(word.encode() + b" " + row.tobytes() + b"\n")
        else:
          # str() of a float32 is the shortest decimal that reads back to the same float32.
          f.write((word + " " + " ".join(map(str, row)) + "\n").encode())

  @classmethod
  def load_word2vec_format(cls, path: str, binary: bool) -> "WordVectors":
    """Reads what `save_word2vec_format` (or the C tool, or gensim) writes."""
    with open(path, "rb") as f:
      data = f.read()
    header_end = data.find(b"\n")
    header = data[:header_end].split() if header_end >= 0 else []
    if len(header) != 2 or not all(field.isdigit() for field in header):
      raise UserError(f"{path} does not start with a word2vec header line 'WORDS DIM'; is it a "
                      f"word2vec file (binary={binary})?")
    rows, dim = int(header[0]), int(header[1])
    read = _read_binary_rows if binary else _read_text_rows
    words, vectors = read(path, data[header_end + 1:], rows, dim)
    return cls(words, vectors)

  # ---- neighbours ---------------------------------------------------------------------------

  def nearest(self, word: str, k: int = 10) -> list[tuple[str, float]]:
    """The `k` words of highest cosine similarity to `word`, best first, without `word`."""
    i = self._index_of(word)
    similarities = self.unit_vectors @ self.unit_vectors[i]
    similarities[i] = -np.inf
    k = min(k, len(self.words) - 1)
    best = np.argpartition(-similarities, k - 1)[:k] if k > 0 else np.array([], int)
    best = best[np.argsort(-similarities[best], kind="stable")]
    return [(self.words[j], float(similarities[j])) for j in best]

  def analogy(self, a: str, b: str, c: str, k: int = 5) -> list[tuple[str, float]]:
    """a is to b as c is to ?: the `k` words nearest to b - a + c (3CosAdd on unit vectors),
    the three question words excluded, best first."""
    rows = [self._index_of(w) for w in (a, b, c)]
    target = self.unit_vectors[rows[1]] - self.unit_vectors[rows[0]] + self.unit_vectors[rows[2]]
    similarities = self.unit_vectors @ (target / np.linalg.norm(target))
    similarities[rows] = -np.inf
    best = np.argsort(-similarities, kind="stable")[:k]
    return [(self.words[j], float(similarities[j])) for j in best]

  # ---- evaluations --------------------------------------------------------------------------

  def _restricted_vocabulary(self, restrict_vocab: int, case_insensitive: bool):
    """gensim's `ok_vocab`: a folded word → the first (most frequent) of the first
    `restrict_vocab` rows that folds to it; and for each of those rows, that first row."""
    first_row, canonical = {}, []
    for i, word in enumerate(self.words[:restrict_vocab]):
      key = word.upper() if case_insensitive else word
      canonical.append(first_row.setdefault(key, i))
    return first_row, np.array(canonical, dtype=np.int64)

  def evaluate_analogies(self, path: str, restrict_vocab: int = 30000,
                         case_insensitive: bool = True) -> dict:
    """3CosAdd on an analogy file such as questions-words.txt ("a b c d" lines: a is to b as c is
    to d, under ": section" headers), exactly as gensim's `evaluate_word_analogies` scores it.

    Returns {"sections": [row, ...], "total": row, "accuracy": ..., "coverage": ...}, each row
    {section, correct, total (questions answered), questions (in the file), coverage, accuracy}.
    A question is answered when its four words are among the first `restrict_vocab` rows; the
    answer is the word nearest to b - a + c over those rows (unit vectors), a, b and c excluded.
    """
    first_row, canonical = self._restricted_vocabulary(restrict_vocab, case_insensitive)
    names, question_counts, answerable, section_of = _read_analogy_questions(
        path, first_row, case_insensitive)
    answerable = np.array(answerable, dtype=np.int64).reshape(-1, 4)
    section_of = np.array(section_of, dtype=np.int64)
    correct = np.zeros(len(answerable), dtype=bool)
    candidates = self.unit_vectors[:len(canonical)]
    for start in range(0, len(answerable), _ANALOGY_BATCH):
      a, b, c, expected = answerable[start:start + _ANALOGY_BATCH].T
      correct[start:start + _ANALOGY_BATCH] = _score_3cosadd(candidates, canonical, a, b, c,
                                                              expected)
    rows = [_analogy_row(name, int(correct[section_of == s].sum()),
                         int((section_of == s).sum()), question_counts[s])
            for s, name in enumerate(names)]
    total = _analogy_row("Total accuracy", int(correct.sum()), len(correct), sum(question_counts))
    return {"sections": rows, "total": total, "accuracy": total["accuracy"],
            "coverage": total["coverage"]}

  def evaluate_word_pairs(self, path: str, restrict_vocab: int = 300000,
                          case_insensitive: bool = True, delimiter: str = "\t") -> dict:
    """Spearman (and Pearson) correlation between cosine similarity and human similarity scores
    for "word1<TAB>word2<TAB>score" lines ('#' comments), as gensim's `evaluate_word_pairs`:
    pairs with a word outside the first `restrict_vocab` rows are skipped and counted.

    Returns {"spearman", "pearson", "pairs" (used), "total" (valid lines), "coverage"}.
    """
    first_row, _ = self._restricted_vocabulary(restrict_vocab, case_insensitive)
    gold, model, missing = [], [], 0
    unit = self.unit_vectors.astype(np.float64)
    for line in _read_utf8(path).split("\n"):
      if not line or line.startswith("#"):
        continue
      fields = line.rstrip("\r").split(delimiter)
      if len(fields) != 3:
        continue
      a, b, score = fields
      if case_insensitive:
        a, b = a.upper(), b.upper()
      try:
        score = float(score)
      except ValueError:
        continue
      if a not in first_row or b not in first_row:
        missing += 1
        continue
      gold.append(score)
      model.append(float(unit[first_row[a]] @ unit[first_row[b]]))
    if not gold and not missing:
      raise UserError(f"{path} has no 'word{delimiter}word{delimiter}score' lines; is it a word-pair file?")
    # A small vocabulary may cover fewer than two pairs: the correlation is then undefined (nan).
    correlated = len(gold) >= 2
    return {"spearman": float(stats.spearmanr(gold, model).statistic) if correlated else math.nan,
            "pearson": float(stats.pearsonr(gold, model).statistic) if correlated else math.nan,
            "pairs": len(gold), "total": len(gold) + missing,
            "coverage": len(gold) / (len(gold) + missing)}


load_word2vec_format = WordVectors.load_word2vec_format


def _read_utf8(path: str, data: bytes | None = None, first_line: int = 1) -> str:
  """`data` (by default the file's bytes) decoded; `first_line` is the line number it starts at."""
  if data is None:
    with open(path, "rb") as f:
      data = f.read()
  try:
    return data.decode("utf-8")
  except UnicodeDecodeError as e:
    line = first_line + data.count(b"\n", 0, e.start)
    raise UserError(f"{path} is not UTF-8 (line {line} has byte {data[e.start]:#04x}); re-encode "
                    f"it as UTF-8") from None


def _read_text_rows(path: str, body: bytes, rows: int, dim: int):
  lines = [line for line in _read_utf8(path, body, first_line=2).split("\n") if line.strip()]
  if len(lines) != rows:
    raise UserError(f"{path}: the header says {rows} words but {len(lines)} rows follow; fix the "
                    f"header or re-export the file")
  words, vectors = [], np.empty((rows, dim), dtype=np.float32)
  for i, line in enumerate(lines):
    # Like the C tool and gensim, split on plain spaces only (a trailing space is allowed).
    fields = line.rstrip().split(" ")
    if len(fields) != dim + 1:
      raise UserError(f"{path}: row {i + 1} ({fields[0]!r}) has {len(fields) - 1} numbers but the "
                      f"header says {dim}; fix the header or re-export the file")
    try:
      vectors[i] = np.array(fields[1:], dtype=np.float32)
    except ValueError:
      raise UserError(f"{path}: row {i + 1} ({fields[0]!r}) has a value that is not a number; "
                      f"is this a binary file (binary=True)?") from None
    words.append(fields[0])
  return words, vectors


def _read_binary_rows(path: str, body: bytes, rows: int, dim: int):
  row_bytes = 4 * dim
  mismatch = (f"{path}: the header says {rows} words of {dim} float32s, which does not match the "
              f"rows that follow")
  words, vectors = [], np.empty((rows, dim), dtype=np.float32)
  position = 0
  for i in range(rows):
    # The C tool ends each row with a newline; the next word starts after it.
    while body[position:position + 1] == b"\n":
      position += 1
    space = body.find(b" ", position)
    if space < 0 or space + 1 + row_bytes > len(body):
      raise UserError(f"{mismatch}: the file ends at row {i + 1}; fix the header or re-export it "
                      f"(or is it a text file, binary=False?)")
    try:
      word = body[position:space].decode("utf-8")
    except UnicodeDecodeError:
      raise UserError(f"{path} is not UTF-8 (word {i + 1} is {body[position:space]!r}); re-encode "
                      f"its words as UTF-8") from None
    if not word or any(c.isspace() for c in word):
      raise UserError(f"{mismatch}: row {i + 1} has no proper word; fix the header or re-export it "
                      f"(or is it a text file, binary=False?)")
    words.append(word)
    vectors[i] = np.frombuffer(body, dtype="<f4", count=dim, offset=space + 1)
    position = space + 1 + row_bytes
  if body[position:].strip():
    raise UserError(f"{mismatch}: more data follows row {rows}; fix the header or re-export it")
  return words, vectors


def _read_analogy_questions(path: str, first_row: dict, case_insensitive: bool):
  """Section names, questions per section, and the answerable questions as row indices (flat,
  4 per question) with their section numbers; gensim's parsing rules."""
  names, question_counts, answerable, section_of = [], [], [], []
  for line_number, line in enumerate(_read_utf8(path).split("\n")):
    if line.startswith(": "):
      names.append(line.lstrip(": ").strip())
      question_counts.append(0)
      continue
    words = line.split()
    if len(words) != 4:
      continue  # blank or malformed lines are not questions, as in gensim
    if not names:
      raise UserError(f"{path} line {line_number + 1} comes before any ': section' header; is it "
                      f"an analogy file like questions-words.txt?")
    question_counts[-1] += 1
    if case_insensitive:
      words = [word.upper() for word in words]
    if all(word in first_row for word in words):
      answerable.extend(first_row[word] for word in words)
      section_of.append(len(names) - 1)
  return names, question_counts, answerable, section_of


def _score_3cosadd(candidates, canonical, a, b, c, expected):
  """For a batch of questions (row indices), whether 3CosAdd picks `expected`, following gensim:
  rank all candidates by cosine to b - a + c (rows a, b, c themselves excluded), walk the best 5
  and take the first whose folded word is none of a, b, c; when all 5 are, the last one counts."""
  queries = candidates[b] + candidates[c] - candidates[a]
  similarities = queries @ candidates.T
  batch = np.arange(len(a))[:, None]
  similarities[batch, np.stack([a, b, c], axis=1)] = -np.inf
  # The best 5 by repeated argmax: a row-wise argpartition is far slower on wide rows.
  best, present = [], []
  for _ in range(min(_ANALOGY_CANDIDATES, similarities.shape[1])):
    column = similarities.argmax(axis=1)
    best.append(column)
    # With fewer than 8 candidates, some of the best may be the excluded question words.
    present.append(np.isfinite(similarities[batch[:, 0], column]))
    similarities[batch[:, 0], column] = -np.inf
  best, present = np.stack(best, axis=1), np.stack(present, axis=1)
  folded = canonical[best]
  usable = present & (folded != a[:, None]) & (folded != b[:, None]) & (folded != c[:, None])
  first_usable = np.argmax(usable, axis=1)
  last_present = present.sum(axis=1) - 1
  pick = np.where(usable.any(axis=1), first_usable, last_present)
  predicted = np.where(last_present >= 0, folded[np.arange(len(a)), np.maximum(pick, 0)], -1)
  return predicted == expected


def _analogy_row(section: str, correct: int, answered: int, questions: int) -> dict:
  return {"section": section, "correct": correct, "total": answered, "questions": questions,
          "coverage": answered / questions if questions else 0.0,
          "accuracy": correct / answered if answered else 0.0}
