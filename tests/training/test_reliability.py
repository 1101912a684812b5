"""What a run survives: SIGKILL at any moment, repeated signals, damaged checkpoints, NaN steps.

Each survivor must end exactly where an uninterrupted run ends: the same parameters, bit for bit.
(Two processes as one multi-host run: tests/training/test_multihost.py.)
"""

import json
import os
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest

from tests.conftest import REPO
from trends_jax import losses
from trends_jax.errors import UserError
from trends_jax.training import loop, parallel, steps, supervised as train

# The default task's quick model, long enough that a signal lands mid-run; checkpoints every 10.
STEPS = 60
ARGS = ["--config=configs/default.py:quick", f"--config.num_train_steps={STEPS}",
        "--config.log_every_steps=1", "--config.checkpoint_every_steps=10",
        "--config.eval_every_steps=100000"]


def _launch(workdir, data_dir):
  return subprocess.Popen(
      [sys.executable, "experiments/train.py", *ARGS, f"--workdir={workdir}",
       f"--config.dataset.data_dir={data_dir}"], cwd=REPO, text=True,
      stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(workdir, data_dir):
  process = _launch(workdir, data_dir)
  stdout, stderr = process.communicate(timeout=600)
  assert process.returncode == 0, stderr[-3000:]
  return stdout


def _latest_params(workdir):
  directory = os.path.join(workdir, "checkpoints")
  step = max(int(d) for d in os.listdir(directory) if d.isdigit())
  return step, ocp.PyTreeCheckpointer().restore(os.path.join(directory, str(step), "state"))["params"]


def _train_losses(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    records = [json.loads(line) for line in f]
  return [(r["step"], r["loss"]) for r in records if r["split"] == "train"]


def _wait_for(condition, timeout=300):
  deadline = time.time() + timeout
  while not condition():
    assert time.time() < deadline, "timed out"
    time.sleep(0.005)


@pytest.fixture(scope="module")
def uninterrupted(data_dir, tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("uninterrupted"))
  _finish(workdir, data_dir)
  return workdir


def _assert_same_run(workdir, reference):
  step, params = _latest_params(workdir)
  reference_step, reference_params = _latest_params(reference)
  assert step == reference_step == STEPS
  for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(reference_params)):
    np.testing.assert_array_equal(a, b)
  # The steps after the last checkpoint were redone, not logged twice, with the very same losses.
  assert _train_losses(workdir) == _train_losses(reference)


def _in_a_second_save(workdir):
  """True while orbax writes a step into its temporary folder (renamed once complete), after one
  checkpoint is complete."""
  directory = os.path.join(workdir, "checkpoints")
  names = os.listdir(directory) if os.path.isdir(directory) else []
  return any(name.isdigit() for name in names) and any("tmp" in name for name in names)


def _has_checkpoint(workdir):
  directory = os.path.join(workdir, "checkpoints")
  return os.path.isdir(directory) and any(name.isdigit() for name in os.listdir(directory))


def _logged_step(workdir, step):
  path = os.path.join(workdir, "metrics.jsonl")
  return os.path.exists(path) and any(json.loads(line)["step"] >= step for line in open(path) if line.strip())


@pytest.mark.parametrize("moment", ["step_13", "step_31", "while_saving"])
def test_sigkill_at_any_moment_then_the_same_command_ends_bitwise_equal(data_dir, tmp_path, uninterrupted, moment):
  workdir = str(tmp_path / "run")
  process = _launch(workdir, data_dir)
  if moment == "while_saving":
    _wait_for(lambda: _in_a_second_save(workdir) or process.poll() is not None)
  else:  # Past that step, with a checkpoint complete (orbax writes them while steps go on).
    _wait_for(lambda: (_logged_step(workdir, int(moment.split("_")[1])) and _has_checkpoint(workdir))
              or process.poll() is not None)
  process.kill()
  process.communicate()
  assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
  assert json.loads(open(os.path.join(workdir, "status.json")).read())["state"] == "running"

  stdout = _finish(workdir, data_dir)
  assert "Resumed from step" in stdout
  _assert_same_run(workdir, uninterrupted)


def test_signals_during_the_final_save_change_nothing(data_dir, tmp_path, uninterrupted):
  workdir = str(tmp_path / "run")
  process = _launch(workdir, data_dir)
  _wait_for(lambda: _logged_step(workdir, 12))
  for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGTERM, signal.SIGINT):
    process.send_signal(sig)
    time.sleep(0.02)
  stdout, stderr = process.communicate(timeout=120)
  assert process.returncode == 75, stderr[-3000:]
  status = json.loads(open(os.path.join(workdir, "status.json")).read())
  assert status["state"] == "preempted" and "SIGTERM: saved step" in stdout
  assert _latest_params(workdir)[0] == status["step"]

  _finish(workdir, data_dir)
  _assert_same_run(workdir, uninterrupted)


# --- Damaged checkpoints (in process, the tiny CNN on digits) ---

def _params_at(workdir, step):
  return ocp.PyTreeCheckpointer().restore(os.path.join(workdir, "checkpoints", str(step), "state"))["params"]


