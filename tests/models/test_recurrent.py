"""Recurrent cells, stacks and models; the character language model end to end; the adding problem."""

import os
import subprocess
import sys

import adding_problem
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import text_generation

from tests.conftest import REPO
from trends_jax import data, models
from trends_jax.data import language_model
from trends_jax.errors import UserError
from trends_jax.models import recurrent
from trends_jax.training import loop

CORPUS = "the cat sat on the mat. the dog sat on the log. " * 80


def _sigmoid(x):
  return 1 / (1 + np.exp(-x))


def _cell_step(cell, carry, x):
  params = cell.init(jax.random.PRNGKey(0), carry, x)["params"]
  params = jax.tree.map(lambda p: p + jax.random.normal(jax.random.PRNGKey(p.size), p.shape) * 0.3, params)
  new_carry, out = cell.apply({"params": params}, carry, x)
  return jax.tree.map(np.asarray, params), new_carry, np.asarray(out)


X = np.random.default_rng(0).normal(size=(2, 3)).astype(np.float32)
H = np.random.default_rng(1).normal(size=(2, 4)).astype(np.float32)
C = np.random.default_rng(2).normal(size=(2, 4)).astype(np.float32)


def test_rnn_cell_is_elman():
  p, new_h, out = _cell_step(recurrent.CELLS["rnn"](4), jnp.asarray(H), X)
  expected = np.tanh(X @ p["i"]["kernel"] + p["i"]["bias"] + H @ p["h"]["kernel"])
  np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(new_h, expected, rtol=1e-5, atol=1e-6)


def test_gru_cell_equations():
  p, new_h, _ = _cell_step(recurrent.CELLS["gru"](4), jnp.asarray(H), X)
  lin = lambda name, v: v @ p[name]["kernel"] + p[name].get("bias", 0)  # noqa: E731
  r = _sigmoid(lin("ir", X) + lin("hr", H))
  z = _sigmoid(lin("iz", X) + lin("hz", H))
  n = np.tanh(lin("in", X) + r * lin("hn", H))
  np.testing.assert_allclose(new_h, (1 - z) * n + z * H, rtol=1e-5, atol=1e-6)


