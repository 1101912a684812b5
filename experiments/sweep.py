r"""Runs a hyperparameter sweep: every trial a normal run under DIR/trials/<trial_id>/.

    python experiments/sweep.py --config=configs/default.py --workdir=runs/sweep [--parallel=2]
    python experiments/sweep.py --config=configs/default.py:quick --workdir=runs/sweep \
        --sweep="optimizer.name=sgd,adam;optimizer.learning_rate=0.1,0.01"

The trials come from --sweep (the product of the listed values) or from the config file's
get_sweep(hyper) (see trends_jax/sweep/hyper.py). Running the same command again skips finished
trials and resumes unfinished ones. Writes DIR/results.csv, DIR/results.md and DIR/results.png
(the metric against the learning rate per optimizer, or a heatmap of a 2-D grid); `--report`
redraws the plot from results.csv alone. `--backend=ray [--ray_address=…] [--asha]` runs the
same trials through Ray Tune.
"""

import csv
import importlib.util
import os
import sys

import launch
from absl import flags

from trends_jax.errors import UserError
from trends_jax.run import plots
from trends_jax.sweep import hyper, local, ray_backend, results, trial

FLAGS = flags.FLAGS
launch.define_config_flag()
flags.DEFINE_string("workdir", None, "Directory of the sweep.")
flags.DEFINE_string("sweep", None, "Trials as 'field=v1,v2;field=v1,v2' (their product); "
                    "default: the config file's get_sweep(hyper).")
flags.DEFINE_integer("parallel", 1, "Trials run at the same time.")
flags.DEFINE_enum("backend", "local", ["local", "ray"], "Where trials run: worker processes here, "
                  "or Ray Tune (pip install 'trends_jax[ray]').")
flags.DEFINE_string("ray_address", None, "Ray cluster address (default: start a local Ray).")
flags.DEFINE_bool("report", False, "Only draw DIR/results.png from DIR/results.csv.")
flags.DEFINE_bool("asha", False, "Ray backend: stop lagging trials early with ASHA on eval accuracy.")
flags.mark_flag_as_required("workdir")


def config_argument(argv) -> str:
  return next(a.split("=", 1)[1] for a in argv if a.startswith("--config="))


def trials_from_config_file(config_arg: str) -> list[dict]:
  path = config_arg.split(":")[0]
  spec = importlib.util.spec_from_file_location("sweep_config", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  if not hasattr(module, "get_sweep"):
    raise UserError(f"{path} has no get_sweep(hyper); pass the trials with --sweep='field=v1,v2'")
  return module.get_sweep(hyper)


def report(workdir: str) -> None:
  path = os.path.join(workdir, "results.csv")
  if not os.path.exists(path):
    raise UserError(f"{path} does not exist; run the sweep first")
  with open(path) as f:
    rows = list(csv.DictReader(f))
  plots.sweep_results(rows, os.path.join(workdir, "results.png"))
  print(f"Plot: {os.path.join(workdir, 'results.png')}")


def main(argv):
  del argv
  if FLAGS.report:
    launch.run_user_code(lambda: report(FLAGS.workdir))
    return
  if not FLAGS["config"].present:
    launch.fail("--config is required to run a sweep (only --report works without it)")
  config_arg = config_argument(sys.argv)

  def plan():
    trials = hyper.parse_command_line(FLAGS.sweep) if FLAGS.sweep else trials_from_config_file(config_arg)
    trial.check(trials, FLAGS.config)
    limit = os.cpu_count() or 1
    if FLAGS.backend == "local":
      local.device_slots(FLAGS.parallel, local.visible_gpus())  # One clear line if GPUs are too few.
    if FLAGS.backend == "local" and not 1 <= FLAGS.parallel <= limit:
      raise UserError(f"--parallel={FLAGS.parallel}, but this machine runs at most {limit} trials at once "
                      f"(one per CPU core); use --parallel between 1 and {limit}")
    return trials

  trials = launch.run_user_code(plan)
  print(f"{len(trials)} trials in {os.path.join(FLAGS.workdir, 'trials')}", flush=True)
  if FLAGS.backend == "ray":
    rows = launch.run_user_code(lambda: ray_backend.run_ray(trials, config_arg, FLAGS.workdir, FLAGS.parallel,
                                                            FLAGS.ray_address, FLAGS.asha))
  else:
    rows = local.run_local(trials, config_arg, FLAGS.workdir, FLAGS.parallel)
  results.write_results(rows, FLAGS.workdir)
  print(open(os.path.join(FLAGS.workdir, "results.md")).read())
  if any(r["status"] == "done" for r in rows):
    report(FLAGS.workdir)


if __name__ == "__main__":
  launch.run(main)
