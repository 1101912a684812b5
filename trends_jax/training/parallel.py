"""Data parallelism over every device of every process, in the two modes of `config.parallel`.

- 'jit': one program over a 1-D ('data',) mesh; the global batch is sharded along it, the state
  replicated. XLA inserts the reductions, so BatchNorm sees the global batch with no model change.
- 'pmap': one program per device under `jax.pmap`; the steps average gradients, metrics and
  BatchNorm statistics over the axis, and BatchNorm layers get `norm_axis_name` set.

Both expose the same small interface, so the trainer never branches on the mode.
"""

from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from trends_jax.registry import Registry

STRATEGIES = Registry("parallel mode", "parallel")


@STRATEGIES.register("jit")
class JitDataParallel:
  axis_name = None

  def __init__(self, devices=None):
    self.mesh = Mesh(np.asarray(devices or jax.devices()), ("data",))
    self.replicated = NamedSharding(self.mesh, P())
    self.batch_sharding = NamedSharding(self.mesh, P("data"))

  @property
  def num_devices(self) -> int:
    return self.mesh.size

  def adapt_model(self, model):
    return model

  def compile_train_step(self, step: Callable) -> Callable:
    return jax.jit(step, in_shardings=(self.replicated, self.batch_sharding),
                   out_shardings=(self.replicated, self.replicated), donate_argnums=0)

  def compile_eval_step(self, step: Callable) -> Callable:
    return jax.jit(step, in_shardings=(self.replicated, self.batch_sharding),
                   out_shardings=self.replicated)

  def init_state(self, make_state: Callable[..., Any], *args) -> Any:
    """`make_state(*args)`, compiled; `args` (e.g. weights to start from) are arguments of the
    compiled program, not constants folded into it."""
    return jax.jit(make_state, out_shardings=self.replicated)(*args)

  def abstract_state(self, state_shapes: Any) -> Any:
    """Shapes, dtypes and shardings of the state (`jax.eval_shape` of its constructor), as the
    target for a checkpoint restore."""
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=self.replicated), state_shapes)

  def put_state(self, host_state: Any) -> Any:
    return jax.device_put(host_state, self.replicated)

  def put_batch(self, local_batch: dict) -> dict:
    """This process's part of the global batch → one global array sharded over all devices."""
    return jax.tree.map(
        lambda x: jax.make_array_from_process_local_data(self.batch_sharding, x), local_batch)

  def checkpointable(self, state: Any) -> Any:
    """The state as it is saved: one logical copy, whatever the mode."""
    return state

  def fetch(self, tree: Any) -> Any:
    return jax.device_get(tree)


@STRATEGIES.register("pmap")
class PmapDataParallel:
  """Without dropout it ends where 'jit' does; with dropout the masks differ, because each device
  draws its shard's mask from the step's key folded with its device index, where 'jit' draws one
  mask for the global batch from the unfolded key (so 'jit' matches one device and pmap does not)."""
  axis_name = "batch"

  def __init__(self, devices=None):
    self.devices = list(devices or jax.local_devices())
    # pmap now runs as jit + shard_map: inputs split along axis 0 over a mesh of its devices.
    self.batch_sharding = NamedSharding(Mesh(np.asarray(self.devices), (self.axis_name,)),
                                        P(self.axis_name))

  @property
  def num_devices(self) -> int:
    return len(self.devices) * jax.process_count()

  def adapt_model(self, model):
    """BatchNorm layers must average their statistics over the pmap axis."""
    return model.clone(norm_axis_name=self.axis_name) if hasattr(model, "norm_axis_name") else model

  def compile_train_step(self, step: Callable) -> Callable:
    return jax.pmap(step, axis_name=self.axis_name, devices=self.devices, donate_argnums=0)

  def compile_eval_step(self, step: Callable) -> Callable:
    return jax.pmap(step, axis_name=self.axis_name, devices=self.devices)

  def init_state(self, make_state: Callable[..., Any], *args) -> Any:
    return self.put_state(jax.jit(make_state)(*args))

  def abstract_state(self, state_shapes: Any) -> Any:
    return state_shapes

  def put_state(self, host_state: Any) -> Any:
    """One copy of each leaf per device, stacked along a leading device axis, as pmap takes it.

    Plain jax rather than `flax.jax_utils.replicate`, which in some flax releases calls
    `jax.device_put_replicated`, removed from JAX; per-device copies also spare the host a buffer
    holding all n copies at once."""
    n = len(self.devices)

    def replicate(x):
      one = x[None] if isinstance(x, jax.Array) else np.asarray(x)[None]
      copies = [jax.device_put(one, d) for d in self.devices]
      return jax.make_array_from_single_device_arrays((n,) + one.shape[1:], self.batch_sharding, copies)

    return jax.tree.map(replicate, host_state)

  def put_batch(self, local_batch: dict) -> dict:
    n = len(self.devices)

    def shard(x):
      x = np.asarray(x).reshape((n, -1) + x.shape[1:])
      return jax.device_put(x, self.batch_sharding)

    return jax.tree.map(shard, local_batch)

  def checkpointable(self, state: Any) -> Any:
    return _first_copy(state)

  def fetch(self, tree: Any) -> Any:
    return _first_copy(tree)


def _first_copy(tree: Any) -> Any:
  """Index 0 of each leaf's device axis, on the host. Only the first device's shard is copied: the
  copies are equal (the steps pmean or psum everything they return), so fetching all n would be waste."""

  def first(x):
    if isinstance(x, jax.Array):
      return np.asarray(x.addressable_shards[0].data)[0]
    return np.asarray(x)[0]

  return jax.tree.map(first, tree)


def create(mode: str, devices=None):
  return STRATEGIES.get(mode)(devices)
