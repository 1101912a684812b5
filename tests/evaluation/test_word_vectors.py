"""Word vectors: word2vec-format files gensim reads back, nearest words, and analogy and
word-pair evaluations that agree exactly with gensim's on the same vectors."""

import math
import os

import numpy as np
import pytest
from gensim.models import KeyedVectors

from trends_jax.data import word_eval_file
from trends_jax.errors import UserError
from trends_jax.evaluation.word_vectors import WordVectors, load_word2vec_format
from trends_jax.run import plots

PLANTED_SECTIONS = ("capital-common-countries", "family", "gram7-past-tense")


def analogy_sections() -> dict[str, list[list[str]]]:
  sections, name = {}, None
  with open(word_eval_file("questions-words"), encoding="utf-8") as f:
    for line in f:
      if line.startswith(": "):
        name = line[2:].strip()
        sections[name] = []
      elif line.split():
        sections[name].append(line.split())
  return sections


def planted_vectors(rng, noise: float, dim: int = 48) -> dict[str, np.ndarray]:
  """Words of PLANTED_SECTIONS with second = first + the section's offset (+ noise): country =
  capital + c, female = male + g, past = present participle + t."""
  sections = analogy_sections()
  vectors = {}
  for name in PLANTED_SECTIONS:
    offset = rng.normal(size=dim) / np.sqrt(dim)
    for a, b, c, d in sections[name]:
      for first, second in ((a, b), (c, d)):
        if first not in vectors:
          vectors[first] = rng.normal(size=dim) / np.sqrt(dim)
        if second not in vectors:
          vectors[second] = vectors[first] + offset + noise * rng.normal(size=dim) / np.sqrt(dim)
  return vectors


def gensim_keyed_vectors(words, vectors) -> KeyedVectors:
  keyed = KeyedVectors(vector_size=vectors.shape[1])
  keyed.add_vectors(list(words), np.asarray(vectors, dtype=np.float32))
  return keyed


# ---- word2vec files -----------------------------------------------------------------------------

NON_ASCII_WORDS = ["the", "café", "Zürich", "naïve", "日本", "Ελλάδα"]


@pytest.mark.parametrize("binary", [False, True])
def test_word2vec_files_round_trip_through_gensim_and_back(tmp_path, binary):
  rng = np.random.default_rng(0)
  # Awkward values too: tiny, huge, negative zero, exact integers.
  vectors = rng.normal(size=(len(NON_ASCII_WORDS), 7)).astype(np.float32)
  vectors[0, :4] = [1e-30, -3.4e38, -0.0, 2.0]
  path = str(tmp_path / f"vectors.{'bin' if binary else 'txt'}")
  WordVectors(NON_ASCII_WORDS, vectors).save_word2vec_format(path, binary=binary)

  keyed = KeyedVectors.load_word2vec_format(path, binary=binary)
  assert keyed.index_to_key == NON_ASCII_WORDS
  np.testing.assert_array_equal(keyed.vectors, vectors)

  loaded = load_word2vec_format(path, binary=binary)
  assert loaded.words == NON_ASCII_WORDS
  np.testing.assert_array_equal(loaded.vectors, vectors)
  assert loaded.vectors.dtype == np.float32

  # gensim's own export reads back the same with our reader.
  gensim_path = str(tmp_path / "from_gensim")
  keyed.save_word2vec_format(gensim_path, binary=binary)
  np.testing.assert_array_equal(load_word2vec_format(gensim_path, binary=binary).vectors, vectors)


def test_word2vec_bytes_are_the_c_tool_layout(tmp_path):
  vectors = np.array([[1.0, -2.5], [0.25, 3.0]], dtype=np.float32)
  words = WordVectors(["a", "é"], vectors)
  words.save_word2vec_format(str(tmp_path / "v.bin"), binary=True)
  words.save_word2vec_format(str(tmp_path / "v.txt"), binary=False)
  assert (tmp_path / "v.bin").read_bytes() == (
      b"2 2\n" + b"a " + vectors[0].astype("<f4").tobytes() + b"\n"
      + "é ".encode() + vectors[1].astype("<f4").tobytes() + b"\n")
  assert (tmp_path / "v.txt").read_text(encoding="utf-8") == "2 2\na 1.0 -2.5\né 0.25 3.0\n"


