"""The lecture's experiments in --quick mode: every code path, the contract-4 outputs."""

import json
import os


def test_optimizer_paths(tmp_path, run_experiment):
  results, markdown = run_experiment("lecture/optimizer_paths", tmp_path)
  for landscape in ("bowl", "saddle", "rosenbrock"):
    assert os.path.getsize(tmp_path / f"{landscape}.png") > 10_000
    rows = results["tables"][landscape]
    assert [r["optimizer"] for r in rows] == ["sgd", "momentum", "nesterov", "adagrad", "adadelta", "rmsprop", "adam"]
    assert all(r["best_lr"] > 0 for r in rows)
  bowl = {r["optimizer"]: r for r in results["tables"]["bowl"]}
  assert bowl["sgd"]["axis_rescale_first_step"] == 1.0 or abs(bowl["sgd"]["axis_rescale_first_step"] - 1) < 1e-3
  assert bowl["adam"]["axis_rescale_first_step"] < 0.5
  assert len(results["claims"]) == 7 and "## bowl" in markdown


def test_regularization(tmp_path, data_dir, run_experiment, assert_claims):
  results, markdown = run_experiment("lecture/regularization", tmp_path, f"--data_dir={data_dir}", "--seed=1")
  rows = results["tables"]["final accuracies"]
  assert [r["variant"] for r in rows] == ["none", "l2", "l1", "dropout_0.2", "dropout_0.5", "dropout_0.5+l2"]
  for r in rows:
    assert 0.5 < r["train_accuracy"] <= 1 and 0.5 < r["test_accuracy"] <= 1
    assert abs(r["gap"] - (r["train_accuracy"] - r["test_accuracy"])) < 1e-9
  assert os.path.getsize(tmp_path / "curves.png") > 10_000
  assert os.path.exists(tmp_path / "runs" / "l2" / "status.json")
  assert json.loads((tmp_path / "runs" / "l2" / "config.json").read_text())["seed"] == 1  # --seed is the trainer's.
  claims = assert_claims(results, markdown, expected=6)
  none = rows[0]
  assert claims["without regularization it overfits (train accuracy more than 5 points above test accuracy)"] == (
      none["gap"] > 0.05)


def test_text_classification(tmp_path, data_dir, run_experiment, assert_claims):
  results, markdown = run_experiment("lecture/text_classification", tmp_path, f"--data_dir={data_dir}")
  rows = results["tables"]["accuracy"]
  assert [r["run"] for r in rows] == ["bow_binary", "bow_count", "tfidf", "char_cnn"]
  for r in rows:
    assert 0 <= r["test_accuracy"] <= 1 and 0 <= r["train_accuracy"] <= 1
    assert r["parameters"] > 0 and r["wall_seconds"] > 0 and r["steps"] == 20
  bow = [r for r in rows if r["run"] != "char_cnn"]
  assert len({r["parameters"] for r in bow}) == 1  # One vocabulary, three weightings.
  assert max(r["test_accuracy"] for r in bow) > 0.5  # 20 steps of logistic regression already learn.
  assert "TF-IDF + logistic regression" in markdown
  assert os.path.getsize(tmp_path / "accuracy.png") > 10_000
  assert os.path.exists(tmp_path / "runs" / "char_cnn" / "status.json")
  claims = assert_claims(results, markdown, expected=3)
  test = {r["run"]: r["test_accuracy"] for r in rows}
  assert claims["TF-IDF weighting is at least as accurate as a binary bag of words"] == (
      test["tfidf"] >= test["bow_binary"])


def test_word_analogies(tmp_path, data_dir, run_experiment, assert_claims):
  results, markdown = run_experiment("lecture/word_analogies", tmp_path, f"--data_dir={data_dir}")
  pictures = {r["picture"]: r for r in results["tables"]["pictures"]}
  assert set(pictures) == {"male_female", "verb_tense", "country_capital"}
  for name, row in pictures.items():
    if row["pairs_shown"] >= 2:
      assert os.path.getsize(tmp_path / f"{name}.png") > 10_000
  assert all(q["top3"].count(",") == 2 for q in results["tables"]["queries"])
  assert os.path.exists(tmp_path / "run" / "vectors.bin") and "## queries" in markdown
  claims = assert_claims(results, markdown)
  for row in pictures.values():  # A section with no answerable question measures nothing.
    assert any(row["section"] in claim for claim in claims) == (row["section_answered"] > 0)


def test_bench_word2vec(tmp_path, data_dir, run_experiment, assert_claims):
  results, markdown = run_experiment("bench/word2vec", tmp_path, f"--data_dir={data_dir}", "--variants=pool,per_pair")
  rows = results["tables"]["comparison"]
  assert [(r["architecture"], r["engine"].split()[0], r["variant"]) for r in rows] == [
      ("skipgram", "gensim", ""), ("skipgram", "trends_jax", "pool"), ("skipgram", "trends_jax", "per_pair"),
      ("cbow", "gensim", ""), ("cbow", "trends_jax", "")]
  for r in rows:
    assert r["words_per_sec"] > 0 and 0 <= r["analogy_accuracy"] <= 1 and 0.3 < r["analogy_coverage"] < 0.4
  assert os.path.getsize(tmp_path / "comparison.png") > 10_000
  claims = assert_claims(results, markdown, expected=3)  # One per trends_jax model.
  assert [holds for holds in claims.values()] == [r["wordsim353_spearman"] > 0.5 for r in rows
                                                  if r["engine"].startswith("trends_jax")]


def test_long_range(tmp_path, run_experiment, assert_claims):
  results, markdown = run_experiment("lecture/long_range", tmp_path)
  rows = results["tables"]["test error"]
  assert [(r["cell"], r["length"]) for r in rows] == [(c, n) for n in (5, 20) for c in ("rnn", "gru", "lstm")]
  assert all(r["test_mse"] > 0 and r["seconds"] > 0 for r in rows)
  gradients = results["tables"]["gradient by lag"]
  assert len(gradients) == 2 * len(rows) and all(g["lag_0"] > 0 for g in gradients)
  assert len(results["gradient_by_lag"]["lstm/20"]["gradient_initial"]) == 20
  assert "## gradient by lag" in markdown
  for figure in ("mse_by_length.png", "gradient_by_lag.png"):
    assert os.path.getsize(tmp_path / figure) > 10_000
  claims = assert_claims(results, markdown, expected=3)
  mse = {(r["cell"], r["length"]): r["test_mse"] for r in rows}
  assert claims["the LSTM solves every length tried (MSE < 0.01)"] == (max(mse["lstm", 5], mse["lstm", 20]) < 0.01)


def test_bench_lstm(tmp_path, run_experiment):
  results, markdown = run_experiment("bench/lstm", tmp_path, "--torch_threads=1")
  rows = {r["contender"]: r for r in results["tables"]["step time"]}
  assert {"jax_fused", "jax_fused_unroll4", "flax_OptimizedLSTMCell", "flax_LSTMCell"} <= set(rows)
  assert all(r["seconds_per_step"] > 0 for r in rows.values())
  if "torch_nn.LSTM" in rows:  # PyTorch is an optional extra.
    assert rows["torch_nn.LSTM"]["ratio_to_torch"] == 1.0
  assert results["hidden"] == 16 and "## step time" in markdown
  assert os.path.getsize(tmp_path / "step_times.png") > 10_000
