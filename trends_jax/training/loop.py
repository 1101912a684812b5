"""The one training loop: `train_and_evaluate(config, workdir)` runs, resumes or finishes a run.

It owns the run contract for every trainer: checks before anything is written, the workdir's
config identity, orbax checkpoints with the data position, resume, the preemption guard through
the final save, non-finite stop/skip, metrics.jsonl + TensorBoard + the progress line, a profiler
trace of `config.profile_steps`, status.json, the final plot and the exit states. A trainer
(`config.trainer`, resolved through `TRAINERS`) supplies only what differs: its own checks, data,
state, compiled step, evaluation, data position and export (see `Trainer`).

Reads top to bottom: checks → the trainer's data and program → room in the workdir → state
(restored or new) → loop (train, log, evaluate, checkpoint, preemption) → finish.

A train row of metrics.jsonl averages the steps since the previous row; after a resume, the first
one averages only the steps since the checkpoint (the same rows as an uninterrupted run's when
checkpoint_every_steps is a multiple of log_every_steps). status.json's wall_seconds adds up the
attempts, each up to its last checkpoint.
"""

import math
import time
from collections.abc import Callable
from typing import Any

import jax
import ml_collections
import numpy as np

from trends_jax import optim
from trends_jax.errors import UserError
from trends_jax.registry import Registry
from trends_jax.run import compilation_cache, plots, profiler
from trends_jax.run.checkpoint import Checkpointer
from trends_jax.run.metric_writer import MetricWriter, Progress
from trends_jax.run.preemption import PreemptionGuard
from trends_jax.run.workdir import IMPORTED, Workdir
from trends_jax.training import config as config_lib, parallel

TRAINERS = Registry("trainer", "config.trainer")
# Named by path: the trainers' modules import this one.
TRAINERS.register("supervised", "trends_jax.training.supervised:SupervisedTrainer")
TRAINERS.register("word2vec", "trends_jax.training.word2vec:Word2VecTrainer")
DEFAULT_TRAINER = "supervised"


class Trainer:
  """What one kind of training supplies to the loop.

  The loop calls, in order: `validate()` (the trainer's own fields), `setup()` (read the data,
  build the model and the compiled step; raise UserError for what the data makes impossible,
  such as a batch larger than the split; set `num_steps`, `state_shapes` and `make_state`),
  `write_files(run)` once the run starts writing, `initial_state()` for a new run,
  `start(data_state)` with the restored data
  position (None: from the beginning), then `step(state, step)` per step, `data_state(step)` at
  each checkpoint, `evaluate(state)` when due, and `export(state, run, final_state)` at the end.
  """
  rate_unit = "examples"  # Train metrics log `<rate_unit>_per_sec`.

  def __init__(self, config: ml_collections.ConfigDict, strategy):
    self.config = config
    self.strategy = strategy
    self.lead = jax.process_index() == 0
    self.num_steps = 0
    self.state_shapes: Any = None  # jax.ShapeDtypeStructs of the state make_state builds.
    self.make_state: Callable[[], Any] | None = None

  def validate(self) -> None:
    """Raises UserError for the first bad trainer-specific field."""

  def setup(self) -> None:
    raise NotImplementedError

  def initial_state(self):
    """A new run's state, placed on the devices (a resume restores its checkpoint instead)."""
    return self.strategy.init_state(self.make_state)

  def describe(self, state) -> str:
    """The start-up line: what is trained, how long, on what."""
    raise NotImplementedError

  def write_files(self, run: Workdir) -> None:
    """Files the trainer adds to a workdir before training (process 0 only)."""

  def start(self, data_state: dict | None) -> None:
    """Positions the input at `data_state` (from a checkpoint), or at its beginning."""

  def step(self, state, step: int):
    """One compiled update: returns (state, device metrics with `loss` and `grad_norm`)."""
    raise NotImplementedError

  def data_state(self, step: int) -> dict:
    """The input position saved with the checkpoint of `step`."""
    return {}

  def evaluate(self, state) -> dict[str, dict]:
    """{split: metrics}; called in every process (a trainer may compute on process 0 only)."""
    return {}

  def plot_title(self) -> str:
    return ""

  def export(self, state, run: Workdir, final_state: str) -> dict:
    """Writes the trainer's outputs (process 0 only); returns extra status.json fields."""
    return {}

  def close(self) -> None:
    """Stops input workers."""


def _finite(metrics: dict) -> bool:
  return math.isfinite(metrics["loss"]) and math.isfinite(metrics["grad_norm"])


def _nbytes(tree) -> int:
  return sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(tree))


