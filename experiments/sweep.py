r"""Runs a hyperparameter sweep: every trial a normal run under DIR/trials/<trial_id>/.

    python experiments/sweep.py --config=configs/default.py --workdir=runs/sweep [--parallel=2]
    python experiments/sweep.py --config=configs/default.py:quick --workdir=runs/sweep \
        --sweep="optimizer.name=sgd,adam;optimizer.learning_rate=0.1,0.01"

    python experiments/sweep.py --config=configs/default.py:quick --workdir=runs/search \
        --search="optimizer.learning_rate=loguniform(1e-4,1e-1);optimizer.momentum=uniform(0.8,0.99)" \
        --trials=16 --seeds=3 --metric=eval/loss --config.num_train_steps=100

The trials come from --sweep (the product of the listed values), --search (a quasi-random search
of --trials points, from --search_seed; with --sweep, their product) or the config file's
get_sweep(hyper) (see trends_jax/sweep/hyper.py); --seeds=N repeats each over N values of
config.seed. --config.* overrides reach every trial. Running the same command again skips
finished trials and resumes unfinished ones; the same directory with other overrides or another
search is refused (DIR/sweep.json records them). Writes DIR/results.csv (one row per trial),
DIR/results.md (per setting: mean ± std and min–max over its seeds; then per trial) and
DIR/results.png (error bars); "best" is by --metric. `--report` redraws the plot from results.csv
alone. `--backend=ray [--ray_address=…] [--asha]` runs the same trials through Ray Tune.
"""

import importlib.util
import os
import sys

import launch
from absl import flags

from trends_jax.errors import UserError
from trends_jax.sweep import hyper, local, ray_backend, results, search, trial

FLAGS = flags.FLAGS
launch.define_config_flag()
flags.DEFINE_string("workdir", None, "Directory of the sweep.")
flags.DEFINE_string("sweep", None, "Trials as 'field=v1,v2;field=v1,v2' (their product); "
                    "default: the config file's get_sweep(hyper).")
flags.DEFINE_string("search", None, "Quasi-random search space as 'field=loguniform(lo,hi);field=uniform(lo,hi);"
                    "field=choice(a,b)' (scrambled Halton, --trials points).")
flags.DEFINE_integer("trials", None, "--search: the number of trials (the budget).")
flags.DEFINE_integer("search_seed", 0, "--search: the seed of the sequence (same seed, same trials).")
flags.DEFINE_integer("seeds", 1, "Each setting over this many seeds (config.seed, config.seed + 1, …).")
flags.DEFINE_string("metric", "eval/accuracy", "The logged split/metric that chooses the best setting and "
                    "drives ASHA, e.g. eval/loss.")
flags.DEFINE_enum("mode", None, ["min", "max"], "Whether --metric is better low or high (default: from its "
                  "name: loss, error, bits_per_char → min; accuracy → max).")
flags.DEFINE_integer("parallel", 1, "Trials run at the same time.")
flags.DEFINE_enum("backend", "local", ["local", "ray"], "Where trials run: worker processes here, "
                  "or Ray Tune (pip install 'trends_jax[ray]').")
flags.DEFINE_string("ray_address", None, "Ray cluster address (default: start a local Ray).")
flags.DEFINE_bool("report", False, "Only draw DIR/results.png from DIR/results.csv.")
flags.DEFINE_bool("asha", False, "Ray backend: stop lagging trials early with ASHA on --metric.")
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


def config_flags(argv) -> list[str]:
  """The command's --config.a.b=v overrides, as given, for every trial's train.py."""
  return [a for a in argv if a.startswith("--config.")]


def report(workdir: str, metric: results.Metric) -> None:
  results.plot(results.read_csv(workdir), os.path.join(workdir, "results.png"), metric)
  print(f"Plot: {os.path.join(workdir, 'results.png')}")


def main(argv):
  del argv
  metric = launch.run_user_code(results.parse_metric, FLAGS.metric, FLAGS.mode)
  if FLAGS.report:
    launch.run_user_code(lambda: report(FLAGS.workdir, metric))
    return
  if not FLAGS["config"].present:
    launch.fail("--config is required to run a sweep (only --report works without it)")
  config_arg = config_argument(sys.argv)
  overrides = config_flags(sys.argv)
  base_seed = FLAGS.config.get("seed")

  def plan():
    if FLAGS.trials is not None and not FLAGS.search:
      raise UserError("--trials is the budget of a --search; add --search='field=loguniform(lo,hi)'")
    if FLAGS.search and FLAGS.trials is None:
      raise UserError("--search needs a budget: add --trials=N")
    if FLAGS.seeds < 1:
      raise UserError(f"--seeds={FLAGS.seeds}: a sweep needs at least 1 seed per setting")
    pieces = []
    if FLAGS.sweep:
      pieces.append(hyper.parse_command_line(FLAGS.sweep))
    if FLAGS.search:
      pieces.append(hyper.quasirandom(search.parse_command_line(FLAGS.search), FLAGS.trials, FLAGS.search_seed))
    trials = hyper.product(pieces) if pieces else trials_from_config_file(config_arg)
    # --seeds counts from the config's seed, so --config.seed may set where they start.
    swept = {f for t in trials for f in t}
    clash = next((o for o in overrides if o.split("=")[0][len("--config."):] in swept), None)
    if clash:
      raise UserError(f"{clash.split('=')[0]} is both overridden and swept; drop one of them")
    if FLAGS.seeds > 1:
      if "seed" in swept:
        raise UserError(f"--seeds={FLAGS.seeds}, but the sweep already has a seed axis; use one of them")
      trials = hyper.seeds(trials, FLAGS.seeds, base_seed or 0)
    trial.check(trials, FLAGS.config)
    record = {"config": config_arg, "overrides": overrides, "search": FLAGS.search,
              "search_trials": FLAGS.trials, "search_seed": FLAGS.search_seed if FLAGS.search else None}
    trial.check_record(FLAGS.workdir, record)
    limit = os.cpu_count() or 1
    if FLAGS.backend == "local":
      local.device_slots(FLAGS.parallel, local.visible_gpus())  # One clear line if GPUs are too few.
    if FLAGS.backend == "local" and not 1 <= FLAGS.parallel <= limit:
      raise UserError(f"--parallel={FLAGS.parallel}, but this machine runs at most {limit} trials at once "
                      f"(one per CPU core); use --parallel between 1 and {limit}")
    return trials, record

  trials, record = launch.run_user_code(plan)
  trial.write_record(FLAGS.workdir, {**record, "command": sys.argv, "seeds": FLAGS.seeds, "metric": metric.label,
                                     "mode": metric.mode, "trials": trials})
  print(f"{len(trials)} trials in {os.path.join(FLAGS.workdir, 'trials')}", flush=True)
  if FLAGS.backend == "ray":
    rows = launch.run_user_code(lambda: ray_backend.run_ray(
        trials, config_arg, FLAGS.workdir, FLAGS.parallel, FLAGS.ray_address, FLAGS.asha, metric, overrides,
        base_seed))
  else:
    rows = local.run_local(trials, config_arg, FLAGS.workdir, FLAGS.parallel, log=lambda line: print(line, flush=True),
                           config_flags=overrides, metric=metric, base_seed=base_seed)
  results.write_results(rows, FLAGS.workdir, metric)
  print(open(os.path.join(FLAGS.workdir, "results.md")).read())
  if any(r["status"] == "done" for r in rows):
    try:
      report(FLAGS.workdir, metric)
    except UserError as e:  # The trials have run: say why there is no plot, and keep the tables.
      print(f"No plot: {e}")


if __name__ == "__main__":
  launch.run(main)
