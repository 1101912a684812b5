"""Two processes on localhost as one multi-host run (jax.distributed over gloo) train like one.

Process count changes who reads what, never which examples form a global batch, so a run on
2 processes × 2 devices ends where a run on 1 process × 4 devices ends. The two-process run is
stopped half way and started again, so the collective checkpoint restore is exercised too.
"""

import json
import os
import socket
import subprocess
import sys

import jax
import numpy as np
import orbax.checkpoint as ocp

from tests.conftest import REPO

# Dropout on, so each process's random streams matter; a constant rate, so 8 + 8 steps = 16 steps.
ARGS = ["--config=configs/default.py:quick", "--config.optimizer.schedule=constant",
        "--config.log_every_steps=2", "--config.checkpoint_every_steps=4", "--config.eval_every_steps=8",
        "--config.batch_size=32"]


def _env(devices_per_process):
  return {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices_per_process}",
          "JAX_PLATFORMS": "cpu"}


def _free_port():
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def _command(workdir, data_dir, steps, *extra):
  return [sys.executable, "experiments/train.py", *ARGS, f"--config.num_train_steps={steps}",
          f"--workdir={workdir}", f"--config.dataset.data_dir={data_dir}", *extra]


def _two_processes(workdir, data_dir, steps):
  address = f"localhost:{_free_port()}"
  processes = [subprocess.Popen(
      _command(workdir, data_dir, steps, f"--coordinator_address={address}", "--num_processes=2",
               f"--process_id={i}"), cwd=REPO, env=_env(2), text=True,
      stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in range(2)]
  outputs = [p.communicate(timeout=600) for p in processes]
  assert [p.returncode for p in processes] == [0, 0], "\n\n".join(
      f"process {i}:\n{stdout[-1500:]}\n{stderr[-1500:]}" for i, (stdout, stderr) in enumerate(outputs))
  return [stdout for stdout, _ in outputs]


def _params(workdir, step):
  """Parameters as numpy arrays, whatever devices wrote them (the two runs' device ids differ)."""
  path = os.path.join(workdir, "checkpoints", str(step), "state")
  checkpointer = ocp.PyTreeCheckpointer()
  tree = checkpointer.metadata(path).item_metadata.tree
  as_numpy = jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), tree)
  return checkpointer.restore(path, restore_args=as_numpy)["params"]


def test_two_processes_train_like_one(data_dir, tmp_path):
  single = str(tmp_path / "single")
  result = subprocess.run(_command(single, data_dir, 16), cwd=REPO, env=_env(4), capture_output=True,
                          text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]

  multi = str(tmp_path / "multi")
  first = _two_processes(multi, data_dir, 8)
  assert "on 4 cpu device(s)" in first[0]
  # Only process 0 speaks. (gloo's C++ threads also print connection lines, interleaved at random.)
  assert not any(marker in first[1] for marker in ("parameters;", "First step", "train step", "Done:"))
  second = _two_processes(multi, data_dir, 16)
  assert "Resumed from step 8" in second[0]

  # Equal up to the order of the gradient sums (gloo across processes against XLA in one): after
  # 16 Adam steps a few weights of rarely active inputs differ by ~4e-6 of their 1e-2 size.
  for a, b in zip(jax.tree.leaves(_params(multi, 16)), jax.tree.leaves(_params(single, 16))):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=2e-5)
  # Process 0 alone wrote the metrics: every train and eval line once, matching the single run.
  lines = [json.loads(line) for line in open(os.path.join(multi, "metrics.jsonl"))]
  reference = [json.loads(line) for line in open(os.path.join(single, "metrics.jsonl"))]
  assert [(r["step"], r["split"]) for r in lines] == [(r["step"], r["split"]) for r in reference]
  for r, s in zip(lines, reference):
    assert abs(r["loss"] - s["loss"]) < 1e-4
  assert json.load(open(os.path.join(multi, "status.json")))["state"] == "done"
