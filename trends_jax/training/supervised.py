"""The trainer: `train_and_evaluate(config, workdir)` runs, resumes or finishes one run.

Reads top to bottom: checks → data → program (model, loss, optimizer, compiled steps) → state
(restored or new) → loop (train, log, evaluate, checkpoint, preemption) → final status and plot.
"""

import functools
import math
import time
from typing import Callable, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from trends_jax.training import config as config_lib
from trends_jax.run import compilation_cache, plots
from trends_jax import data, losses, models, optim
from trends_jax.training import parallel, steps
from trends_jax.run.checkpoint import Checkpointer
from trends_jax.data import pipeline, preprocess
from trends_jax.run.metric_writer import MetricWriter, Progress
from trends_jax.run.preemption import PreemptionGuard
from trends_jax.run.workdir import Workdir


def _model_kwargs(config, num_classes: int) -> dict:
  kwargs = {k: v for k, v in config.model.items() if k != "name"}
  kwargs.setdefault("num_classes", num_classes)
  kwargs["dtype"] = jnp.dtype(config.dtype)
  return kwargs


class Program(NamedTuple):
  """What a config compiles to: the model, its state's constructor and the two compiled steps."""
  model: nn.Module
  make_state: Callable[[], steps.TrainState]
  state_shapes: steps.TrainState  # jax.ShapeDtypeStructs of the state make_state builds.
  train_step: Callable
  eval_step: Callable


def build_program(config: ml_collections.ConfigDict, strategy, example_inputs, num_classes: int,
                  num_steps: int) -> Program:
  """Model, loss and optimizer of `config`, wired into steps compiled for `strategy`.

  Model errors (an input too small for it…) surface here, through eval_shape, before anything
  is written; the steps compile lazily, at their first call."""
  model = strategy.adapt_model(models.create(config.model.name, **_model_kwargs(config, num_classes)))
  loss_fn = losses.create(config.loss.name, **{k: v for k, v in config.loss.items() if k != "name"})
  tx, learning_rate_fn = optim.create(config.optimizer, num_steps)
  make_state = functools.partial(steps.create_train_state, model, tx,
                                 jax.random.PRNGKey(config.seed), jnp.asarray(example_inputs))
  state_shapes = jax.eval_shape(make_state)
  train_step = strategy.compile_train_step(
      steps.make_train_step(model, loss_fn, learning_rate_fn, strategy.axis_name,
                            skip_nonfinite=config.get("nonfinite_steps", "stop") == "skip"))
  eval_step = strategy.compile_eval_step(steps.make_eval_step(model, loss_fn, strategy.axis_name))
  return Program(model, make_state, state_shapes, train_step, eval_step)


def _finite(metrics: dict) -> bool:
  return math.isfinite(metrics["loss"]) and math.isfinite(metrics["grad_norm"])


