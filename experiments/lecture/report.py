r"""The lecture report: every experiment of the project, in the lecture's order, on one page.

    python experiments/lecture/report.py --workdir=runs/report [--quick] [--seeds=N] [--data_dir=...] [--only=a,b]
        [--rerun]

An experiment whose claims compare settings runs over seeds 0..N-1 (N: --seeds, default 3, 1 with
--quick); one whose Section says why one seed suffices (`one_seed`) runs seed 0 only. For each
experiment and seed k it collects <workdir>/<name>/seed<k>/ if that seed finished there before
(results.json; a trainer run's status.json "done"), and otherwise runs it as its own process
(`experiments/lecture/<name>.py --workdir=<workdir>/<name>/seed<k> --seed=k [--quick] [--data_dir]`;
the word2vec comparison is experiments/bench/word2vec.py, the pixel-sequence section
`experiments/train.py` with its config and --config.seed=k), so a finished seed is never redone and
an interrupted report picks up where it stopped. Each claim's verdict across the seeds follows
`sections.RULE`. A failing seed does not stop the others: its section shows the failure and the
end of its stderr (whole in <workdir>/logs/<name>.seed<k>.stderr), and the report exits 1 at the end. Writes <workdir>/report.html (self-contained: figures embedded, no
external resources) and <workdir>/report.md (figures linked as <name>/<figure>.png). `--rerun`
runs the selected experiments even where they finished (the trainer-based ones resume their
finished runs).
"""

import json
import os
import subprocess
import sys
import time

import sections
from absl import flags

from trends_jax.run import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Where every experiment's folder, the logs and the report go.")
flags.DEFINE_bool("quick", False, "Run the experiments' --quick versions (for tests).")
flags.DEFINE_string("data_dir", None, "TFDS data directory, passed to the experiments that read data.")
flags.DEFINE_list("only", None, "Experiments to include (default: all), e.g. optimizer_paths,long_range.")
flags.DEFINE_bool("rerun", False, "Run the experiments even where their results are already there.")
flags.DEFINE_integer("seeds", None, "Seeds per experiment whose claims compare settings (default 3; 1 with --quick).",
                     lower_bound=1)
flags.mark_flag_as_required("workdir")

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STDERR_LINES = 25


def seeds(section: sections.Section) -> list[int]:
  if section.one_seed:
    return [0]
  return list(range(FLAGS.seeds or (1 if FLAGS.quick else 3)))


def command(section: sections.Section, path: str, seed: int) -> list[str]:
  # One-seed sections get no seed flag: optimizer_paths and the word2vec benchmark take none.
  if section.config:
    arg = f"{section.config},quick" if FLAGS.quick else section.config
    extra = [f"--config.dataset.data_dir={FLAGS.data_dir}"] if FLAGS.data_dir else []
    extra += [] if section.one_seed else [f"--config.seed={seed}"]
    return [sys.executable, "experiments/train.py", f"--config=configs/{arg}", f"--workdir={path}", *extra]
  return [sys.executable, section.path, f"--workdir={path}",
          *([] if section.one_seed else [f"--seed={seed}"]),
          *(["--quick"] if FLAGS.quick else []),
          *([f"--data_dir={FLAGS.data_dir}"] if FLAGS.data_dir and section.data_dir else [])]


def log_name(section: sections.Section, seed: int) -> str:
  return f"{section.name}.seed{seed}"


def run(section: sections.Section, path: str, seed: int) -> dict:
  """Runs one seed of one experiment as its own process (its stdout shows here); a record of how it went."""
  argv = command(section, path, seed)
  printable = " ".join(["python", *argv[1:]])
  print(f"--- {section.name} seed {seed}: {printable}", flush=True)
  logs = os.path.join(FLAGS.workdir, "logs")
  os.makedirs(logs, exist_ok=True)
  start = time.perf_counter()
  with open(os.path.join(logs, f"{log_name(section, seed)}.stderr"), "w+") as stderr:
    with subprocess.Popen(argv, cwd=REPO, stderr=stderr) as process:
      try:
        returncode = process.wait()
      except KeyboardInterrupt:
        process.wait()  # Ctrl-C reached it too: let it checkpoint and stop before the report does.
        raise
    stderr.seek(0)
    tail = stderr.read().splitlines()[-STDERR_LINES:]
  ran = {"command": printable, "quick": FLAGS.quick, "seed": seed, "returncode": returncode,
         "seconds": round(time.perf_counter() - start, 1), "stderr_tail": "\n".join(tail)}
  with open(os.path.join(logs, f"{log_name(section, seed)}.json"), "w") as f:
    json.dump(ran, f, indent=2)
  return ran