def _check_schedule_kept(config, status: dict, num_steps: int, path: str) -> None:
  """Refuses a resume whose length would re-lay a decaying learning-rate schedule under the steps
  already trained (a constant or warm-up-only schedule may be extended)."""
  trained_steps, laid_out = status.get("step", 0), status.get("num_train_steps")
  if not trained_steps or not laid_out or laid_out == num_steps:
    return
  probe = np.unique(np.linspace(0, trained_steps, 65).astype(np.int32))
  before = np.asarray(optim.learning_rate_schedule(config.optimizer, laid_out)(probe))
  now = np.asarray(optim.learning_rate_schedule(config.optimizer, num_steps)(probe))
  if np.allclose(before, now, rtol=1e-6, atol=0.0):
    return
  raise UserError(
      f"this run's {config.optimizer.get('schedule', 'constant')} learning-rate schedule was laid out over "
      f"{laid_out:,} steps and {trained_steps:,} are trained; {num_steps:,} steps would re-stretch it under them "
      f"(learning rate at step {trained_steps:,}: {before[-1]:.3g} before, {now[-1]:.3g} now); keep "
      f"num_train_steps/num_epochs as they were, or train on in a new --workdir with --config.init_from={path}")


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, devices=None) -> dict:
  """Trains `config` in `workdir` (resuming what is there); returns the final status dict."""
  lead = jax.process_index() == 0
  launch_time = time.perf_counter()

  # --- Checks: every user error surfaces here, before anything is written ---
  trainer_class = TRAINERS.get(config.get("trainer", DEFAULT_TRAINER))
  strategy = parallel.create(config.parallel, devices)
  config_lib.validate(config, strategy.num_devices, jax.process_count())
  trainer = trainer_class(config, strategy)
  trainer.validate()
  run = Workdir(workdir)
  status = run.read_status() or {}
  if status.get("state") == IMPORTED:
    raise UserError(f"workdir {run.path} holds imported weights, not a run; train in a new --workdir "
                    f"and start from them with --config.init_from={run.path}")
  run.check_config(config_lib.as_json(config), config_lib.identity_differences)

  # --- The trainer's data, model, optimizer and compiled step ---
  trainer.setup()
  num_steps = trainer.num_steps
  _check_schedule_kept(config, status, num_steps, run.path)
  profile_steps = tuple(config.get("profile_steps", ()))
  if profile_steps and profile_steps[1] > num_steps:
    raise UserError(f"profile_steps {profile_steps} go beyond the run's {num_steps} steps; choose steps in "
                    f"1..{num_steps}, e.g. --config.profile_steps='({min(num_steps, 20)}, {min(num_steps, 25)})'")

  # --- The workdir can hold this run (the last check: nothing is written before it) ---
  run.check_free_space(_nbytes(trainer.state_shapes))
  run.check_writable()

  # --- State: from the latest checkpoint, or new ---
  checkpointer = Checkpointer(run.checkpoint_dir, config.keep_checkpoints, warn=print if lead else None)
  latest_step = checkpointer.latest_step() or 0
  progress = Progress(num_steps, latest_step, enabled=lead)
  if latest_step >= num_steps and status.get("state") == "done" and status.get("step") == latest_step:
    checkpointer.close()
    progress.say(f"Run in {run.path} already finished at step {latest_step}; nothing to train.")
    return status
  if lead:
    run.write_config(config_lib.as_json(config))
    trainer.write_files(run)
  # A damaged newest checkpoint is moved aside and the one before it restored.
  restored = latest_step and checkpointer.restore_latest(
      strategy.abstract_state(trainer.state_shapes), warn=progress.say)
  start_step, data_state = 0, None
  if restored:
    start_step, host_state, data_state = restored
    state = strategy.put_state(host_state)
    if lead:
      run.drop_metrics_after(start_step)
    progress.say(f"Resumed from step {start_step} in {run.checkpoint_dir}")
  else:
    state = trainer.initial_state()
  # wall_seconds counts each earlier attempt up to its last checkpoint (status.json is rewritten
  # at every save); the work a kill lost after that checkpoint is redone, not counted twice.
  previous_seconds = status.get("wall_seconds", 0.0) if start_step else 0.0
  progress.say(trainer.describe(state))

  # --- Input, metrics ---
  trainer.start(data_state)
  writer = MetricWriter(run.metrics_path, run.tensorboard_dir, enabled=lead)
  trace = profiler.StepTrace(profile_steps, run.tensorboard_dir, say=progress.say)

  def wall_seconds():
    return round(previous_seconds + time.perf_counter() - launch_time, 2)

  if lead:
    run.write_status("running", start_step, num_train_steps=num_steps, wall_seconds=previous_seconds)

  def save(step):
    if checkpointer.latest_step() != step:
      checkpointer.save(step, strategy.checkpointable(state), trainer.data_state(step))
      if lead:
        run.write_status("running", step, num_train_steps=num_steps, wall_seconds=wall_seconds())

  def evaluate(step):
    for split, metrics in trainer.evaluate(state).items():
      writer.write(step, split, metrics)
      progress.report(step, split, metrics)

  # --- Loop ---
  skip_nonfinite = config.get("nonfinite_steps", "stop") == "skip"
  rate_key = f"{trainer.rate_unit}_per_sec"
  pending = []  # Device-side metrics since the last log: fetched only when logged.
  last_log_time, last_log_step = None, start_step
  final_state, step = "done", start_step
  # The guard stays on until the last checkpoint, the export and the status are written, so a
  # second signal (or Ctrl-C) during them cannot interrupt them.
  with PreemptionGuard() as preemption:
    try:
      loop_start = time.perf_counter()
      for step in range(start_step + 1, num_steps + 1):
        trace.before(step)
        state, metrics = trainer.step(state, step)
        trace.after(step, (state, metrics))
        pending.append(metrics)

        if last_log_time is None:  # The first step compiled: rates and ETA count from here.
          jax.block_until_ready(metrics)
          last_log_time, last_log_step = time.perf_counter(), step
          progress.started(step)
          cached = compilation_cache.hits()
          progress.say(f"First step (compile included) took {last_log_time - loop_start:.1f}s"
                       + (f"; {cached} program(s) loaded from the compilation cache" if cached else ""))

        log_due = step % config.log_every_steps == 0 or step == num_steps
        checkpoint_due = step % config.checkpoint_every_steps == 0 or step == num_steps
        if log_due or checkpoint_due:  # The only places the host waits for the devices.
          fetched = strategy.fetch(pending)
          good = [m for m in fetched if _finite(m)]
          # Skipped steps changed nothing, unless every step since the last log was skipped.
          tolerated = skip_nonfinite and good
          if len(good) < len(fetched) and not tolerated:  # Never log it as progress, never checkpoint it.
            bad = next(m for m in fetched if not _finite(m))
            final_state = "diverged"
            last_good = checkpointer.latest_step()
            progress.say(
                f"Loss {float(bad['loss'])}, gradient norm {float(bad['grad_norm'])} by step {step}; stopped. "
                + (f"The last good checkpoint is step {last_good}; " if last_good is not None else
                   "No checkpoint was written yet, so a relaunch starts over; ")
                + "lower the learning rate or clip gradients (optimizer.grad_clip_norm)"
                + ("" if skip_nonfinite else ", or skip such steps (nonfinite_steps=skip)") + ".")
            break
        if log_due:
          logged = {k: float(sum(m[k] for m in good) / len(good)) for k in good[0] if k != "skipped"}
          if skip_nonfinite:
            logged["skipped_steps"] = float(len(fetched) - len(good))
          now = time.perf_counter()
          if step > last_log_step:
            logged[rate_key] = config.batch_size * (step - last_log_step) / (now - last_log_time)
          last_log_time, last_log_step, pending = now, step, []
          writer.write(step, "train", logged)
          progress.report(step, "train", logged)

        side_work_start = time.perf_counter()
        if step % config.eval_every_steps == 0 or step == num_steps:
          evaluate(step)
        if checkpoint_due:
          save(step)
        # Training throughput excludes evaluation and checkpointing.
        last_log_time += time.perf_counter() - side_work_start

        if preemption.requested:
          save(step)
          final_state = "preempted"
          progress.say(f"{preemption.signal_name}: saved step {step}; run the same command to resume.")
          break

      # --- Finish ---
      # A run killed after its final checkpoint but before its status said done is finished
      # here: its last evaluation is redone if it was not logged, then the export and the plot.
      if final_state == "done" and step == start_step and not any(
          r["step"] == step and r["split"] == "eval" for r in run.read_metrics()):
        evaluate(step)
      checkpointer.close()
      writer.close()
      extra = trainer.export(state, run, final_state) if lead else {}
    except BaseException as e:
      checkpointer.close()
      writer.close()
      if lead:
        run.write_status("failed", step, num_train_steps=num_steps, wall_seconds=wall_seconds(),
                         error=f"{type(e).__name__}: {e}")
      raise
    finally:
      trace.stop()
      trainer.close()

    if not lead:
      return {"state": final_state, "step": step}
    records = run.read_metrics()
    final_eval = next((r for r in reversed(records) if r["split"] == "eval"), {})
    final_eval = {k: v for k, v in final_eval.items() if k not in ("step", "split")}
    if records:
      plots.training_curves(records, run.curves_path, title=trainer.plot_title())
    status = run.write_status(final_state, step, num_train_steps=num_steps, wall_seconds=wall_seconds(),
                              **extra, **{f"eval_{k}": v for k, v in final_eval.items()})
  if final_state == "done":
    progress.say(f"Done: step {step}, eval " + ", ".join(f"{k} {v:.4f}" for k, v in final_eval.items()))
  progress.say(f"Metrics: {run.metrics_path}\nCheckpoints: {run.checkpoint_dir}\n"
               f"Curves: {run.curves_path}\nTensorBoard: tensorboard --logdir {run.tensorboard_dir}")
  return status
