"""Every test sees 8 CPU devices, so data-parallel code paths run for real on one CPU."""

import os

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
