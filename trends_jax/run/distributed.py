"""Several processes, one JAX runtime: `jax.distributed`, set up before anything touches a device.

Each process then sees every device of every process (`jax.devices()`), the trainer builds one
mesh over all of them, each process feeds its part of every global batch, orbax saves and restores
checkpoints collectively, and only process 0 writes the workdir's files.
"""

import jax

from trends_jax.errors import UserError


def initialize(coordinator_address: str = "", num_processes: int = 0, process_id: int = -1,
               auto: bool = False) -> None:
  """Joins the processes of a run; with no address and `auto` off, stays a single process.

  `auto` lets JAX find the cluster itself (Cloud TPU, SLURM, Open MPI, Kubernetes). On CPU, the
  processes exchange data over gloo (TCP), which is what lets a multi-host run be tested locally.
  """
  if not coordinator_address and not auto:
    if num_processes > 1:
      raise UserError(f"--num_processes={num_processes} needs --coordinator_address=host:port "
                      "(the address of process 0), or --distributed_auto on a cluster JAX detects")
    return
  if coordinator_address and not (num_processes >= 1 and 0 <= process_id < num_processes):
    raise UserError(f"--coordinator_address needs --num_processes >= 1 and 0 <= --process_id < it; "
                    f"got {num_processes} and {process_id}")
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  if auto and not coordinator_address:
    jax.distributed.initialize()
  else:
    jax.distributed.initialize(coordinator_address, num_processes, process_id)