def earlier_run(section: sections.Section, seed: int) -> dict | None:
  """How an earlier report ran this seed of this experiment, if one did and it succeeded."""
  try:
    with open(os.path.join(FLAGS.workdir, "logs", f"{log_name(section, seed)}.json")) as f:
      ran = json.load(f)
  except (OSError, json.JSONDecodeError):
    return None
  return ran if ran.get("returncode") == 0 else None


def outcome(section: sections.Section) -> sections.Outcome:
  """Every seed of one experiment, each collected if it finished before and run otherwise."""
  if not os.path.exists(os.path.join(REPO, section.path)):
    print(f"--- {section.name}: missing, {section.path} is not in this checkout", flush=True)
    return sections.Outcome(section, "missing")
  found, records, failed = {}, {}, None
  collected_all = True
  for seed in seeds(section):
    path = sections.seed_dir(FLAGS.workdir, section.name, seed)
    results = None if FLAGS.rerun else sections.load(section, path)
    if results is not None:
      print(f"--- {section.name} seed {seed}: collected from {path}", flush=True)
      found[seed], records[seed] = results, earlier_run(section, seed)
      continue
    collected_all = False
    ran = run(section, path, seed)
    results = sections.load(section, path) if ran["returncode"] == 0 else None
    if results is None:
      print(f"--- {section.name} seed {seed}: FAILED (exit code {ran['returncode']}); its stderr ends:\n"
            f"{ran['stderr_tail']}", flush=True)
      failed = failed or ran  # The other seeds still run: their results are collected next time.
      continue
    print(f"--- {section.name} seed {seed}: done in {ran['seconds']:.0f} s", flush=True)
    found[seed], records[seed] = results, ran
  if failed is not None:
    return sections.Outcome(section, "failed", ran=failed, seed_results=found)
  first = min(found)
  return sections.Outcome(section, "done", found[first], ran=records[first], collected=collected_all,
                          written=sections.written_at(section, sections.seed_dir(FLAGS.workdir, section.name, first)),
                          seed_results=found)


def main(argv):
  del argv
  only = FLAGS.only or sections.NAMES
  unknown = [name for name in only if name not in sections.NAMES]
  if unknown:
    cli.fail(f"unknown experiment {unknown[0]!r} in --only; known: {', '.join(sections.NAMES)}")
  if os.path.exists(FLAGS.workdir) and not os.path.isdir(FLAGS.workdir):
    cli.fail(f"--workdir={FLAGS.workdir} is a file; pass a directory")
  start = time.perf_counter()
  outcomes = [outcome(s) for s in sections.SECTIONS if s.name in only]
  quick = FLAGS.quick or any(o.ran and o.ran.get("quick") for o in outcomes if o.state == "done")
  html_path, markdown_path = sections.write(FLAGS.workdir, outcomes, quick)
  print(f"\n{'experiment':24s} state    seeds  claims holding / disagreeing / inconclusive")
  for o in outcomes:
    holds, disagrees, inconclusive = sections.verdicts(o)
    print(f"{o.section.name:24s} {o.state:8s} " +
          (f"{len(o.seeds):5d}  {holds} / {disagrees} / {inconclusive}" if o.state == "done" else ""))
  print(f"Report: {html_path}\nMarkdown: {markdown_path}\nWall time: {time.perf_counter() - start:.0f} s")
  incomplete = [o.section.name for o in outcomes if o.state != "done"]
  if incomplete:
    print(f"error: not measured: {', '.join(incomplete)}", file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
  cli.run(main)
