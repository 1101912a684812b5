"""What every lecture experiment shares, so that its script holds only the experiment.

    import scaffold                       # defines --workdir and --quick
    FLAGS = flags.FLAGS
    def main(argv):
      ...  # the experiment; bad input: scaffold.fail("…") or scaffold.run_user_code(fn)
      plots.save(fig, scaffold.output("curves.png"))
      scaffold.finish("Title", {"setup": …}, {"table": rows}, notes, claims)
    if __name__ == "__main__":
      scaffold.run(main)

Every experiment writes results.json (its numbers, and "claims": {sentence: bool}), results.md
(the same as tables, the notes and one line per claim) and its figures into --workdir; --quick is
a small version for tests that still runs every code path. Bad input ends in one `error: …` line
and exit code 2 (`trends_jax.run.cli`).
"""

import importlib.util
import os

import matplotlib
from absl import flags

from trends_jax.run import results
from trends_jax.run.cli import fail, run, run_user_code  # noqa: F401  (the scripts' one import)

matplotlib.use("Agg")  # Figures go to files: no display, and none needed on a cluster.

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Where the experiment's results, figures and runs go.")
flags.mark_flag_as_required("workdir")
flags.DEFINE_bool("quick", False, "A small version that runs every code path in seconds (for tests).")

CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "configs")


def output(*parts: str) -> str:
  """A path under --workdir (created if need be), e.g. output("curves.png"), output("runs", name)."""
  os.makedirs(FLAGS.workdir, exist_ok=True)
  return os.path.join(FLAGS.workdir, *parts)


def load_config(name: str, arg: str | None = None):
  """get_config(arg) of configs/<name>.py, e.g. load_config("lecture/regularization", "quick")."""
  path = os.path.join(CONFIGS, f"{name}.py")
  spec = importlib.util.spec_from_file_location(os.path.basename(name), path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)


def finish(title: str, numbers: dict, tables: dict[str, list[dict]], notes: str, claims: dict[str, bool]) -> None:
  """Writes results.json (`numbers`, every table and the claims) and results.md (the notes, a line
  per claim, the tables), and prints results.md."""
  claims = {claim: bool(holds) for claim, holds in claims.items()}
  notes = (notes.strip() + "\n\n" if notes.strip() else "") + results.claim_lines(claims)
  results.write(FLAGS.workdir, title, {**numbers, "claims": claims}, tables, notes)
  with open(output("results.md")) as f:
    print(f.read())
