"""experiments/train.py as a user runs it: the default task, preemption by signal, bad input."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO

QUICK = ["--config=configs/default.py:quick"]


def _launch(args, **kwargs):
  return subprocess.Popen([sys.executable, "experiments/train.py", *args], cwd=REPO, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


def _run(args, timeout=300):
  process = _launch(args)
  stdout, stderr = process.communicate(timeout=timeout)
  return process.returncode, stdout, stderr


def test_default_quick_run(data_dir, tmp_path):
  workdir = tmp_path / "run"
  rc, stdout, stderr = _run(QUICK + [f"--workdir={workdir}", f"--config.dataset.data_dir={data_dir}"])
  assert rc == 0, stderr
  assert "Done: step 20" in stdout and f"Curves: {workdir}/curves.png" in stdout
  assert json.loads((workdir / "status.json").read_text())["state"] == "done"
  assert json.loads((workdir / "config.json").read_text())["dataset"]["name"] == "mnist5k"


def test_sigterm_checkpoints_and_the_same_command_resumes(data_dir, tmp_path):
  workdir = tmp_path / "run"
  args = QUICK + [f"--workdir={workdir}", f"--config.dataset.data_dir={data_dir}",
                  "--config.optimizer.schedule=constant",  # So that the resume may be shorter.
                  "--config.num_train_steps=100000", "--config.log_every_steps=5",
                  "--config.eval_every_steps=100000", "--config.checkpoint_every_steps=100000"]
  process = _launch(args)
  metrics = workdir / "metrics.jsonl"
  deadline = time.time() + 120
  while not (metrics.exists() and metrics.read_text().strip()) and time.time() < deadline:
    time.sleep(0.2)
  process.send_signal(signal.SIGTERM)
  stdout, stderr = process.communicate(timeout=120)
  assert process.returncode == 75, stderr
  status = json.loads((workdir / "status.json").read_text())
  assert status["state"] == "preempted" and status["step"] >= 5
  assert str(status["step"]) in os.listdir(workdir / "checkpoints")
  assert "SIGTERM: saved step" in stdout

  rc, stdout, stderr = _run(args[:-4] + [f"--config.num_train_steps={status['step'] + 3}"])
  assert rc == 0, stderr
  assert f"Resumed from step {status['step']}" in stdout
  assert json.loads((workdir / "status.json").read_text())["step"] == status["step"] + 3


def test_a_relaunch_loads_its_compiled_steps_from_the_cache(data_dir, tmp_path):
  cache = tmp_path / "cache"
  args = QUICK + [f"--config.dataset.data_dir={data_dir}", f"--config.compilation_cache_dir={cache}"]
  rc, stdout, stderr = _run(args + [f"--workdir={tmp_path / 'first'}"])
  assert rc == 0, stderr
  assert "loaded from the compilation cache" not in stdout
  entries = set(os.listdir(cache))
  assert entries  # The train and eval steps, at least.

  rc, stdout, stderr = _run(args + [f"--workdir={tmp_path / 'second'}"])
  assert rc == 0, stderr
  assert "program(s) loaded from the compilation cache" in stdout
  assert set(os.listdir(cache)) == entries  # Nothing was compiled anew.


@pytest.mark.parametrize("args, message", [
    (["--config.nosuch=1"], "--config.nosuch: the config has no field 'nosuch'"),
    (["--config.optimizer.lr=0.1"], "--config.optimizer.lr: the config has no field 'lr'"),
    (["--config.batch_size=abc"], "--config.batch_size=abc"),
    (["--config.batch_size=12"], "batch_size 12 is not divisible by the 8 devices"),
    (["--config.model.name=vgg99"], "unknown model 'vgg99'"),
    (["--config.dataset.name=imagenet2012"], "'imagenet2012' is not prepared"),
    (["--config=configs/nosuch.py"], "configs/nosuch.py"),
    (["--config=configs/default.py:huge"], "takes no argument or 'quick'"),
])
def test_bad_input_is_one_line_and_exit_2(data_dir, tmp_path, args, message):
  workdir = tmp_path / "run"
  config_args = [a for a in QUICK if not any(x.startswith("--config=") for x in args)]
  rc, stdout, stderr = _run(config_args + args + [f"--workdir={workdir}",
                                                  f"--config.dataset.data_dir={data_dir}"])
  lines = [line for line in stderr.splitlines() if line.strip()]
  assert rc == 2, stderr
  assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], stderr
  assert not workdir.exists()


def test_missing_workdir_flag():
  rc, _, stderr = _run(QUICK)
  assert rc == 2 and "--workdir" in stderr
