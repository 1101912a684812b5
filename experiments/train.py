r"""Trains (or resumes) one run:

    python experiments/train.py --config=configs/default.py --workdir=runs/default \
        [--config.optimizer.learning_rate=0.01 …]

Running the same command again resumes from the latest checkpoint; a finished run trains no
more. Exit codes: 0 done, 1 failed or diverged, 2 bad input, 75 preempted (run it again).

On several hosts, run the same command in every process, adding
`--coordinator_address=<host of process 0>:<port> --num_processes=N --process_id=<0…N-1>`
(or set JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, JAX_PROCESS_ID); on Cloud TPU, SLURM or
Open MPI, `--distributed_auto` finds them. All processes share one --workdir (a shared file
system); process 0 writes its files, and the checkpoints are written by all together.
"""

import os
import sys

import launch
from absl import flags

from trends_jax.run import compilation_cache, distributed
from trends_jax.training import loop

FLAGS = flags.FLAGS
launch.define_config_flag()
flags.DEFINE_string("workdir", None, "Directory of the run: config, metrics, checkpoints, status.")
flags.mark_flag_as_required("workdir")
# Multi-host (trends_jax/distributed.py): run the same command in every process, with its own id.
flags.DEFINE_string("coordinator_address", os.environ.get("JAX_COORDINATOR_ADDRESS", ""),
                    "host:port of process 0, e.g. 10.0.0.1:1234 (default $JAX_COORDINATOR_ADDRESS).")
flags.DEFINE_integer("num_processes", int(os.environ.get("JAX_NUM_PROCESSES", 0)),
                     "Number of processes of the run (default $JAX_NUM_PROCESSES).")
flags.DEFINE_integer("process_id", int(os.environ.get("JAX_PROCESS_ID", -1)),
                     "This process's id, 0 … num_processes-1 (default $JAX_PROCESS_ID).")
flags.DEFINE_bool("distributed_auto", False,
                  "Let JAX detect the cluster (Cloud TPU, SLURM, Open MPI, Kubernetes).")

EXIT_CODES = {"done": 0, "failed": 1, "diverged": 1, "preempted": 75}
# config.trainer → the module whose train_and_evaluate(config, workdir) runs it.


def main(argv):
  del argv
  if FLAGS.config is None:
    launch.fail("no --config; pass a config file, e.g. --config=configs/default.py")
  launch.run_user_code(lambda: loop.TRAINERS.get(FLAGS.config.get("trainer", loop.DEFAULT_TRAINER)))
  launch.run_user_code(lambda: distributed.initialize(
      FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id, FLAGS.distributed_auto))
  compilation_cache.enable(FLAGS.config.get("compilation_cache_dir", compilation_cache.DEFAULT_DIR))
  status = launch.run_user_code(lambda: loop.train_and_evaluate(FLAGS.config, FLAGS.workdir))
  sys.exit(EXIT_CODES.get(status["state"], 1))


if __name__ == "__main__":
  launch.run(main)
