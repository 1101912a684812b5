r"""Trains (or resumes) one run:

    python experiments/train.py --config=configs/default.py --workdir=runs/default \
        [--config.optimizer.learning_rate=0.01 …]

Running the same command again resumes from the latest checkpoint; a finished run trains no
more. Exit codes: 0 done, 1 failed or diverged, 2 bad input, 75 preempted (run it again).
"""

import importlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

from experiments import launch  # noqa: E402

FLAGS = flags.FLAGS
launch.define_config_flag()
flags.DEFINE_string("workdir", None, "Directory of the run: config, metrics, checkpoints, status.")
flags.mark_flag_as_required("workdir")

EXIT_CODES = {"done": 0, "failed": 1, "diverged": 1, "preempted": 75}
# config.trainer → the module whose train_and_evaluate(config, workdir) runs it.
TRAINERS = {"supervised": "trends_jax.train", "word2vec": "trends_jax.train_word2vec"}


def main(argv):
  del argv
  name = FLAGS.config.get("trainer", "supervised")
  if name not in TRAINERS:
    launch.fail(f"unknown trainer {name!r} in config.trainer; known: {', '.join(TRAINERS)}")
  trainer = importlib.import_module(TRAINERS[name])
  status = launch.run_user_code(lambda: trainer.train_and_evaluate(FLAGS.config, FLAGS.workdir))
  sys.exit(EXIT_CODES.get(status["state"], 1))


if __name__ == "__main__":
  launch.run(main)
