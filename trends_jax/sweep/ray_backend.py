"""The Ray backend: the same trials, the same train.py processes, scheduled by Ray Tune on a local
Ray or a cluster, optionally stopped early by ASHA."""

import os
import time

from trends_jax.errors import UserError
from trends_jax.sweep import results, trial
from trends_jax.sweep.hyper import Trial


def _ray_trainable(params: dict) -> None:
  """One trial inside a Ray actor: the same train.py process, its eval lines reported to Tune."""
  from ray import tune
  overrides = params["overrides"]
  run = trial.trial_workdir(params["workdir"], overrides)
  if trial.is_done(run):
    return
  process, log_file = trial.start(overrides, params["config_arg"], run, config_flags=tuple(params["config_flags"]))
  split = params["split"]
  reported = 0
  try:
    while True:
      finished = process.poll() is not None
      # The records of the metric's split, as "<split>_<name>" (e.g. eval_loss), what ASHA ranks.
      for record in [r for r in run.read_metrics() if r["split"] == split][reported:]:
        reported += 1
        tune.report({f"{split}_{k}": v for k, v in record.items() if k not in ("split",)})
      if finished:
        break
      time.sleep(0.5)
  finally:
    if process.poll() is None:  # Stopped early: let it checkpoint, if Ray gives it the time.
      process.terminate()
      process.wait()
    log_file.close()
  if process.returncode == 2:
    trial.record_bad_input(run)


def run_ray(trials: list[Trial], config_arg: str, workdir: str, parallel: int = 1,
            address: str | None = None, asha: bool = False,
            metric: results.Metric = results.DEFAULT_METRIC, config_flags: tuple[str, ...] = (),
            base_seed: int | None = None) -> list[dict]:
  """The same trials through Ray Tune, on a local Ray or the cluster at `address`.

  On a cluster, `workdir` must be on a filesystem every node sees. With `asha`, Tune's ASHA
  scheduler stops trials whose `metric` (any logged split/name) lags at each evaluation: they end "preempted", with
  "stopped early by ASHA" as their error, and resume from their last checkpoint if run again.
  """
  try:
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
  except ImportError:
    raise UserError("the Ray backend needs Ray Tune; run: pip install 'trends_jax[ray]'") from None
  workdir = os.path.abspath(workdir)
  ray.init(address=address, include_dashboard=False, ignore_reinit_error=True,
           log_to_driver=False, **({} if address else {"num_cpus": parallel}))
  path, sep, arg = config_arg.partition(":")
  param_space = {"overrides": tune.grid_search(trials), "config_arg": os.path.abspath(path) + sep + arg,
                 "workdir": workdir,
                 "config_flags": list(config_flags), "split": metric.split}
  tuner = tune.Tuner(
      tune.with_resources(_ray_trainable, {"cpu": 1}),
      param_space=param_space,
      tune_config=tune.TuneConfig(
          max_concurrent_trials=parallel,
          scheduler=ASHAScheduler(metric=metric.column, mode=metric.mode, grace_period=1, reduction_factor=2) if asha else None),
      run_config=tune.RunConfig(name="tune", storage_path=os.path.join(workdir, "ray"), verbose=0))
  tuner.fit()
  # Ray ends a stopped trial's worker and its children at once, so the trial cannot say why.
  for overrides in trials:
    run = trial.trial_workdir(workdir, overrides)
    status = run.read_status() or {}
    if status.get("state") == "running":
      evals = trial.eval_records(run)
      kept = {k: v for k, v in status.items() if k not in ("state", "step", "updated", "error")}
      run.write_status("preempted", evals[-1]["step"] if evals else 0,
                       error="stopped early by ASHA" if asha else "the trial's process ended without a status",
                       **kept)
  return results.collect(trials, workdir, metric, base_seed)
