"""The files of a run's workdir: config.json, status.json, metrics.jsonl, and their checks.

A leaf: plain JSON in and out, no jax and no config module, so that sweeps and reports read run
files through the same code that writes them. Writes are atomic (a temporary file, then a
rename), so a run killed at any moment leaves each file either old or new, never half written.
"""

import json
import os
import shutil
import time
from collections.abc import Callable
from typing import Any

from trends_jax.errors import UserError

FREE_SPACE_MARGIN = 16 * 2**20  # Metrics, TensorBoard events and orbax's metadata.
IMPORTED = "imported"  # status.json's state in a workdir of imported weights (training/trained.py).


def _atomic_write(path: str, text: str) -> None:
  tmp = f"{path}.tmp{os.getpid()}"
  with open(tmp, "w") as f:
    f.write(text)
  os.replace(tmp, path)


class Workdir:

  def __init__(self, path: str):
    self.path = os.path.abspath(path)
    self.config_path = os.path.join(self.path, "config.json")
    self.status_path = os.path.join(self.path, "status.json")
    self.metrics_path = os.path.join(self.path, "metrics.jsonl")
    self.checkpoint_dir = os.path.join(self.path, "checkpoints")
    self.variables_dir = os.path.join(self.path, "variables")  # Imported weights (training/trained.py).
    self.tensorboard_dir = os.path.join(self.path, "tensorboard")
    self.curves_path = os.path.join(self.path, "curves.png")

  def check_config(self, config: dict, differences: Callable[[dict, dict], list[str]]) -> None:
    """Refuses a workdir that holds a run of a different config (nothing there is touched).

    `differences(saved, config)` names the fields that make two configs different runs."""
    if os.path.exists(self.path) and not os.path.isdir(self.path):
      raise UserError(f"workdir {self.path} is a file; pass a directory to --workdir")
    if not os.path.exists(self.config_path):
      return
    with open(self.config_path) as f:
      differences = differences(json.load(f), config)
    if differences:
      raise UserError(
          f"workdir {self.path} holds a run of a different config ({differences[0]}"
          f"{f' and {len(differences) - 1} more' if len(differences) > 1 else ''}); "
          "use a new --workdir, or the same config to resume")

  def check_writable(self) -> None:
    """Creates the workdir if needed and writes a probe file: a read-only place fails here."""
    probe = os.path.join(self.path, f".write_probe{os.getpid()}_{os.uname().nodename}")
    try:
      os.makedirs(self.path, exist_ok=True)
      fd = os.open(probe, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
      try:
        os.write(fd, b"ok")
        os.fsync(fd)
      finally:
        os.close(fd)
      os.remove(probe)
    except OSError as e:
      raise UserError(f"cannot write to workdir {self.path} ({e.strerror}); "
                      "pass a writable --workdir") from None

  def check_free_space(self, checkpoint_bytes: int) -> None:
    """Room for two checkpoints (the one written and the last good one) and the logs."""
    needed = 2 * checkpoint_bytes + FREE_SPACE_MARGIN
    existing = self.path
    while not os.path.exists(existing):  # Measured where the workdir will be created.
      existing = os.path.dirname(existing)
    free = shutil.disk_usage(existing).free
    if free < needed:
      raise UserError(f"workdir {self.path} has {free / 2**20:.1f} MiB free; this run needs about "
                      f"{needed / 2**20:.1f} MiB (two checkpoints of {checkpoint_bytes / 2**20:.1f} MiB "
                      "and its logs); free some space or pass another --workdir")

  def write_config(self, config: dict) -> None:
    os.makedirs(self.path, exist_ok=True)
    _atomic_write(self.config_path, json.dumps(config, indent=2, sort_keys=True, default=str) + "\n")

  def read_config(self) -> dict | None:
    """The run's config as it was saved (None if there is none); JSON lists become tuples again,
    as model fields such as CNN features must be hashable."""
    if not os.path.exists(self.config_path):
      return None
    with open(self.config_path) as f:
      return json.load(f, object_hook=lambda d: {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})

  def read_status(self) -> dict | None:
    try:
      with open(self.status_path) as f:
        return json.load(f)
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
      return None

  def write_status(self, state: str, step: int, **fields: Any) -> dict:
    status = {"state": state, "step": int(step), "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              **fields}
    os.makedirs(self.path, exist_ok=True)
    _atomic_write(self.status_path, json.dumps(status, indent=2) + "\n")
    return status

  def drop_metrics_after(self, step: int) -> None:
    """On resume, forget metrics of steps past the checkpoint: they are about to be redone."""
    if not os.path.exists(self.metrics_path):
      return
    with open(self.metrics_path) as f:
      lines = [line for line in f if line.strip()]
    kept = [line for line in lines if json.loads(line)["step"] <= step]
    if len(kept) != len(lines):
      _atomic_write(self.metrics_path, "".join(kept))

  def read_metrics(self) -> list[dict]:
    if not os.path.exists(self.metrics_path):
      return []
    with open(self.metrics_path) as f:
      return [json.loads(line) for line in f if line.strip()]
