"""The training loop end to end: workdir contract, both parallel modes, resume, refusal of bad runs."""

import json
import os

import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
import pytest

from trends_jax.errors import UserError
from trends_jax.training import config as config_lib, loop


def _final_params(workdir, step):
  restored = ocp.PyTreeCheckpointer().restore(os.path.join(workdir, "checkpoints", str(step), "state"))
  return restored["params"], restored.get("batch_stats")


def _records(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f]


def test_run_writes_the_workdir_contract(tiny_config, tmp_path):
  workdir = str(tmp_path / "run")
  status = loop.train_and_evaluate(tiny_config(), workdir)

  assert status["state"] == "done" and status["step"] == 12
  with open(os.path.join(workdir, "status.json")) as f:
    assert json.load(f)["state"] == "done"
  with open(os.path.join(workdir, "config.json")) as f:
    assert json.load(f)["model"]["features"] == [4, 8]
  records = _records(workdir)
  assert [r["step"] for r in records if r["split"] == "train"] == [3, 6, 9, 12]
  assert [r["step"] for r in records if r["split"] == "eval"] == [6, 12]
  train_record = records[-2] if records[-2]["split"] == "train" else records[-1]
  for key in ("loss", "accuracy", "learning_rate", "examples_per_sec", "grad_norm"):
    assert np.isfinite(train_record[key]), key
  eval_record = [r for r in records if r["split"] == "eval"][-1]
  assert 0.0 <= eval_record["accuracy"] <= 1.0
  assert status["eval_accuracy"] == eval_record["accuracy"]
  # keep_checkpoints=3 of the saves at 4, 8, 12 (and nothing half-written left behind).
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["12", "4", "8"]
  assert any(f.startswith("events.out.tfevents") for f in os.listdir(os.path.join(workdir, "tensorboard")))
  assert os.path.getsize(os.path.join(workdir, "curves.png")) > 1000


def test_learning_is_real(tiny_config, tmp_path):
  """80 steps on digits take a small CNN far above chance (10%): the loop really trains."""
  config = tiny_config(num_train_steps=80, eval_every_steps=80, log_every_steps=80,
                       **{"model.features": (16, 32), "model.hidden": 64, "optimizer.name": "adam",
                          "optimizer.learning_rate": 0.01})
  status = loop.train_and_evaluate(config, str(tmp_path))
  assert status["eval_accuracy"] > 0.85


def test_pmap_and_jit_loops_end_with_the_same_parameters(tiny_config, tmp_path):
  for mode in ("jit", "pmap"):
    loop.train_and_evaluate(tiny_config(parallel=mode), str(tmp_path / mode))
  (jit_params, jit_stats), (pmap_params, pmap_stats) = (
      _final_params(str(tmp_path / m), 12) for m in ("jit", "pmap"))
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5),
               (jit_params, jit_stats), (pmap_params, pmap_stats))


@pytest.mark.parametrize("stop_after", [5, 7])
def test_preempted_and_resumed_run_is_bitwise_equal(tiny_config, tmp_path, monkeypatch, preempt_after,
                                                     stop_after):
  config = tiny_config(**{"model.dropout_rate": 0.3})  # Dropout rngs must resume too.
  loop.train_and_evaluate(config, str(tmp_path / "straight"))

  interrupted = str(tmp_path / "interrupted")
  preempt_after(stop_after)
  status = loop.train_and_evaluate(config, interrupted)
  assert status["state"] == "preempted" and status["step"] == stop_after
  assert "12" not in os.listdir(os.path.join(interrupted, "checkpoints"))
  monkeypatch.undo()

  status = loop.train_and_evaluate(config, interrupted)
  assert status["state"] == "done" and status["step"] == 12
  for a, b in zip(jax.tree.leaves(_final_params(str(tmp_path / "straight"), 12)),
                  jax.tree.leaves(_final_params(interrupted, 12))):
    np.testing.assert_array_equal(a, b)
  evals = [[r for r in _records(w) if r["split"] == "eval"] for w in (str(tmp_path / "straight"), interrupted)]
  assert evals[0] == evals[1]
  assert len({(r["step"], r["split"]) for r in _records(interrupted)}) == len(_records(interrupted))


