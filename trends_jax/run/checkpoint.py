"""Orbax checkpoints of the train state together with the input pipeline's position.

Each checkpoint step holds two items: `state` (the TrainState, restored bitwise onto the
target's shardings) and `data` (the grain iterator state), so that resuming continues with the
very batch the interrupted run would have read next.

Orbax writes a step into a temporary folder and renames it when complete, so a run killed while
saving leaves the previous checkpoints as they were; at most `max_to_keep` are kept. A newest
checkpoint that still cannot be read (a truncated or damaged file) is moved aside, not deleted,
and the run resumes from the newest one that reads back. An older checkpoint that orbax began
to delete (its clean-up of checkpoints beyond `max_to_keep`, interrupted by a kill) is moved
aside at start-up, so that orbax does not warn about it at every start.
"""

import os
from collections.abc import Callable
from typing import Any

import jax
import orbax.checkpoint as ocp
from jax.experimental import multihost_utils

from trends_jax.errors import UserError


def _move_aside(folder: str) -> str:
  """Renames a step folder out of orbax's sight (process 0 only), to a name not taken by one set
  aside earlier (the same step can fail again after a rerun); returns the new path."""
  aside, n = f"{folder}.unreadable", 1
  while os.path.exists(aside):
    n += 1
    aside = f"{folder}.unreadable{n}"
  if jax.process_index() == 0:
    os.replace(folder, aside)
  return aside


# What a finished checkpoint step folder holds; orbax deletes an old one file by file.
COMPLETE_CHECKPOINT = ("_CHECKPOINT_METADATA", "state", "data")


class Checkpointer:

  def __init__(self, directory: str, max_to_keep: int, warn: Callable[[str], None] | None = None):
    self.directory = directory
    self._set_aside_half_deleted(warn or (lambda message: None))
    self.manager = ocp.CheckpointManager(
        directory, item_names=("state", "data"),
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True))

  def _set_aside_half_deleted(self, warn: Callable[[str], None]) -> None:
    steps = sorted(int(name) for name in (os.listdir(self.directory) if os.path.isdir(self.directory) else ())
                   if name.isdigit())
    for step in steps[:-1]:  # The newest one is restore_latest's to judge.
      folder = os.path.join(self.directory, str(step))
      if all(os.path.exists(os.path.join(folder, part)) for part in COMPLETE_CHECKPOINT):
        continue
      aside = _move_aside(folder)
      warn(f"warning: checkpoint step {step} is incomplete (an interrupted clean-up of old checkpoints); "
           f"moved it to {aside}")
    if jax.process_count() > 1:  # Every process must see the same folders before orbax lists them.
      multihost_utils.sync_global_devices("half-deleted checkpoints set aside")

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def save(self, step: int, state: Any, data_state: dict) -> None:
    """Starts an asynchronous save; device buffers are copied before this returns."""
    self.manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), data=ocp.args.JsonSave(data_state)), force=True)

  def restore(self, step: int, abstract_state: Any) -> tuple[Any, dict]:
    restored = self.manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract_state), data=ocp.args.JsonRestore()))
    return restored.state, restored.data

  def restore_latest(self, abstract_state: Any, warn: Callable[[str], None]) -> tuple[int, Any, dict] | None:
    """(step, state, data state) of the newest checkpoint that reads back; None if there is none.

    Unreadable newer checkpoints are renamed `<step>.unreadable` (by process 0) with a warning.
    If no checkpoint reads back, nothing is moved: the cause is more likely the code than the files.
    """
    unreadable = []
    for step in sorted(self.manager.all_steps(), reverse=True):
      try:
        state, data_state = self.restore(step, abstract_state)
      except Exception as e:  # noqa: BLE001 — orbax and tensorstore raise many types for bad files.
        unreadable.append((step, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300]))
        continue
      for bad_step, reason in unreadable:
        aside = _move_aside(os.path.join(self.directory, str(bad_step)))
        warn(f"warning: checkpoint step {bad_step} cannot be read ({reason}); moved it to {aside} "
             f"and resuming from step {step}")
      if unreadable:
        multihost_utils.sync_global_devices("checkpoints moved aside")
        self.manager.reload()
      return step, state, data_state
    if unreadable:
      step, reason = unreadable[0]
      raise UserError(f"no checkpoint in {self.directory} can be read (step {step}: {reason}); "
                      "move that folder aside to start the run over")
    return None

  def close(self) -> None:
    """Waits for pending saves to finish."""
    self.manager.wait_until_finished()
    self.manager.close()
