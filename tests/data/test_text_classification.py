"""Text classification: bag-of-words and TF-IDF features (by hand and against scikit-learn),
vocabularies fit on the training split and cached, the character CNN, and every text model training."""

import importlib.util
import json
import os
import pickle

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

from tests.conftest import REPO
from trends_jax import data, models
from trends_jax.data import fitted, pipeline, preprocess, text_features
from trends_jax.data.vocab import word_tokens
from trends_jax.errors import UserError
from trends_jax.training import loop

DOCUMENTS = ["cat dog dog", "dog fish", "fish fish fish bird"]


def _run(transforms, text):
  return preprocess.apply_all({"text": text}, transforms)["text"]


def _bbc(data_dir, split):
  return data.data_source("bbc_news", split, data_dir)


def _load_config(name, arg):
  spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, "configs", f"{name}.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)


def test_bag_of_words_by_hand():
  vocabulary = text_features.fit_vocabulary([word_tokens(d) for d in DOCUMENTS])
  assert vocabulary == {"tokens": ["bird", "cat", "dog", "fish"], "df": [1, 1, 2, 2], "num_documents": 3}
  features = {w: text_features.vectorizer(vocabulary, w) for w in text_features.WEIGHTINGS}
  first = {"text": b"cat dog dog"}
  np.testing.assert_array_equal(features["binary"](first)["text"], [0, 1, 1, 0])
  np.testing.assert_array_equal(features["count"](first)["text"], [0, 1, 2, 0])
  # idf = ln((1 + 3) / (1 + df)) + 1: ln 2 + 1 for df 1 (cat), ln(4/3) + 1 for df 2 (dog, twice).
  cat, dog = np.log(2) + 1, 2 * (np.log(4 / 3) + 1)
  tfidf = features["tfidf"](first)["text"]
  np.testing.assert_allclose(tfidf, np.array([0, cat, dog, 0]) / np.hypot(cat, dog), rtol=1e-6)
  assert tfidf.dtype == np.float32 and abs(np.linalg.norm(tfidf) - 1) < 1e-6
  # Out-of-vocabulary words are dropped; a document with none stays zero (no division by 0).
  np.testing.assert_array_equal(features["tfidf"]({"text": "zebra"})["text"], [0, 0, 0, 0])
  # min_df counts documents (fish: 4 times in 2 documents); max_size keeps the most frequent words.
  tokens = [word_tokens(d) for d in DOCUMENTS]
  assert text_features.fit_vocabulary(tokens, min_df=2)["tokens"] == ["dog", "fish"]
  assert text_features.fit_vocabulary(tokens, max_size=2)["tokens"] == ["dog", "fish"]
  assert text_features.fit_vocabulary(tokens, max_size=1)["tokens"] == ["fish"]


def test_features_match_scikit_learn_on_bbc_news(data_dir):
  train_texts, test_source = fitted.texts(_bbc(data_dir, "train"), "text"), _bbc(data_dir, "test")
  test_texts = fitted.texts(test_source, "text")[:50]
  common = dict(tokenizer=word_tokens, lowercase=False, token_pattern=None, min_df=2)
  oracles = {"binary": CountVectorizer(binary=True, **common), "count": CountVectorizer(**common),
             "tfidf": TfidfVectorizer(**common)}  # Defaults: smooth_idf, norm='l2', raw tf.
  for weighting, oracle in oracles.items():
    oracle.fit(train_texts)
    # Parsed with the test split as its input, the op still fits on the training split.
    transforms = preprocess.parse(f"bag_of_words({weighting!r}, min_df=2)", test_source)
    ours = np.stack([_run(transforms, t) for t in test_texts])
    np.testing.assert_allclose(ours, oracle.transform(test_texts).toarray(), rtol=1e-5, atol=1e-7)
  assert len(oracle.get_feature_names_out()) == ours.shape[1]


def test_vocabulary_is_fit_on_train_only_cached_and_pickles(data_dir, monkeypatch):
  test_source = _bbc(data_dir, "test")
  spec = "bag_of_words('count', min_df=1, max_size=123456)"  # Parameters no other test uses.
  params = {"fit_split": "train", "key": "text", "min_df": 1, "max_size": 123456}
  path = fitted.cache_path(test_source, "bag_of_words", params)
  assert not os.path.exists(path)
  transforms = preprocess.parse(spec, test_source)
  with open(path) as f:
    vocabulary = json.load(f)["fitted"]
  assert path.startswith(os.path.join(data_dir, "bbc_news"))
  train_words = {w for t in fitted.texts(_bbc(data_dir, "train"), "text") for w in word_tokens(t)}
  test_words = {w for t in fitted.texts(test_source, "text") for w in word_tokens(t)}
  assert set(vocabulary["tokens"]) == train_words and vocabulary["num_documents"] == 1781
  assert test_words - train_words  # Words only the test split has are not features.

  def refit(*args, **kwargs):
    raise AssertionError("fit again although the cache file is there")

  monkeypatch.setattr(text_features, "fit_vocabulary", refit)
  again = preprocess.parse(spec, test_source)
  text = test_source[0]["text"]
  np.testing.assert_array_equal(_run(again, text), _run(transforms, text))
  # What grain sends to worker processes.
  np.testing.assert_array_equal(_run(pickle.loads(pickle.dumps(transforms)), text), _run(transforms, text))