def test_lstm_cell_equations_and_forget_bias():
  cell = recurrent.LSTMCell(4)  # forget_bias=1 by default.
  raw = cell.init(jax.random.PRNGKey(0), (jnp.asarray(C), jnp.asarray(H)), X)["params"]
  np.testing.assert_array_equal(raw["hf"]["bias"], np.ones(4))
  for gate in "igo":
    np.testing.assert_array_equal(raw[f"h{gate}"]["bias"], np.zeros(4))
  p, (new_c, new_h), out = _cell_step(cell, (jnp.asarray(C), jnp.asarray(H)), X)
  pre = {g: X @ p[f"i{g}"]["kernel"] + H @ p[f"h{g}"]["kernel"] + p[f"h{g}"]["bias"] for g in "ifgo"}
  c = _sigmoid(pre["f"]) * C + _sigmoid(pre["i"]) * np.tanh(pre["g"])
  h = _sigmoid(pre["o"]) * np.tanh(c)
  np.testing.assert_allclose(new_c, c, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(new_h, h, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(out, h, rtol=1e-5, atol=1e-6)


def test_lstm_cell_matches_flax_cells():
  carry = (jnp.asarray(C), jnp.asarray(H))
  ours = recurrent.LSTMCell(4, forget_bias=0.0).init(jax.random.PRNGKey(3), carry, X)
  flax_init = nn.OptimizedLSTMCell(4).init(jax.random.PRNGKey(3), carry, X)
  jax.tree.map(np.testing.assert_array_equal, ours, flax_init)  # Same names, shapes and draws.
  ours = recurrent.LSTMCell(4).init(jax.random.PRNGKey(3), carry, X)
  (c1, h1), _ = recurrent.LSTMCell(4).apply(ours, carry, X)
  (c2, h2), _ = nn.LSTMCell(4).apply(ours, carry, X)
  np.testing.assert_allclose(c1, c2, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(h1, h2, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_sequence_classifier_shapes(cell, bidirectional):
  model = models.create("sequence_classifier", num_classes=7, cell=cell, hidden=6, num_layers=2,
                        bidirectional=bidirectional, dropout_rate=0.1)
  x = jax.ShapeDtypeStruct((3, 11, 2), jnp.float32)
  variables = jax.eval_shape(model.init, jax.random.PRNGKey(0), x)
  assert jax.eval_shape(model.apply, variables, x).shape == (3, 7)
  stack = recurrent.RecurrentStack(cell, hidden=6, num_layers=2, bidirectional=bidirectional)
  (carries, outputs), _ = jax.eval_shape(lambda: stack.init_with_output(jax.random.PRNGKey(0), jnp.zeros((3, 11, 2))))
  assert outputs.shape == (3, 11, 12 if bidirectional else 6) and len(carries) == 2


def test_char_lm_shapes_and_carries():
  model = models.create("char_lm", num_classes=30, embed_dim=5, hidden=8, num_layers=2)
  ids = jnp.zeros((4, 9), jnp.int32)
  variables = jax.eval_shape(model.init, jax.random.PRNGKey(0), ids)
  assert jax.eval_shape(model.apply, variables, ids).shape == (4, 9, 30)
  carries, logits = jax.eval_shape(lambda v: model.apply(v, ids, return_carries=True), variables)
  assert logits.shape == (4, 9, 30)
  assert [tuple(x.shape for x in layer) for layer in carries] == [((4, 8), (4, 8))] * 2


def test_char_lm_one_step_at_a_time_equals_the_whole_sequence():
  model = models.create("char_lm", num_classes=12, embed_dim=4, hidden=6, num_layers=2, cell="lstm")
  ids = jnp.asarray(np.random.default_rng(0).integers(0, 12, (2, 7)), jnp.int32)
  variables = model.init(jax.random.PRNGKey(0), ids)
  whole = model.apply(variables, ids)
  carries, first = model.apply(variables, ids[:, :3], return_carries=True)
  steps = [first]
  for t in range(3, 7):
    carries, logits = model.apply(variables, ids[:, t:t + 1], carries=carries, return_carries=True)
    steps.append(logits)
  np.testing.assert_allclose(np.concatenate(steps, axis=1), whole, rtol=1e-5, atol=1e-5)


def test_unknown_cell_is_one_line():
  model = models.create("sequence_classifier", cell="transformer")
  with pytest.raises(UserError, match="unknown cell 'transformer' in model.cell; known: rnn, lstm, gru"):
    jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.zeros((1, 3, 1)))


def test_sequence_loss_and_bits_per_char():
  from trends_jax import losses
  logits = jnp.zeros((2, 5, 4))  # Uniform over 4: ln 4 nats, 2 bits.
  out = losses.create("sequence_xent")(logits, {"label": jnp.ones((2, 5), jnp.int32)})
  np.testing.assert_allclose(out["loss"], [np.log(4)] * 2, rtol=1e-6)
  np.testing.assert_allclose(out["bits_per_char"], [2.0, 2.0], rtol=1e-6)


# --- The character language model through the trainer ---


def _lm_config(tmp_path, **overrides):
  import importlib.util
  spec = importlib.util.spec_from_file_location("char_lm", os.path.join(REPO, "configs", "char_lm.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config("quick")
  corpus = tmp_path / "corpus.txt"
  corpus.write_text(CORPUS, encoding="utf-8")
  config.dataset.text_file = str(corpus)
  config.dataset.seq_len = 16
  config.batch_size = 8
  config.eval_batch_size = 8
  config.num_train_steps = 60
  config.eval_every_steps = config.checkpoint_every_steps = 30
  config.optimizer.learning_rate = 1e-2
  config.optimizer.warmup_steps = 0
  config.optimizer.schedule = "constant"
  for key, value in overrides.items():
    section, field = key.split(".")
    config[section][field] = value
  return config


@pytest.fixture(scope="module")
def trained_lm(tmp_path_factory):
  tmp_path = tmp_path_factory.mktemp("char_lm")
  workdir = str(tmp_path / "run")
  status = loop.train_and_evaluate(_lm_config(tmp_path), workdir, devices=jax.devices()[:1])
  return workdir, status


def test_language_model_loss_falls(trained_lm):
  workdir, status = trained_lm
  assert status["state"] == "done"
  from trends_jax.run.workdir import Workdir
  evals = [r for r in Workdir(workdir).read_metrics() if r["split"] == "eval"]
  assert len(evals) == 2
  first_train = next(r for r in Workdir(workdir).read_metrics() if r["split"] == "train")
  assert evals[-1]["loss"] < first_train["loss"] - 0.5  # Falls from ln(vocabulary) ≈ 2.8.
  assert evals[-1]["bits_per_char"] == pytest.approx(evals[-1]["loss"] / np.log(2), rel=1e-5)


def test_generation_is_seeded_and_follows_the_prime(trained_lm):
  workdir, _ = trained_lm
  lm = text_generation.load(workdir)
  assert lm.step == 60
  a = text_generation.sample(lm, "the ", 40, temperature=0.5, seed=1)
  assert a == text_generation.sample(lm, "the ", 40, temperature=0.5, seed=1)
  assert len(a) == 40 and set(a) <= set(CORPUS)
  assert a != text_generation.sample(lm, "the ", 40, temperature=0.5, seed=2)
  result = subprocess.run([sys.executable, "experiments/generate.py", f"--workdir={workdir}", "--prime=the cat",
                           "--length=30", "--seed=1"], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "XLA_FLAGS": ""})
  assert result.returncode == 0, result.stderr[-2000:]
  assert result.stdout.startswith("the cat") and len(result.stdout.rstrip("\n")) == len("the cat") + 30


def test_generation_bad_input_is_one_line_each(trained_lm):
  workdir, _ = trained_lm
  lm = text_generation.load(workdir)
  with pytest.raises(UserError, match=r"--prime has characters the model's vocabulary lacks: 'Z', 'é'"):
    text_generation.sample(lm, "the Zé", 10)
  with pytest.raises(UserError, match="--length must be at least 1"):
    text_generation.sample(lm, "the", 0)
  with pytest.raises(UserError, match="--temperature must be > 0"):
    text_generation.sample(lm, "the", 10, temperature=0.0)
  result = subprocess.run([sys.executable, "experiments/generate.py", f"--workdir={workdir}", "--temperature=-1"],
                          cwd=REPO, capture_output=True, text=True, timeout=300, env={**os.environ, "XLA_FLAGS": ""})
  assert result.returncode == 2 and result.stderr.strip().count("\n") == 0
  assert result.stderr.startswith("error: --temperature must be > 0")


def test_sequence_longer_than_the_data_is_refused(tmp_path):
  config = _lm_config(tmp_path, **{"dataset.seq_len": 200})  # The validation split has 5% of 3,840 characters.
  with pytest.raises(UserError, match=r"dataset.seq_len=200 needs more than the 192 characters of the "
                                      r"'validation' split; lower --config.dataset.seq_len below 192"):
    loop.train_and_evaluate(config, str(tmp_path / "run"))
  assert not os.path.exists(tmp_path / "run")


def test_text_file_splits_and_vocabulary(tmp_path):
  config = _lm_config(tmp_path)
  ds = data.DatasetSpec.from_config(config.dataset)
  parts = [language_model.split_text(ds, s) for s in ("train", "validation", "test")]
  assert "".join(parts) == CORPUS and [len(p) for p in parts] == [3456, 192, 192]
  vocabulary = language_model.vocabulary(ds)
  assert data.num_outputs(ds) == len(vocabulary) == 2 + len(set(CORPUS))
  windows = data.examples(ds, "validation")
  assert len(windows) == (192 - 1) // 16
  np.testing.assert_array_equal(windows[0]["label"][:-1], windows[0]["inputs"][1:])
  config.dataset.text_file = str(tmp_path / "missing.txt")
  with pytest.raises(UserError, match="does not exist"):
    language_model.split_text(data.DatasetSpec.from_config(config.dataset), "train")


# --- Images as pixel sequences, and the adding problem ---


def test_pixel_sequence_classifier_trains(tmp_path, data_dir):
  import importlib.util
  spec = importlib.util.spec_from_file_location("ps", os.path.join(REPO, "configs", "pixel_sequence.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config("digits,permuted,quick")
  config.dataset.data_dir = data_dir
  status = loop.train_and_evaluate(config, str(tmp_path / "run"), devices=jax.devices()[:1])
  assert status["state"] == "done" and status["step"] == 10 and 0 <= status["eval_accuracy"] <= 1
  bad = module.get_config("digits,quick")
  bad.dataset.data_dir = data_dir
  bad.dataset.preprocess = "value_range(0, 1)|pixel_sequence(784, permutation_seed=0)"
  with pytest.raises(UserError, match=r"permutes 784 pixels but the images have 64; write pixel_sequence\(64, …\)"):
    loop.train_and_evaluate(bad, str(tmp_path / "bad"))


def test_adding_problem():
  x, y = adding_problem.adding_problem(np.random.default_rng(0), 500, 10)
  assert x.shape == (500, 10, 2) and y.shape == (500,)
  assert (x[..., 1].sum(axis=1) == 2).all()
  assert (x[:, :5, 1].sum(axis=1) == 1).all()
  np.testing.assert_allclose((x[..., 0] * x[..., 1]).sum(axis=1), y, rtol=1e-6)
  assert abs(np.mean((y - 1) ** 2) - adding_problem.BASELINE_MSE) < 0.03


def test_gradient_by_lag_on_a_tiny_model():
  x, y = adding_problem.adding_problem(np.random.default_rng(0), 32, 30)
  norms = {}
  for cell in ("rnn", "lstm"):
    model = models.create("sequence_classifier", num_classes=1, cell=cell, hidden=8)
    params = model.init(jax.random.PRNGKey(0), x[:1])["params"]
    norms[cell] = adding_problem.gradient_by_lag(lambda p, v, model=model: model.apply({"params": p}, v), params, x, y)
    assert norms[cell].shape == (30,) and np.all(np.isfinite(norms[cell])) and norms[cell][0] > 0
  # A tanh RNN's gradient shrinks with the lag: 30 steps back it is far below the last step's.
  assert norms["rnn"][-1] < 0.1 * norms["rnn"][0]
