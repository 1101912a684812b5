"""One trial of a sweep: a normal run of experiments/train.py in DIR/trials/<trial_id>/, the id
derived from its overrides, so that running the sweep again skips finished trials and resumes
unfinished ones. Its files are read and written through the run's own `Workdir`.
"""

import hashlib
import json
import os
import signal
import subprocess
import sys

from trends_jax.errors import UserError
from trends_jax.run.workdir import Workdir
from trends_jax.sweep.hyper import Trial


def trial_id(overrides: Trial) -> str:
  """Stable across runs and orderings: a readable prefix and a hash of the sorted overrides."""
  canonical = json.dumps(overrides, sort_keys=True, default=str)
  readable = "_".join(f"{k.split('.')[-1]}={v}" for k, v in sorted(overrides.items()))
  readable = "".join(c if c.isalnum() or c in "=._-" else "-" for c in readable)[:60]
  return f"{readable}-{hashlib.sha1(canonical.encode()).hexdigest()[:8]}"


def trial_workdir(workdir: str, overrides: Trial) -> Workdir:
  return Workdir(os.path.join(workdir, "trials", trial_id(overrides)))


def check(trials: list[Trial], config) -> None:
  """Every swept field exists in the config; no empty sweep; no two identical trials."""
  if not trials:
    raise UserError("the sweep is empty: get_sweep() or --sweep gave no trials")
  for field in sorted({f for t in trials for f in t}):
    node = config
    for part in field.split("."):
      if not hasattr(node, "keys") or part not in node:
        raise UserError(f"swept field {field!r} is not in the config; check its spelling "
                        "(the fields of a run are listed in its workdir's config.json)")
      node = node[part]
  ids = [trial_id(t) for t in trials]
  duplicates = sorted({i for i in ids if ids.count(i) > 1})
  if duplicates:
    raise UserError(f"the sweep has {len(ids) - len(set(ids))} duplicate trial(s), e.g. "
                    f"{trials[ids.index(duplicates[0])]}; remove repeated values")


def override_flags(overrides: Trial) -> list[str]:
  def text(v):
    return str(v).lower() if isinstance(v, bool) else repr(v) if isinstance(v, float) else str(v)
  return [f"--config.{k}={text(v)}" for k, v in overrides.items()]


def is_done(run: Workdir) -> bool:
  return (run.read_status() or {}).get("state") == "done"


def eval_records(run: Workdir, skip: int = 0) -> list[dict]:
  return [r for r in run.read_metrics() if r["split"] == "eval"][skip:]


def _die_with_parent() -> None:
  """Linux: the trial gets SIGTERM (and checkpoints) if the process that started it dies."""
  try:
    import ctypes
    ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
  except OSError:
    pass


def start(overrides: Trial, config_arg: str, run: Workdir, train_script: str | None = None,
          env: dict | None = None, config_flags: tuple[str, ...] = ()):
  """Starts experiments/train.py for one trial, the sweep command's own --config.* flags first;
  output goes to <trial dir>/log.txt."""
  train_script = train_script or os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                              "experiments", "train.py")
  os.makedirs(run.path, exist_ok=True)
  log_file = open(os.path.join(run.path, "log.txt"), "a")
  process = subprocess.Popen(
      [sys.executable, train_script, f"--config={config_arg}", f"--workdir={run.path}",
       *config_flags, *override_flags(overrides)],
      stdout=log_file, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
      # Its own session, so that a Ray worker killed with its process group does not take the
      # trial down mid-write; the parent-death signal then lets it checkpoint and stop.
      start_new_session=True, preexec_fn=_die_with_parent)
  return process, log_file


def record_bad_input(run: Workdir) -> None:
  """The launcher refused the trial's input (exit code 2) and wrote nothing: its status says why,
  in the one line the launcher printed last."""
  with open(os.path.join(run.path, "log.txt")) as f:
    lines = [line.strip() for line in f if line.strip()]
  run.write_status("failed", 0, error=lines[-1] if lines else "")


RECORD = "sweep.json"
# What makes two sweep commands the same sweep: a resumed one must agree on these. (A grid may grow:
# its new trials run, the finished ones are kept.)
RECORD_KEYS = {"config": "--config", "overrides": "--config.* overrides", "search": "--search",
               "search_trials": "--trials", "search_seed": "--search_seed"}


def check_record(workdir: str, record: dict) -> None:
  """Refuses a sweep directory that holds a sweep of another command (nothing there is touched)."""
  path = os.path.join(workdir, RECORD)
  if not os.path.exists(path):
    return
  with open(path) as f:
    saved = json.load(f)
  for key, name in RECORD_KEYS.items():
    then, now = saved.get(key), record.get(key)
    if then != now:
      if isinstance(then, list) and isinstance(now, list):  # Name only what differs.
        then, now = [x for x in then if x not in now] or "none", [x for x in now if x not in then] or "none"
      raise UserError(f"sweep {workdir} was run with other {name} ({then} then, {now} now); "
                      "use a new --workdir, or the same flags to resume")


def write_record(workdir: str, record: dict) -> None:
  """DIR/sweep.json: the sweep's command, its overrides and its trials."""
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, RECORD), "w") as f:
    json.dump(record, f, indent=2, sort_keys=True, default=str)