@pytest.mark.parametrize("binary, content, problem", [
    (False, b"1 2\ncaf\xe9 1.0 2.0\n", "not UTF-8"),
    (True, b"1 2\ncaf\xe9 " + bytes(8) + b"\n", "not UTF-8"),
    (False, b"3 2\na 1.0 2.0\nb 3.0 4.0\n", "says 3 words but 2 rows"),
    (False, b"2 2\na 1.0 2.0\nb 3.0 4.0 5.0\n", "has 3 numbers"),
    (True, b"3 2\na " + bytes(8) + b"\nb " + bytes(8) + b"\n", "ends at row 3"),
    (True, b"1 2\na " + bytes(8) + b"\nb " + bytes(8) + b"\n", "more data follows"),
    (False, b"hello world\n", "header"),
])
def test_bad_word2vec_files_give_one_line(tmp_path, binary, content, problem):
  path = tmp_path / "bad"
  path.write_bytes(content)
  with pytest.raises(UserError, match=problem) as error:
    load_word2vec_format(str(path), binary=binary)
  assert "\n" not in str(error.value)


def test_duplicate_or_spaced_words_are_refused():
  with pytest.raises(UserError, match="appears twice"):
    WordVectors(["a", "b", "a"], np.zeros((3, 2)))
  with pytest.raises(UserError, match="whitespace"):
    WordVectors(["a b"], np.zeros((1, 2)))


# ---- neighbours ---------------------------------------------------------------------------------

def test_nearest_by_cosine_excludes_the_word():
  words = WordVectors(["king", "queen", "apple", "monarch"],
                      [[1.0, 0.0, 0.0], [0.9, 0.3, 0.0], [0.0, 0.0, 5.0], [10.0, 1.0, 0.0]])
  neighbours = words.nearest("king", k=2)
  assert [w for w, _ in neighbours] == ["monarch", "queen"]  # cosine: length 10 is fine
  assert neighbours[0][1] == pytest.approx(10 / np.sqrt(101), rel=1e-6)
  assert [w for w, _ in words.nearest("king", k=10)] == ["monarch", "queen", "apple"]
  with pytest.raises(UserError, match="not in the vocabulary of 4 words") as error:
    words.nearest("emperor")
  assert "\n" not in str(error.value)


# ---- analogies ----------------------------------------------------------------------------------

def test_planted_offsets_solve_every_analogy_of_their_sections():
  vectors = planted_vectors(np.random.default_rng(1), noise=0.05)
  words = WordVectors(list(vectors), np.stack(list(vectors.values())))
  result = words.evaluate_analogies(word_eval_file("questions-words"))

  sections = analogy_sections()
  rows = {row["section"]: row for row in result["sections"]}
  assert list(rows) == list(sections)
  known = {word.upper() for word in vectors}
  answered = 0
  for name, questions in sections.items():
    covered = sum(all(word.upper() in known for word in question) for question in questions)
    answered += covered
    assert (rows[name]["questions"], rows[name]["total"]) == (len(questions), covered)
    if name in PLANTED_SECTIONS:
      assert rows[name]["total"] == len(questions) and rows[name]["coverage"] == 1.0
      assert rows[name]["correct"] == len(questions) and rows[name]["accuracy"] == 1.0
  # capital-world reuses some common-countries pairs: it is partly covered, and right there too.
  assert 0 < rows["capital-world"]["total"] == rows["capital-world"]["correct"]
  assert result["total"]["total"] == answered
  assert result["total"]["questions"] == sum(map(len, sections.values())) == 19544
  assert result["coverage"] == pytest.approx(answered / 19544)