@pytest.mark.parametrize("item", ["state", "data"])
def test_damaged_latest_checkpoint_falls_back_to_the_previous_one(tiny_config, tmp_path, capsys, damage_checkpoint,
                                                                  item):
  constant = {"optimizer.schedule": "constant", "keep_checkpoints": 2}
  reference = str(tmp_path / "reference")
  loop.train_and_evaluate(tiny_config(num_train_steps=16, **constant), reference)
  workdir = str(tmp_path / "run")
  loop.train_and_evaluate(tiny_config(**constant), workdir)  # 12 steps, checkpoints every 4.
  checkpoints = os.path.join(workdir, "checkpoints")
  assert sorted(int(d) for d in os.listdir(checkpoints)) == [8, 12]  # At most keep_checkpoints.
  damage_checkpoint(os.path.join(checkpoints, "12"), item)

  status = loop.train_and_evaluate(tiny_config(num_train_steps=16, **constant), workdir)
  out = capsys.readouterr().out
  assert "warning: checkpoint step 12 cannot be read" in out and "resuming from step 8" in out
  assert "Resumed from step 8" in out and status["state"] == "done" and status["step"] == 16
  assert os.path.isdir(os.path.join(checkpoints, "12.unreadable"))  # Moved aside, not deleted.
  for a, b in zip(jax.tree.leaves(_params_at(workdir, 16)), jax.tree.leaves(_params_at(reference, 16))):
    np.testing.assert_array_equal(a, b)


def test_no_readable_checkpoint_is_one_error_and_nothing_is_moved(tiny_config, tmp_path, damage_checkpoint):
  workdir = str(tmp_path / "run")
  extendable = {"keep_checkpoints": 1, "optimizer.schedule": "constant"}
  loop.train_and_evaluate(tiny_config(**extendable), workdir)
  checkpoints = os.path.join(workdir, "checkpoints")
  damage_checkpoint(os.path.join(checkpoints, "12"), "state")
  with pytest.raises(UserError, match="no checkpoint in .* can be read .*move that folder aside"):
    loop.train_and_evaluate(tiny_config(num_train_steps=16, **extendable), workdir)
  assert os.listdir(checkpoints) == ["12"]


# --- Non-finite steps ---

def _xent_nan_on_some_batches(outputs, batch, label_smoothing=0.0):
  """Cross-entropy, but NaN for every batch whose label sum is a multiple of 4 (about 1 in 4)."""
  per_example = losses.softmax_cross_entropy(outputs, batch, label_smoothing)
  poisoned = jnp.sum(batch["label"]) % 4 == 0
  return {**per_example, "loss": jnp.where(poisoned, jnp.nan, per_example["loss"])}


@pytest.fixture
def nan_loss(monkeypatch):
  monkeypatch.setitem(losses.LOSSES._entries, "xent_nan_sometimes", _xent_nan_on_some_batches)
  return {"loss.name": "xent_nan_sometimes"}


def test_skipped_steps_change_nothing_and_are_counted(tiny_config, tmp_path, nan_loss):
  config = tiny_config(nonfinite_steps="skip", log_every_steps=2, **nan_loss)
  status = loop.train_and_evaluate(config, str(tmp_path))
  assert status["state"] == "done" and status["step"] == 12
  records = [r for r in map(json.loads, open(tmp_path / "metrics.jsonl")) if r["split"] == "train"]
  skipped = sum(r["skipped_steps"] for r in records)
  assert 0 < skipped < 12 and all(np.isfinite(r["loss"]) for r in records)
  assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(_params_at(str(tmp_path), 12)))

  status = loop.train_and_evaluate(tiny_config(log_every_steps=2, **nan_loss), str(tmp_path / "stop"))
  assert status["state"] == "diverged" and status["step"] < 12


def test_a_skipped_step_keeps_the_state_and_a_finite_one_is_untouched(tiny_config):
  config = tiny_config()
  strategy = parallel.create("jit", jax.devices()[:1])
  batch = {"inputs": np.random.default_rng(0).random((8, 8, 8, 1), np.float32),
           "label": np.arange(8, dtype=np.int32)}
  program = train.build_program(config, strategy, batch["inputs"][:1], 10, 12)
  state = program.make_state()
  loss_fn = losses.create("softmax_xent")
  plain = jax.jit(steps.make_train_step(program.model, loss_fn))
  skipping = jax.jit(steps.make_train_step(program.model, loss_fn, skip_nonfinite=True))

  same, metrics = skipping(state, batch)
  expected, _ = plain(state, batch)
  assert float(metrics["skipped"]) == 0
  for a, b in zip(jax.tree.leaves(same), jax.tree.leaves(expected)):
    np.testing.assert_array_equal(a, b)

  poisoned = {**batch, "inputs": batch["inputs"].copy()}
  poisoned["inputs"][0, 0, 0, 0] = np.nan
  kept, metrics = skipping(state, poisoned)
  assert float(metrics["skipped"]) == 1 and int(kept.step) == int(state.step) + 1
  for name in ("params", "opt_state", "batch_stats"):
    for a, b in zip(jax.tree.leaves(getattr(kept, name)), jax.tree.leaves(getattr(state, name))):
      np.testing.assert_array_equal(a, b)


def test_nonfinite_steps_must_be_stop_or_skip(tiny_config, tmp_path):
  with pytest.raises(UserError, match="nonfinite_steps must be one of stop, skip, got 'ignore'"):
    loop.train_and_evaluate(tiny_config(nonfinite_steps="ignore"), str(tmp_path / "run"))
  assert not (tmp_path / "run").exists()
