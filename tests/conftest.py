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
    for key, value in overrides.items():
      target = c
      *parents, leaf = key.split(".")
      for p in parents:
        target = target[p]
      target[leaf] = value
    return c

  return make
