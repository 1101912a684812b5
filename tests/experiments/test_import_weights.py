"""experiments/import_weights.py as a user runs it: a safetensors file becomes a workdir that
trained.load reads back with the same logits; bad input is one error line and nothing written."""

import json
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from trends_jax import models
from trends_jax.models import pretrained
from trends_jax.training import trained

from conftest import REPO

safetensors_numpy = pytest.importorskip("safetensors.numpy", reason="the weights files are safetensors")


def _run(*args):
  result = subprocess.run([sys.executable, "experiments/import_weights.py", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
  return result.returncode, result.stdout, result.stderr


def random_weights(path, name="resnet18", **kwargs):
  """Random tensors under torchvision's names and shapes (variances positive), as safetensors."""
  rng = np.random.default_rng(0)
  tensors = {k: rng.normal(0.0, 0.05, size=s).astype(np.float32)
             for k, s in pretrained.expected_tensors(name, **kwargs).items()}
  tensors.update({k: np.abs(v) + 0.5 for k, v in tensors.items() if k.endswith("running_var")})
  safetensors_numpy.save_file(tensors, str(path))
  return path


@pytest.fixture(scope="module")
def resnet18_file(tmp_path_factory):
  return random_weights(tmp_path_factory.mktemp("weights") / "resnet18.safetensors", num_classes=10)


def test_the_imported_workdir_loads_with_the_same_logits(resnet18_file, tmp_path):
  workdir = tmp_path / "imported"
  rc, stdout, stderr = _run("--model=resnet18", f"--weights={resnet18_file}", f"--workdir={workdir}")
  assert rc == 0, stderr
  assert stdout.strip() == (f"imported resnet18: 11,181,642 params, 10 classes, from {resnet18_file} "
                            f"into {workdir}")
  status = json.loads((workdir / "status.json").read_text())
  assert status["state"] == "imported" and status["weights"] == str(resnet18_file)
  config = json.loads((workdir / "config.json").read_text())
  # configs/imagenet2012.py:resnet18's recipe, with the class count of the file's head.
  assert config["model"] == {"name": "resnet18", "num_classes": 10}
  assert config["dataset"]["name"] == "imagenet2012" and config["dtype"] == "float32"  # As published numbers are evaluated.

  run = trained.load(str(workdir))
  module, variables = models.load_pretrained("resnet18", resnet18_file)
  jax.tree.map(np.testing.assert_array_equal, run.variables, variables)
  assert run.step == 0 and run.model.num_classes == 10 and run.model.dtype == jnp.float32
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 32, 32, 3))
  logits = run.model.apply(run.variables, x)
  np.testing.assert_array_equal(logits, module.apply(variables, x))


def test_the_model_fields_the_file_decides_are_recorded(tmp_path):
  """GoogLeNet: the aux heads follow the file; torchvision's input transform is on."""
  weights = random_weights(tmp_path / "g.safetensors", "googlenet", aux_logits=False, num_classes=4)
  rc, _, stderr = _run("--model=googlenet", f"--weights={weights}", f"--workdir={tmp_path / 'g'}",
                       "--config=configs/imagenet2012.py:googlenet", "--config.dtype=float32")
  assert rc == 0, stderr
  config = json.loads((tmp_path / "g" / "config.json").read_text())
  assert config["model"] == {"name": "googlenet", "num_classes": 4, "aux_logits": False, "transform_input": True}
  assert config["dtype"] == "float32"
  run = trained.load(str(tmp_path / "g"))
  assert run.model.transform_input and not run.model.aux_logits


@pytest.mark.parametrize("case, message", [
    ("missing file", "weights file {dir}/nosuch.safetensors does not exist"),
    ("unreadable file", "cannot read {dir}/junk.safetensors as safetensors: "),
    ("unknown model", "no published-weights mapping for model 'resnet19'; supported: resnet18,"),
    # vgg11 also takes vgg16's recipe: configs/imagenet2012.py has none of its own.
    ("other architecture", "does not fit vgg11: tensor features.0.weight is missing (22 missing, 102 unexpected "
                           "of 22 expected); it fits resnet18: load it with name 'resnet18'"),
    ("config of another model", "--config's model.name is 'resnet50' but --model=resnet18"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(resnet18_file, tmp_path, case, message):
  (tmp_path / "junk.safetensors").write_bytes(b"\x00not a safetensors file")
  args = {
      "missing file": ["--model=resnet18", f"--weights={tmp_path}/nosuch.safetensors"],
      "unreadable file": ["--model=resnet18", f"--weights={tmp_path}/junk.safetensors"],
      "unknown model": ["--model=resnet19", f"--weights={resnet18_file}"],
      "other architecture": ["--model=vgg11", f"--weights={resnet18_file}"],
      "config of another model": ["--model=resnet18", f"--weights={resnet18_file}",
                                  "--config=configs/imagenet2012.py:resnet50"],
  }[case]
  workdir = tmp_path / "imported"
  rc, stdout, stderr = _run(*args, f"--workdir={workdir}")
  lines = [line for line in stderr.splitlines() if line.strip()]
  assert rc == 2, stderr
  assert len(lines) == 1 and lines[0].startswith("error: ") and message.format(dir=tmp_path) in lines[0], stderr
  assert not workdir.exists()


def test_a_workdir_holding_a_run_is_refused_and_left_alone(resnet18_file, tmp_path):
  workdir = tmp_path / "run"
  workdir.mkdir()
  (workdir / "config.json").write_text('{"model": {"name": "cnn"}}')
  rc, _, stderr = _run("--model=resnet18", f"--weights={resnet18_file}", f"--workdir={workdir}")
  assert rc == 2
  assert stderr.strip() == (f"error: workdir {workdir} already holds a run or imported weights; "
                            "pass a new --workdir (nothing was changed)")
  assert sorted(p.name for p in workdir.iterdir()) == ["config.json"]