def evaluate(eval_step, state, strategy, config, source) -> dict:
  """Mean loss and metrics over the whole evaluation split."""
  totals = None
  batches = pipeline.eval_batches(source, data.DatasetSpec.from_config(config.dataset),
                                  global_batch_size=config.eval_batch_size or config.batch_size)
  for batch in batches:
    sums = eval_step(state, strategy.put_batch(batch))
    totals = sums if totals is None else jax.tree.map(jnp.add, totals, sums)
  totals = strategy.fetch(totals)
  count = totals.pop("count")
  return {k: float(v) / float(count) for k, v in totals.items()}


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, devices=None) -> dict:
  """Trains `config` in `workdir` (resuming what is there); returns the final status dict."""
  lead = jax.process_index() == 0
  launch_time = time.perf_counter()

  # --- Checks: every user error surfaces here, before data is read or anything compiles ---
  strategy = parallel.create(config.parallel, devices)
  config_lib.validate(config, strategy.num_devices, jax.process_count())
  run = Workdir(workdir)
  run.check_config(config_lib.as_json(config), config_lib.identity_differences)

  # --- Data ---
  ds = config.dataset
  spec = data.DatasetSpec.from_config(ds)
  train_source = data.examples(spec, ds.train_split)
  eval_sources = {"eval": data.examples(spec, ds.eval_split)}
  if ds.get("train_eval_split"):
    eval_sources["train_eval"] = data.examples(spec, ds.train_eval_split)
  num_steps = config_lib.num_train_steps(config, len(train_source))
  example = pipeline.example_batch(train_source, spec)
  preprocess.parse(ds.eval_preprocess)  # A bad evaluation spec fails now, not at the first eval.

  # --- Model, loss, optimizer and the compiled steps ---
  program = build_program(config, strategy, example["inputs"], data.num_outputs(spec), num_steps)

  # --- The workdir can hold this run (the last check: nothing is written before it) ---
  run.check_free_space(sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(program.state_shapes)))
  run.check_writable()

  # --- State: from the latest checkpoint, or new ---
  checkpointer = Checkpointer(run.checkpoint_dir, config.get("keep_checkpoints", 3))
  latest_step = checkpointer.latest_step() or 0
  progress = Progress(num_steps, latest_step, enabled=lead)
  if latest_step >= num_steps:
    checkpointer.close()
    progress.say(f"Run in {run.path} already finished at step {latest_step}; nothing to train.")
    return run.read_status() or run.write_status("done", latest_step, num_train_steps=num_steps)
  if lead:
    run.write_config(config_lib.as_json(config))
  loader = pipeline.train_loader(train_source, spec, global_batch_size=config.batch_size, seed=config.seed)
  loader_iterator = iter(loader)
  restored = latest_step and checkpointer.restore_latest(
      strategy.abstract_state(program.state_shapes), warn=progress.say)
  start_step = 0
  if restored:
    start_step, host_state, data_state = restored
    state = strategy.put_state(host_state)
    pipeline.restore_loader_state(loader_iterator, data_state)
    if lead:
      run.drop_metrics_after(start_step)
    progress.say(f"Resumed from step {start_step} in {run.checkpoint_dir}")
  else:
    state = strategy.init_state(program.make_state)
  previous_seconds = (run.read_status() or {}).get("wall_seconds", 0.0) if start_step else 0.0
  param_count = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(strategy.checkpointable(state).params))
  progress.say(f"{config.model.name}: {param_count:,} parameters; {num_steps} steps of "
               f"{config.batch_size} on {strategy.num_devices} {jax.devices()[0].platform} device(s), "
               f"parallel={config.parallel}, dtype={config.dtype}")

  # --- Input on the devices, metrics ---
  batches = pipeline.PrefetchToDevice(loader_iterator, strategy.put_batch)
  writer = MetricWriter(run.metrics_path, run.tensorboard_dir, enabled=lead)
  if lead:
    run.write_status("running", start_step, num_train_steps=num_steps)

  def save(step):
    if checkpointer.latest_step() != step:
      checkpointer.save(step, strategy.checkpointable(state), batches.state())

  # --- Loop ---
  skip_nonfinite = config.get("nonfinite_steps", "stop") == "skip"
  pending = []  # Device-side metrics since the last log: fetched only when logged.
  last_log_time, last_log_step = None, start_step
  final_state, step = "done", start_step
  # The guard stays on until the last checkpoint and the status are written, so a second
  # signal (or Ctrl-C) during the final save cannot interrupt it.
  with PreemptionGuard() as preemption:
    try:
      loop_start = time.perf_counter()
      for step in range(start_step + 1, num_steps + 1):
        state, metrics = program.train_step(state, next(batches))
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
            progress.say(f"Loss {float(bad['loss'])}, gradient norm {float(bad['grad_norm'])} by step {step}; "
                         f"stopped. The last good checkpoint is step {checkpointer.latest_step()}; "
                         "lower the learning rate or clip gradients (optimizer.grad_clip_norm)"
                         f"{'' if skip_nonfinite else ', or skip such steps (nonfinite_steps=skip)'}.")
            break
        if log_due:
          logged = {k: float(np.mean([m[k] for m in good])) for k in good[0] if k != "skipped"}
          if skip_nonfinite:
            logged["skipped_steps"] = float(len(fetched) - len(good))
          now = time.perf_counter()
          if step > last_log_step:
            logged["examples_per_sec"] = config.batch_size * (step - last_log_step) / (now - last_log_time)
          last_log_time, last_log_step, pending = now, step, []
          writer.write(step, "train", logged)
          progress.report(step, "train", logged)

        side_work_start = time.perf_counter()
        if step % config.eval_every_steps == 0 or step == num_steps:
          for split, source in eval_sources.items():
            eval_metrics = evaluate(program.eval_step, state, strategy, config, source)
            writer.write(step, split, eval_metrics)
            progress.report(step, split, eval_metrics)

        if checkpoint_due:
          save(step)
        # Training throughput excludes evaluation and checkpointing.
        last_log_time += time.perf_counter() - side_work_start

        if preemption.requested:
          save(step)
          final_state = "preempted"
          progress.say(f"{preemption.signal_name}: saved step {step}; run the same command to resume.")
          break
    except BaseException as e:
      checkpointer.close()
      writer.close()
      if lead:
        run.write_status("failed", step, num_train_steps=num_steps, error=f"{type(e).__name__}: {e}")
      raise

    # --- Finish ---
    checkpointer.close()
    writer.close()
    if not lead:
      return {"state": final_state, "step": step}
    records = run.read_metrics()
    final_eval = next((r for r in reversed(records) if r["split"] == "eval"), {})
    if records:
      plots.training_curves(records, run.curves_path, title=f"{config.model.name} on {ds.name}")
    status = run.write_status(final_state, step, num_train_steps=num_steps,
                              wall_seconds=round(previous_seconds + time.perf_counter() - launch_time, 2),
                              **{f"eval_{k}": v for k, v in final_eval.items() if k not in ("step", "split")})
  if final_state == "done":
    progress.say(f"Done: step {step}, eval " + ", ".join(
        f"{k} {v:.4f}" for k, v in final_eval.items() if k not in ("step", "split")))
  progress.say(f"Metrics: {run.metrics_path}\nCheckpoints: {run.checkpoint_dir}\n"
               f"Curves: {run.curves_path}\nTensorBoard: tensorboard --logdir {run.tensorboard_dir}")
  return status