def test_finished_run_trains_no_more(tiny_config, tmp_path):
  workdir = str(tmp_path)
  loop.train_and_evaluate(tiny_config(), workdir)
  before = (_records(workdir), sorted(os.listdir(os.path.join(workdir, "checkpoints"))))
  status = loop.train_and_evaluate(tiny_config(), workdir)
  assert status["state"] == "done" and status["step"] == 12
  assert (_records(workdir), sorted(os.listdir(os.path.join(workdir, "checkpoints")))) == before


def test_longer_run_continues_from_a_finished_one(tiny_config, tmp_path):
  extendable = {"optimizer.schedule": "constant"}  # A decaying schedule may not be re-stretched (test_loop.py).
  loop.train_and_evaluate(tiny_config(**extendable), str(tmp_path))
  status = loop.train_and_evaluate(tiny_config(num_train_steps=16, **extendable), str(tmp_path))
  assert status["state"] == "done" and status["step"] == 16
  assert [r["step"] for r in _records(str(tmp_path)) if r["split"] == "train"][-2:] == [15, 16]


def test_workdir_of_another_config_is_refused_untouched(tiny_config, tmp_path):
  workdir = str(tmp_path)
  loop.train_and_evaluate(tiny_config(), workdir)
  snapshot = {f: os.path.getmtime(os.path.join(workdir, f)) for f in os.listdir(workdir)}
  with pytest.raises(UserError, match="holds a run of a different config .*model.hidden"):
    loop.train_and_evaluate(tiny_config(**{"model.hidden": 32}), workdir)
  assert {f: os.path.getmtime(os.path.join(workdir, f)) for f in os.listdir(workdir)} == snapshot


def test_divergence_stops_with_its_own_state(tiny_config, tmp_path):
  config = tiny_config(**{"model.batch_norm": False, "optimizer.name": "sgd",
                          "optimizer.learning_rate": 1e30, "optimizer.warmup_steps": 0})
  status = loop.train_and_evaluate(config, str(tmp_path))
  assert status["state"] == "diverged"
  assert status["step"] < 12
  # Nothing non-finite was logged as progress or kept as a checkpoint.
  assert all(np.isfinite(r["loss"]) for r in _records(str(tmp_path)))
  checkpoints = os.listdir(os.path.join(str(tmp_path), "checkpoints"))
  for step in checkpoints:
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(_final_params(str(tmp_path), int(step))))


@pytest.mark.parametrize("override, message", [
    ({"batch_size": 12}, "not divisible by the 8 devices"),
    ({"batch_size": 0}, "batch_size must be > 0"),
    ({"num_train_steps": 0}, "set num_train_steps or num_epochs"),
    ({"dtype": "float16"}, "dtype must be one of"),
    ({"parallel": "auto"}, "unknown parallel mode 'auto'"),
    ({"model.name": "resnet9000"}, "unknown model 'resnet9000'"),
    ({"optimizer.name": "adamax2"}, "unknown optimizer 'adamax2'"),
    ({"optimizer.learning_rate": 0.0}, "learning_rate must be > 0"),
    ({"dataset.name": "no_such_data"}, "unknown dataset 'no_such_data'"),
    ({"dataset.name": "cifar10"}, "'cifar10' is not prepared"),
    ({"dataset.eval_split": "validation"}, "no split 'validation'"),
    ({"dataset.preprocess": "value_range(0, 1)|blur(3)"}, "unknown preprocessing op 'blur'"),
])
def test_bad_config_fails_before_writing_anything(tiny_config, tmp_path, override, message):
  workdir = tmp_path / "run"
  with pytest.raises(UserError, match=message):
    loop.train_and_evaluate(tiny_config(**override), str(workdir))
  assert not workdir.exists()


