"""The run contract of training/loop.py, through the supervised trainer on the tiny CNN: the
interruptions and states that every trainer shares (word2vec's own: tests/training/test_word2vec.py)."""

import json
import os

import jax.numpy as jnp
import pytest

from trends_jax import losses
from trends_jax.errors import UserError
from trends_jax.training import loop


def _status(workdir):
  with open(os.path.join(workdir, "status.json")) as f:
    return json.load(f)


def _records(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f if line.strip()]


def test_a_run_killed_after_its_final_checkpoint_is_finished_by_the_next_launch(tiny_config, tmp_path, capsys):
  workdir = str(tmp_path / "run")
  loop.train_and_evaluate(tiny_config(), workdir)
  # What a SIGKILL between the final checkpoint and the final status leaves behind.
  with open(os.path.join(workdir, "status.json"), "w") as f:
    json.dump({"state": "running", "step": 8}, f)
  os.remove(os.path.join(workdir, "curves.png"))
  capsys.readouterr()

  status = loop.train_and_evaluate(tiny_config(), workdir)
  assert status["state"] == "done" and status["step"] == 12 and "eval_accuracy" in status
  assert _status(workdir)["state"] == "done" and os.path.exists(os.path.join(workdir, "curves.png"))
  assert "Done: step 12" in capsys.readouterr().out
  # Its final evaluation was logged before the kill: not logged twice.
  assert [r["step"] for r in _records(workdir) if r["split"] == "eval"] == [6, 12]

  status = loop.train_and_evaluate(tiny_config(), workdir)
  assert status["state"] == "done" and "already finished at step 12" in capsys.readouterr().out


def test_the_final_evaluation_is_redone_when_the_kill_came_before_it_was_logged(tiny_config, tmp_path):
  workdir = str(tmp_path / "run")
  loop.train_and_evaluate(tiny_config(), workdir)
  kept = [r for r in _records(workdir) if not (r["split"] == "eval" and r["step"] == 12)]
  with open(os.path.join(workdir, "metrics.jsonl"), "w") as f:
    f.writelines(json.dumps(r) + "\n" for r in kept)
  os.remove(os.path.join(workdir, "status.json"))

  status = loop.train_and_evaluate(tiny_config(), workdir)
  assert status["state"] == "done" and "eval_accuracy" in status
  assert [r["step"] for r in _records(workdir) if r["split"] == "eval"] == [6, 12]


def test_a_half_deleted_old_checkpoint_is_set_aside_once(tiny_config, tmp_path, capsys):
  workdir = str(tmp_path / "run")
  extendable = {"optimizer.schedule": "constant"}  # A cosine run may not be extended (below).
  loop.train_and_evaluate(tiny_config(**extendable), workdir)  # Checkpoints 4, 8 and 12.
  checkpoints = os.path.join(workdir, "checkpoints")
  # orbax's clean-up deletes a step folder file by file; a kill can stop it half way.
  os.remove(os.path.join(checkpoints, "4", "_CHECKPOINT_METADATA"))
  os.mkdir(os.path.join(checkpoints, "4.unreadable"))  # Set aside by an earlier run: kept as it is.
  capsys.readouterr()

  status = loop.train_and_evaluate(tiny_config(num_train_steps=16, **extendable), workdir)
  out = capsys.readouterr().out
  assert status["state"] == "done" and status["step"] == 16
  assert "warning: checkpoint step 4 is incomplete" in out and "Resumed from step 12" in out
  assert os.path.isdir(os.path.join(checkpoints, "4.unreadable2")) and not os.listdir(
      os.path.join(checkpoints, "4.unreadable"))
  loop.train_and_evaluate(tiny_config(num_train_steps=20, **extendable), workdir)
  assert "incomplete" not in capsys.readouterr().out


def test_extending_a_decaying_schedule_is_refused_and_a_constant_one_trains_on(tiny_config, tmp_path):
  workdir = str(tmp_path / "run")
  loop.train_and_evaluate(tiny_config(), workdir)  # Cosine over 12 steps, finished.
  before = os.listdir(workdir), open(os.path.join(workdir, "status.json")).read()
  with pytest.raises(UserError, match=r"cosine learning-rate schedule was laid out over 12 steps and 12 are "
                     r"trained; 20 steps would re-stretch it .*init_from="):
    loop.train_and_evaluate(tiny_config(num_train_steps=20), workdir)
  assert (os.listdir(workdir), open(os.path.join(workdir, "status.json")).read()) == before
  # Warm-up then constant: the rate of the trained steps does not depend on the length.
  constant = {"optimizer.schedule": "constant"}
  loop.train_and_evaluate(tiny_config(**constant), str(tmp_path / "constant"))
  status = loop.train_and_evaluate(tiny_config(num_train_steps=20, **constant), str(tmp_path / "constant"))
  assert status["state"] == "done" and status["step"] == 20


def test_an_imported_workdir_is_not_trained_into(tiny_config, tmp_path):
  from trends_jax.run.workdir import Workdir
  workdir = Workdir(str(tmp_path / "imported"))
  workdir.write_status("imported", 0, weights="resnet50.pth")
  with pytest.raises(UserError, match=r"holds imported weights, not a run; .*--config.init_from="):
    loop.train_and_evaluate(tiny_config(), workdir.path)


def _nan_loss(outputs, batch, label_smoothing=0.0):
  per_example = losses.softmax_cross_entropy(outputs, batch, label_smoothing)
  return {**per_example, "loss": per_example["loss"] * jnp.nan}


def test_divergence_before_any_checkpoint_says_so(tiny_config, tmp_path, capsys, monkeypatch):
  monkeypatch.setitem(losses.LOSSES._entries, "xent_nan", _nan_loss)
  status = loop.train_and_evaluate(tiny_config(**{"loss.name": "xent_nan"}), str(tmp_path / "run"))
  out = capsys.readouterr().out
  assert status["state"] == "diverged"
  assert "No checkpoint was written yet, so a relaunch starts over" in out and "step None" not in out


def test_wall_seconds_survive_a_kill_up_to_the_last_checkpoint(tiny_config, tmp_path, preempt_after, monkeypatch):
  workdir = str(tmp_path / "run")
  preempt_after(9)
  loop.train_and_evaluate(tiny_config(), workdir)  # Checkpoint 8, then the preemption's at 9.
  monkeypatch.undo()
  first = _status(workdir)["wall_seconds"]
  # A SIGKILL leaves the status of the last save: "running", with the time up to it.
  with open(os.path.join(workdir, "status.json"), "w") as f:
    json.dump({"state": "running", "step": 9, "wall_seconds": first}, f)
  status = loop.train_and_evaluate(tiny_config(), workdir)
  assert status["state"] == "done" and status["wall_seconds"] > first > 0


def test_an_unknown_trainer_is_one_error_before_anything_is_written(tiny_config, tmp_path):
  config = tiny_config()
  config.trainer = "reinforce"
  with pytest.raises(UserError, match="unknown trainer 'reinforce' in config.trainer; known: supervised, word2vec"):
    loop.train_and_evaluate(config, str(tmp_path / "run"))
  assert not (tmp_path / "run").exists()