@pytest.mark.parametrize("case_insensitive", [True, False])
def test_analogies_agree_with_gensim(case_insensitive):
  rng = np.random.default_rng(2)
  vectors = planted_vectors(rng, noise=2.0)  # noisy enough to get a fair share wrong
  # Case variants of some words, some more frequent than the original (so they stand for it when
  # case is folded), and unrelated words, in a shuffled frequency order.
  for word in list(vectors)[::7]:
    vectors[word.lower() if word != word.lower() else word.upper()] = rng.normal(size=48) / 7
  for i in range(300):
    vectors[f"filler{i}"] = rng.normal(size=48) / 7
  order = rng.permutation(len(vectors))
  words = [list(vectors)[i] for i in order]
  matrix = np.stack([vectors[w] for w in words]).astype(np.float32)
  restrict_vocab = len(words) - 60  # cuts some questions out

  ours = WordVectors(words, matrix).evaluate_analogies(
      word_eval_file("questions-words"), restrict_vocab=restrict_vocab,
      case_insensitive=case_insensitive)
  _, theirs = gensim_keyed_vectors(words, matrix).evaluate_word_analogies(
      word_eval_file("questions-words"), restrict_vocab=restrict_vocab,
      case_insensitive=case_insensitive)

  assert len(ours["sections"]) + 1 == len(theirs)
  for row, section in zip(ours["sections"] + [ours["total"]], theirs):
    assert row["section"] == section["section"]
    assert (row["correct"], row["total"]) == (
        len(section["correct"]), len(section["correct"]) + len(section["incorrect"]))
  assert 0.2 < ours["accuracy"] < 0.9 and 0 < ours["total"]["total"]


# ---- word pairs ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["wordsim353", "simlex999"])
def test_word_pairs_agree_with_gensim(name):
  path = word_eval_file(name)
  rng = np.random.default_rng(3)
  pair_words = []
  with open(path, encoding="utf-8") as f:
    for line in f:
      if not line.startswith("#"):
        pair_words.extend(line.split("\t")[:2])
  pair_words = list(dict.fromkeys(pair_words))
  rng.shuffle(pair_words)
  kept = pair_words[:int(0.9 * len(pair_words))]  # the rest are out of vocabulary
  # Upper-case variants before some words (they stand for them when case is folded) and after
  # others (ignored), and unrelated words.
  words = ([w.upper() for w in kept[:20]] + kept + [w.upper() for w in kept[20:40]]
           + [f"filler{i}" for i in range(50)])
  matrix = rng.normal(size=(len(words), 32)).astype(np.float32)
  restrict_vocab = len(words) - 70

  ours = WordVectors(words, matrix).evaluate_word_pairs(path, restrict_vocab=restrict_vocab)
  pearson, spearman, oov_percent = gensim_keyed_vectors(words, matrix).evaluate_word_pairs(
      path, restrict_vocab=restrict_vocab)
  assert abs(ours["spearman"] - spearman[0]) < 1e-9
  assert abs(ours["pearson"] - pearson[0]) < 1e-6
  assert ours["coverage"] == pytest.approx(1 - oov_percent / 100, abs=1e-12)
  assert ours["total"] == {"wordsim353": 353, "simlex999": 999}[name]
  assert 0 < ours["pairs"] < ours["total"]


def test_word_pairs_undefined_correlation_is_nan_and_a_wrong_file_one_line(tmp_path):
  result = WordVectors(["zzz"], np.ones((1, 3))).evaluate_word_pairs(word_eval_file("wordsim353"))
  assert math.isnan(result["spearman"]) and result["pairs"] == 0 and result["total"] == 353
  wrong = tmp_path / "questions.txt"
  wrong.write_text(": capital\nathens greece baghdad iraq\n")
  with pytest.raises(UserError, match="no 'word\tword\tscore' lines"):
    WordVectors(["zzz"], np.ones((1, 3))).evaluate_word_pairs(str(wrong))


# ---- plot ---------------------------------------------------------------------------------------

def test_analogy_offsets_plot(tmp_path):
  vectors = planted_vectors(np.random.default_rng(4), noise=0.05)
  words = WordVectors(list(vectors), np.stack(list(vectors.values())))
  path = str(tmp_path / "offsets.png")
  pairs = [("Athens", "Greece"), ("Berlin", "Germany"), ("Paris", "France"),
           ("boy", "girl"), ("king", "queen"), ("dancing", "danced")]
  plots.analogy_offsets(words, pairs, path, title="planted offsets")
  with open(path, "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  assert os.path.getsize(path) > 10_000
  with pytest.raises(UserError, match="'Atlantis' not in the vocabulary"):
    plots.analogy_offsets(words, [("Atlantis", "Greece")], path, title="")
