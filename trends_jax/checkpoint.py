"""Orbax checkpoints of the train state together with the input pipeline's position.

Each checkpoint step holds two items: `state` (the TrainState, restored bitwise onto the
target's shardings) and `data` (the grain iterator state), so that resuming continues with the
very batch the interrupted run would have read next.
"""

from typing import Any

import orbax.checkpoint as ocp


class Checkpointer:

  def __init__(self, directory: str, max_to_keep: int):
    self.manager = ocp.CheckpointManager(
        directory, item_names=("state", "data"),
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True))

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

  def close(self) -> None:
    """Waits for pending saves to finish."""
    self.manager.wait_until_finished()
    self.manager.close()
