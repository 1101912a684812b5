"""A `jax.profiler` trace of chosen training steps (`config.profile_steps`), and reading traces back.

The trace goes under the run's TensorBoard directory (`plugins/profile/<timestamp>/`), so the same
`tensorboard --logdir <workdir>/tensorboard` shows the scalars and, in the Profile tab
(tensorboard_plugin_profile), the trace; `<host>.trace.json.gz` in it is the Chrome trace-event
format that ui.perfetto.dev and chrome://tracing open, and that `read_trace` parses.
"""

import glob
import gzip
import json
import os
from collections.abc import Callable

import jax


class StepTrace:
  """Starts a trace before step `first` and stops it after step `last` has finished.

  `steps` is () for no trace, or (first, last), 1-based and inclusive. A run resumed inside the
  range traces the steps it still has; one resumed after it traces nothing."""

  def __init__(self, steps: tuple, logdir: str, say: Callable[[str], None] = print):
    self.first, self.last = (steps[0], steps[1]) if steps else (0, -1)
    self.logdir, self.say, self.active = logdir, say, False

  def before(self, step: int) -> None:
    if not self.active and self.first <= step <= self.last:
      jax.profiler.start_trace(self.logdir)
      self.active, self.started_at = True, step

  def after(self, step: int, outputs) -> None:
    if self.active and step >= self.last:
      # Steps are dispatched asynchronously: without the wait the trace would stop before the
      # devices ran the last traced step.
      jax.block_until_ready(outputs)
      self.stop()
      self.say(f"Profiled steps {self.started_at}–{step}: {latest_run(self.logdir)} (TensorBoard's Profile "
               "tab, or its .trace.json.gz in ui.perfetto.dev)")

  def stop(self) -> None:
    """Ends a trace still open (the loop stopped inside the range); safe to call at any time."""
    if self.active:
      self.active = False
      jax.profiler.stop_trace()


def latest_run(logdir: str) -> str | None:
  """The newest `plugins/profile/<timestamp>` folder under logdir, or None."""
  runs = sorted(glob.glob(os.path.join(logdir, "plugins", "profile", "*")), key=os.path.getmtime)
  return runs[-1] if runs else None


def read_trace(logdir: str) -> list[dict]:
  """The complete events ("ph": "X", with "dur" in µs) of the newest trace under logdir (every
  host's file in it), each with "thread": its thread's name."""
  run = latest_run(logdir)
  files = sorted(glob.glob(os.path.join(run, "*.trace.json.gz"))) if run else []
  if not files:
    raise FileNotFoundError(f"no *.trace.json.gz under {logdir}/plugins/profile")
  events = []
  for path in files:
    with gzip.open(path, "rt") as f:
      trace = json.load(f)
    raw = trace["traceEvents"] if isinstance(trace, dict) else trace
    threads = {(e.get("pid"), e.get("tid")): e["args"]["name"]
               for e in raw if e.get("ph") == "M" and e.get("name") == "thread_name"}
    events += [{**e, "thread": threads.get((e.get("pid"), e.get("tid")), "")}
               for e in raw if e.get("ph") == "X" and "dur" in e]
  return events
