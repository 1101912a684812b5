"""The files of a run's workdir: config.json, status.json, metrics.jsonl (DESIGN.md contract 3).

Writes are atomic (write a temporary file, then rename), so a run killed at any moment leaves
each file either old or new, never half written.
"""

import json
import os
import time
from typing import Any

import ml_collections

from trends_jax import config as config_lib
from trends_jax.errors import UserError


def _atomic_write(path: str, text: str) -> None:
  tmp = f"{path}.tmp{os.getpid()}"
  with open(tmp, "w") as f:
    f.write(text)
  os.replace(tmp, path)


def config_as_json(config: ml_collections.ConfigDict) -> dict:
  return json.loads(json.dumps(config.to_dict(), default=str))


class Workdir:

  def __init__(self, path: str):
    self.path = os.path.abspath(path)
    self.config_path = os.path.join(self.path, "config.json")
    self.status_path = os.path.join(self.path, "status.json")
    self.metrics_path = os.path.join(self.path, "metrics.jsonl")
    self.checkpoint_dir = os.path.join(self.path, "checkpoints")
    self.tensorboard_dir = os.path.join(self.path, "tensorboard")
    self.curves_path = os.path.join(self.path, "curves.png")

  def check_config(self, config: ml_collections.ConfigDict) -> None:
    """Refuses a workdir that holds a run of a different config (nothing there is touched)."""
    if os.path.exists(self.path) and not os.path.isdir(self.path):
      raise UserError(f"workdir {self.path} is a file; pass a directory to --workdir")
    if not os.path.exists(self.config_path):
      return
    with open(self.config_path) as f:
      saved = json.load(f)
    differences = config_lib.identity_differences(saved, config_as_json(config))
    if differences:
      raise UserError(
          f"workdir {self.path} holds a run of a different config ({differences[0]}"
          f"{f' and {len(differences) - 1} more' if len(differences) > 1 else ''}); "
          "use a new --workdir, or the same config to resume")

  def write_config(self, config: ml_collections.ConfigDict) -> None:
    os.makedirs(self.path, exist_ok=True)
    _atomic_write(self.config_path, json.dumps(config_as_json(config), indent=2, sort_keys=True) + "\n")

  def read_status(self) -> dict | None:
    try:
      with open(self.status_path) as f:
        return json.load(f)
    except (FileNotFoundError, json.JSONDecodeError):
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
