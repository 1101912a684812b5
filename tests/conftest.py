"""Every test sees 8 CPU devices, so data-parallel code paths run for real on one CPU."""

import os
import re

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import pytest  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
  """A TFDS data dir holding the offline datasets, prepared once per session."""
  from trends_jax import data
  path = str(tmp_path_factory.mktemp("tensorflow_datasets"))
  for name in ("digits", "mnist5k"):
    data.prepare(name, path)
  return path


@pytest.fixture
def tiny_config(data_dir):
  """A CNN with BatchNorm on 8×8 digits: a few seconds per run."""
  from trends_jax.training.supervised import base_config

  def make(**overrides):
    c = base_config()
    c.batch_size = 32
    c.num_train_steps = 12
    c.eval_every_steps = 6
    c.log_every_steps = 3
    c.checkpoint_every_steps = 4
    c.model.name = "cnn"
    c.model.features = (4, 8)
    c.model.kernel_size = 3
    c.model.hidden = 16
    c.model.batch_norm = True
    c.optimizer.name = "momentum"
    c.optimizer.learning_rate = 0.05
    c.optimizer.schedule = "cosine"
    c.optimizer.warmup_steps = 2
    c.dataset.name = "digits"
    c.dataset.data_dir = data_dir
    c.eval_batch_size = 64
    c.update_from_flattened_dict(overrides)
    return c

  return make


class _PreemptAfter:
  """Stands in for PreemptionGuard: reports a preemption once `n` steps have been checked."""

  def __init__(self, n):
    self.n, self.checks, self.signal_name = n, 0, "SIGTERM"

  def __call__(self):
    return self

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    return False

  @property
  def requested(self):
    self.checks += 1
    return self.checks >= self.n


@pytest.fixture
def preempt_after(monkeypatch):
  """preempt_after(n): the loop's next runs stop as if SIGTERM came at the n-th step; undone by
  monkeypatch.undo()."""
  from trends_jax.training import loop
  return lambda n: monkeypatch.setattr(loop, "PreemptionGuard", _PreemptAfter(n))


@pytest.fixture
def damage_checkpoint():
  """damage_checkpoint(step_dir, item): truncates every file of one item of a checkpoint step to
  half its size."""
  def damage(step_dir, item):
    for root, _, files in os.walk(os.path.join(step_dir, item)):
      for name in files:
        path = os.path.join(root, name)
        size = os.path.getsize(path)
        with open(path, "r+b") as f:
          f.truncate(size // 2)
  return damage


def bad_input_rows(launcher: str) -> list:
  """docs/bad_input.md's rows under the heading `## <launcher>`, as pytest params (name, tried, message)."""
  rows, inside = [], False
  for line in open(os.path.join(REPO, "docs", "bad_input.md")):
    if line.startswith("## "):
      inside = line[3:].strip() == launcher
    elif inside and line.startswith("| ") and not line.startswith(("| bad input", "|---")):
      name, tried, message = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
      rows.append(pytest.param(name, tried, message.strip("`"), id=name.replace(" ", "_")))
  assert rows, f"docs/bad_input.md has no rows under '## {launcher}'"
  return rows


def assert_one_error_line(result, message: str, places: dict) -> None:
  """A bad-input row's outcome: exit code 2 and exactly `message` on stderr, its placeholders
  (`<workdir>`, …) filled in from `places` and each `…` standing for any text."""
  for place, value in places.items():
    message = message.replace(place, str(value))
  lines = [line for line in result.stderr.splitlines() if line.strip()]
  pattern = ".*".join(re.escape(part) for part in message.split("…"))
  assert result.returncode == 2, result.stderr[-3000:]
  assert len(lines) == 1 and re.fullmatch(pattern, lines[0]), f"{lines}\n!=\n{message}"


# Runs each command from one process that imports `preload` once and forks a child per command,
# which runs the launcher as `python <script> …` would (`__main__`, its argv, experiments/ first on
# sys.path), with its own stdout, stderr and exit code: a launcher's seconds of imports are paid once.
_FORKING_LAUNCHER = r"""
import importlib, json, os, runpy, sys, traceback
script, preload, commands = json.load(sys.stdin)
for module in preload:
  importlib.import_module(module)
sys.path[0] = "experiments"
codes = []
for args, out, err in commands:
  pid = os.fork()
  if pid == 0:
    for fd, path in ((1, out), (2, err)):
      os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
    sys.argv = [script, *args]
    code = 0
    try:
      runpy.run_path(script, run_name="__main__")
    except SystemExit as e:
      code = e.code if isinstance(e.code, int) else int(e.code is not None)
    except BaseException:
      traceback.print_exc()
      code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
  codes.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
print(json.dumps(codes))
"""


def launch_forked(script: str, commands: list[list[str]], tmp, preload: tuple[str, ...] = ()) -> list:
  """`python <script> <args>` for each of `commands` (args lists), as subprocess.CompletedProcess."""
  import json
  import subprocess
  import sys
  files = [[args, str(tmp / f"{i}.out"), str(tmp / f"{i}.err")] for i, args in enumerate(commands)]
  launcher = subprocess.run([sys.executable, "-c", _FORKING_LAUNCHER], input=json.dumps([script, list(preload), files]),
                            cwd=REPO, capture_output=True, text=True, timeout=900)
  assert launcher.returncode == 0, launcher.stderr[-3000:]
  codes = json.loads(launcher.stdout.splitlines()[-1])
  return [subprocess.CompletedProcess(args, code, open(out).read(), open(err).read())
          for (args, out, err), code in zip(files, codes)]
