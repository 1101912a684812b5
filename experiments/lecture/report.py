r"""The lecture report: every experiment of the project, in the lecture's order, on one page.

    python experiments/lecture/report.py --workdir=runs/report [--quick] [--data_dir=...] [--only=a,b] [--rerun]

For each experiment of `sections.SECTIONS` it collects <workdir>/<name>/ if the experiment
finished there before (results.json; a trainer run's status.json "done"), and otherwise runs it
as its own process (`experiments/lecture/<name>.py --workdir=<workdir>/<name> [--quick]
[--data_dir]`; the word2vec comparison is experiments/bench/word2vec.py, the pixel-sequence
section `experiments/train.py` with its config), so a finished experiment is never redone and an
interrupted report picks up where it stopped. A failing experiment does not stop the others: its
section shows the failure and the end of its stderr (whole in <workdir>/logs/<name>.stderr), and
the report exits 1 at the end. Writes <workdir>/report.html (self-contained: figures embedded, no
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
flags.mark_flag_as_required("workdir")

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STDERR_LINES = 25


def command(section: sections.Section, path: str) -> list[str]:
  if section.config:
    arg = f"{section.config},quick" if FLAGS.quick else section.config
    extra = [f"--config.dataset.data_dir={FLAGS.data_dir}"] if FLAGS.data_dir else []
    return [sys.executable, "experiments/train.py", f"--config=configs/{arg}", f"--workdir={path}", *extra]
  return [sys.executable, section.path, f"--workdir={path}",
          *(["--quick"] if FLAGS.quick else []),
          *([f"--data_dir={FLAGS.data_dir}"] if FLAGS.data_dir and section.data_dir else [])]


def run(section: sections.Section, path: str) -> dict:
  """Runs one experiment as its own process (its stdout shows here); a record of how it went."""
  argv = command(section, path)
  printable = " ".join(["python", *argv[1:]])
  print(f"--- {section.name}: {printable}", flush=True)
  logs = os.path.join(FLAGS.workdir, "logs")
  os.makedirs(logs, exist_ok=True)
  start = time.perf_counter()
  with open(os.path.join(logs, f"{section.name}.stderr"), "w+") as stderr:
    with subprocess.Popen(argv, cwd=REPO, stderr=stderr) as process:
      try:
        returncode = process.wait()
      except KeyboardInterrupt:
        process.wait()  # Ctrl-C reached it too: let it checkpoint and stop before the report does.
        raise
    stderr.seek(0)
    tail = stderr.read().splitlines()[-STDERR_LINES:]
  ran = {"command": printable, "quick": FLAGS.quick, "returncode": returncode,
         "seconds": round(time.perf_counter() - start, 1), "stderr_tail": "\n".join(tail)}
  with open(os.path.join(logs, f"{section.name}.json"), "w") as f:
    json.dump(ran, f, indent=2)
  return ran


def earlier_run(section: sections.Section) -> dict | None:
  """How an earlier report ran this experiment, if one did and it succeeded."""
  try:
    with open(os.path.join(FLAGS.workdir, "logs", f"{section.name}.json")) as f:
      ran = json.load(f)
  except (OSError, json.JSONDecodeError):
    return None
  return ran if ran.get("returncode") == 0 else None


def outcome(section: sections.Section) -> sections.Outcome:
  path = os.path.join(FLAGS.workdir, section.name)
  results = None if FLAGS.rerun else sections.load(section, path)
  if results is not None:
    print(f"--- {section.name}: collected from {path}", flush=True)
    return sections.Outcome(section, "done", results, ran=earlier_run(section), collected=True,
                                  written=sections.written_at(section, path))
  if not os.path.exists(os.path.join(REPO, section.path)):
    print(f"--- {section.name}: missing, {section.path} is not in this checkout", flush=True)
    return sections.Outcome(section, "missing")
  ran = run(section, path)
  results = sections.load(section, path) if ran["returncode"] == 0 else None
  if results is None:
    print(f"--- {section.name}: FAILED (exit code {ran['returncode']}); its stderr ends:\n{ran['stderr_tail']}",
          flush=True)
    return sections.Outcome(section, "failed", ran=ran)
  print(f"--- {section.name}: done in {ran['seconds']:.0f} s", flush=True)
  return sections.Outcome(section, "done", results, ran=ran, written=sections.written_at(section, path))


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
  print(f"\n{'experiment':24s} state    claims holding / disagreeing")
  for o in outcomes:
    holds, disagrees = sections.verdicts(o)
    print(f"{o.section.name:24s} {o.state:8s} " + (f"{holds} / {disagrees}" if o.state == "done" else ""))
  print(f"Report: {html_path}\nMarkdown: {markdown_path}\nWall time: {time.perf_counter() - start:.0f} s")
  incomplete = [o.section.name for o in outcomes if o.state != "done"]
  if incomplete:
    print(f"error: not measured: {', '.join(incomplete)}", file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
  cli.run(main)