def test_epochs_become_steps(tiny_config):
  assert config_lib.num_train_steps(tiny_config(num_train_steps=0, num_epochs=1.0), 1437) == 45
  assert config_lib.num_train_steps(tiny_config(num_train_steps=7, num_epochs=1.0), 1437) == 7


def test_input_too_small_for_the_model_fails_before_writing(tiny_config, tmp_path):
  config = tiny_config()
  config.model = ml_collections.ConfigDict({"name": "vgg11", "classifier_width": 8})
  with pytest.raises(UserError, match="VGG-11 needs images of at least 32×32 pixels, got 8×8"):
    loop.train_and_evaluate(config, str(tmp_path / "run"))
  assert not (tmp_path / "run").exists()


def test_ema_and_accumulation_through_the_loop_report_both_weights_and_resume_exactly(
    tiny_config, tmp_path, monkeypatch, preempt_after, capsys):
  from trends_jax.training import trained
  config = tiny_config(ema_decay=0.9, grad_accum_steps=2, num_train_steps=8, eval_every_steps=4, log_every_steps=4,
                       checkpoint_every_steps=8, **{"dataset.train_eval_split": "train[:64]"})
  straight = str(tmp_path / "straight")
  status = loop.train_and_evaluate(config, straight)
  assert "8 steps of 32 (2 micro-batches of 16)" in capsys.readouterr().out
  records = _records(straight)
  for split in ("eval", "eval_ema", "train_eval", "train_eval_ema"):
    assert [r["step"] for r in records if r["split"] == split] == [4, 8], split
  final = {r["split"]: r for r in records if r["step"] == 8}
  assert {"loss", "accuracy", "top5_accuracy"} <= final["eval_ema"].keys()
  assert "top5_accuracy" in final["train"] and final["eval"]["top5_accuracy"] >= final["eval"]["accuracy"]
  assert final["eval_ema"]["loss"] != final["eval"]["loss"]
  assert status["eval_loss"] == final["eval"]["loss"]  # The raw weights' row is the run's result.

  checkpoint = ocp.PyTreeCheckpointer().restore(os.path.join(straight, "checkpoints", "8", "state"))
  ema = trained.load(straight, ema=True).variables
  for a, b in zip(jax.tree.leaves(ema["params"]), jax.tree.leaves(checkpoint["ema_params"])):
    np.testing.assert_array_equal(a, b)

  interrupted = str(tmp_path / "interrupted")
  preempt_after(3)
  assert loop.train_and_evaluate(config, interrupted)["state"] == "preempted"
  monkeypatch.undo()
  assert loop.train_and_evaluate(config, interrupted)["state"] == "done"
  resumed = ocp.PyTreeCheckpointer().restore(os.path.join(interrupted, "checkpoints", "8", "state"))
  for a, b in zip(jax.tree.leaves(resumed["ema_params"]), jax.tree.leaves(checkpoint["ema_params"])):
    np.testing.assert_array_equal(a, b)
  assert [r for r in _records(interrupted) if r["split"] != "train"] == [r for r in records if r["split"] != "train"]


@pytest.mark.parametrize("override, message", [
    ({"grad_accum_steps": 0}, "grad_accum_steps must be an integer >= 1"),
    ({"grad_accum_steps": 3}, "grad_accum_steps 3 does not divide the batch of 4 each of the 8 device.*"
                              "--config.grad_accum_steps=2"),
    ({"ema_decay": 1.0}, r"ema_decay must be in \[0, 1\)"),
])
def test_bad_accumulation_or_ema_fails_before_writing(tiny_config, tmp_path, override, message):
  with pytest.raises(UserError, match=message):
    loop.train_and_evaluate(tiny_config(**override), str(tmp_path / "run"))
  assert not (tmp_path / "run").exists()