def test_character_vocabulary_is_fit_cached_and_pickles(data_dir):
  source = _bbc(data_dir, "train")
  transforms = preprocess.parse("chars_to_ids(max_len=20, max_size=40, lowercase=True)", source)
  ids = _run(transforms, "The cat\x00")
  assert ids.dtype == np.int32 and ids.shape == (20,)
  assert all(1 < i < 40 for i in ids[:7]) and ids[0] == ids[6]
  assert ids[7] == 1 and not ids[8:].any()  # "\x00" never occurs in training: unknown; then padding.
  assert ids[0] == _run(transforms, "t")[0]  # Lowercased.
  np.testing.assert_array_equal(_run(pickle.loads(pickle.dumps(transforms)), "The cat"), _run(transforms, "The cat"))
  files = os.listdir(os.path.join(source.dataset_info.data_dir, fitted.CACHE_FOLDER))
  assert any(f.startswith("chars_to_ids-") for f in files)


def test_empty_vocabulary_and_bad_inputs_are_one_line_user_errors(data_dir, tmp_path):
  source = _bbc(data_dir, "train")
  with pytest.raises(UserError, match=r"^dataset.preprocess: \"bag_of_words\('tfidf', min_df=100000\)\": no word occurs in at least "
                     r"min_df=100000 of the 1,781 'train' documents, so the vocabulary is empty; lower min_df") as e:
    preprocess.parse("bag_of_words('tfidf', min_df=100000)", source)
  assert "\n" not in str(e.value)
  with pytest.raises(UserError, match="no token occurs at least min_count=10000000 times .* lower min_count"):
    preprocess.parse("chars_to_ids(max_len=10, min_count=10000000)", source)
  with pytest.raises(UserError, match="weighting must be one of binary, count, tfidf"):
    preprocess.parse("bag_of_words('tf')", source)
  with pytest.raises(UserError, match="has no split 'validation' to fit on"):
    preprocess.parse("bag_of_words(fit_split='validation')", source)
  with pytest.raises(UserError, match="not a TFDS data source"):
    spec = data.DatasetSpec(preprocess="bag_of_words()", input_key="text")
    pipeline.example_batch([{"text": b"a b", "label": 0}], spec)
  # Through the trainer: the error comes before the workdir is written.
  config = _load_config("bbc_bow", "tfidf,quick")
  config.dataset.data_dir = data_dir
  config.dataset.preprocess = "bag_of_words('tfidf', min_df=100000)"
  with pytest.raises(UserError, match="vocabulary is empty"):
    loop.train_and_evaluate(config, str(tmp_path / "run"))
  assert not os.path.exists(tmp_path / "run" / "config.json")


def test_char_cnn_shapes():
  default = models.create("char_cnn", num_classes=5)
  for length in (1014, 200, 3000):  # Max over time: any length the convolutions fit.
    out = jax.eval_shape(lambda x: default.init_with_output(jax.random.PRNGKey(0), x)[0],
                         jax.ShapeDtypeStruct((2, length), jnp.int32))
    assert out.shape == (2, 5)
  with pytest.raises(UserError, match="too few for convolution 2"):
    jax.eval_shape(lambda: default.init(jax.random.PRNGKey(0), jnp.zeros((1, 12), jnp.int32)))
  zhang = models.create("char_cnn_zhang_small", num_classes=4)
  variables = jax.eval_shape(lambda: zhang.init(jax.random.PRNGKey(0), jnp.zeros((2, 1014), jnp.int32)))
  out = jax.eval_shape(lambda v: zhang.apply(v, jnp.zeros((2, 1014), jnp.int32)), variables)
  assert out.shape == (2, 4)
  # By hand: 70 one-hot channels; lengths 1014 -7+1→ 1008 /3→ 336 -6→ 330 /3→ 110 -2-2-2-2→ 102 /3→ 34.
  convs = (7 * 70 * 256 + 256) + (7 * 256 * 256 + 256) + 4 * (3 * 256 * 256 + 256)
  dense = (34 * 256 * 1024 + 1024) + (1024 * 1024 + 1024) + (1024 * 4 + 4)
  assert convs + dense == 11_339_780
  assert sum(int(np.prod(x.shape)) for x in jax.tree.leaves(variables)) == convs + dense


def test_char_cnn_ignores_the_padding_embedding_and_maps_large_ids_to_unknown():
  model = models.create("char_cnn", num_classes=3, vocab_size=10, convs=((4, 3, 0),), hidden=(8,))
  x = jnp.array([[2, 3, 4, 0, 0, 0, 0, 0]], jnp.int32)
  variables = model.init(jax.random.PRNGKey(0), x)
  embedding = variables["params"]["embed"]["embedding"]
  changed = jax.tree.map(lambda v: v, variables)
  changed["params"]["embed"]["embedding"] = embedding.at[0].set(5.0)  # Padding's row.
  np.testing.assert_allclose(model.apply(variables, x), model.apply(changed, x))
  np.testing.assert_allclose(model.apply(variables, x.at[0, 0].set(99)), model.apply(variables, x.at[0, 0].set(1)))


@pytest.mark.parametrize("name, arg", [("bbc_bow", "binary,quick"), ("bbc_bow", "count,quick"),
                                       ("bbc_bow", "tfidf,quick"), ("bbc_char_cnn", "quick")])
def test_every_text_model_trains(name, arg, data_dir, tmp_path):
  config = _load_config(name, arg)
  config.dataset.data_dir = data_dir
  config.num_train_steps, config.log_every_steps = 30, 5
  config.eval_every_steps = config.checkpoint_every_steps = 30
  status = loop.train_and_evaluate(config, str(tmp_path))
  assert status["state"] == "done"
  with open(tmp_path / "metrics.jsonl") as f:
    losses = [r["loss"] for r in map(json.loads, f) if r["split"] == "train"]
  assert len(losses) == 6 and losses[-1] < losses[0]
