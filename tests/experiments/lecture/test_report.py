"""The lecture report: a section per experiment, self-contained HTML, verdicts across seeds, failures, no reruns."""

import html
import json
import os
import re
import subprocess
import sys

import matplotlib
import sections

from tests.conftest import REPO
from trends_jax.run import results as report

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SECTIONS = {s.name: s for s in sections.SECTIONS}
AGREES = "momentum needs fewer steps than gradient descent on the bowl"
DISAGREES = "gradient descent zigzags across the narrow axis"
LR_SPLIT = "the RNN fails where the LSTM solves it"  # Holds for seed 0, not for seed 1.


def _png(path, label):
  fig, ax = plt.subplots(figsize=(2, 1.5))
  ax.plot([0, 1, 2], [2, 0, 1], label=label)
  fig.savefig(path, dpi=50)
  plt.close(fig)


def _fake_experiment(workdir, name, claims, figures, seed=0, value=0.5):
  """What a finished seed of an experiment leaves: results.json with claims and a table, results.md, PNGs."""
  path = sections.seed_dir(str(workdir), name, seed)
  report.write(path, f"fake {name}", {"claims": claims}, {"numbers": [{"run": "a", "value": value}]},
               notes=f"Notes of {name}.\n\n" + report.claim_lines(claims))
  for figure in figures:
    _png(os.path.join(path, figure), name)
  return path


def _fake_workdir(tmp_path):
  _fake_experiment(tmp_path, "optimizer_paths", {AGREES: True, DISAGREES: False}, ["bowl.png", "saddle.png"])
  _fake_experiment(tmp_path, "long_range", {"the LSTM solves every length tried": True, LR_SPLIT: True},
                   ["mse_by_length.png", "gradient_by_lag.png"])
  _fake_experiment(tmp_path, "long_range", {"the LSTM solves every length tried": True, LR_SPLIT: False}, [],
                   seed=1, value=1.5)
  run = tmp_path / "pixel_sequence" / "seed0"
  run.mkdir(parents=True)
  (run / "status.json").write_text(json.dumps({"state": "done", "step": 700, "eval_accuracy": 0.95,
                                               "eval_loss": 0.2, "wall_seconds": 28.0}))
  _png(run / "curves.png", "curves")


def _sections(page):
  return re.findall(r'<h3 id="([^"]+)"', page)


def _assert_self_contained(page):
  for match in re.finditer(r"""(?:src|href)\s*=\s*["']?([^"'\s>]*)""", page, re.IGNORECASE):
    assert match.group(1).startswith(("data:", "#")), match.group(0)[:80]
  for tag in ("<link", "<script", "@import", "url(", "http://", "https://"):
    assert tag not in page.lower(), tag


def test_page_has_a_section_per_experiment_with_embedded_figures_and_verdicts(tmp_path):
  _fake_workdir(tmp_path)
  names = ["optimizer_paths", "pixel_sequence", "long_range"]
  outcomes = [sections.Outcome(SECTIONS[n], "done", sections.load(SECTIONS[n], sections.seed_dir(str(tmp_path), n, 0)),
                               collected=True, written="2026-11-29 12:00") for n in names]
  outcomes.append(sections.Outcome(SECTIONS["residual"], "failed", ran={
      "command": "python experiments/lecture/residual.py", "returncode": 1, "seconds": 3.0,
      "stderr_tail": "Traceback (most recent call last):\nValueError: residual went wrong"}))
  html_path, markdown_path = sections.write(str(tmp_path), outcomes)
  page = open(html_path, encoding="utf-8").read()

  assert _sections(page) == names + ["residual"]
  _assert_self_contained(page)
  assert page.count('<img src="data:image/png;base64,') == 5  # bowl, saddle, curves, two of long_range.
  assert ('<li class="disagrees"><b>✗ the measurements disagree with the lecture:</b> gradient descent zigzags'
          in page)
  assert f'<li class="holds"><b>✓ holds:</b> {AGREES} <small>(holds in 1 of 1 seed)</small>' in page
  assert "an LSTM reading the 64 pixels" in page  # pixel_sequence's claim, computed from status.json.
  assert "This experiment failed" in page and "ValueError: residual went wrong" in page
  assert "Notes of optimizer_paths." in page and "<th>value</th>" in page and "<td>0.5</td>" in page
  for s in sections.SECTIONS:
    if s.name in names:
      assert s.claim in page.replace("&#x27;", "'")  # The lecture's sentence beside the evidence.

  markdown = open(markdown_path, encoding="utf-8").read()
  assert [line[4:].split(" ")[0] for line in markdown.splitlines() if line.startswith("### ")] == names + ["residual"]
  figures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)
  assert "optimizer_paths/seed0/bowl.png" in figures and len(figures) == 5
  assert all(os.path.exists(tmp_path / f) for f in figures)
  assert f"- **✗ the measurements disagree with the lecture**: {DISAGREES}" in markdown
  assert sections.RULE in markdown and html.escape(sections.RULE) in page  # The rule is stated in the intro.
  assert "ValueError: residual went wrong" in markdown


def test_figures_default_to_every_png_and_unfinished_runs_are_not_collected(tmp_path):
  path = _fake_experiment(tmp_path, "residual", {"x": True}, ["b.png", "a.png"])
  assert [os.path.basename(f) for f in sections.figures(SECTIONS["residual"], path)] == ["a.png", "b.png"]
  assert sections.load(SECTIONS["activations"], sections.seed_dir(str(tmp_path), "activations", 0)) is None
  run = tmp_path / "pixel_sequence"
  run.mkdir()
  (run / "status.json").write_text(json.dumps({"state": "preempted", "step": 10}))
  assert sections.load(SECTIONS["pixel_sequence"], str(run)) is None


def test_registry_follows_the_lecture_and_the_scripts():
  numbers = [int(s.lecture.split(".")[0]) for s in sections.SECTIONS]
  assert numbers == sorted(numbers) and len(set(sections.NAMES)) == len(sections.NAMES)
  for s in sections.SECTIONS:
    script = os.path.join(REPO, s.path)
    assert os.path.exists(script), s.path
    if s.config is None:
      takes_data_dir = re.search(r"""DEFINE_string\(\s*["']data_dir["']""", open(script).read()) is not None
      assert takes_data_dir == s.data_dir, s.name
      # A figure's name (or its stem, for names the script builds) appears in the script.
      assert all(figure.removesuffix(".png") in open(script).read() for figure in s.figures or ()), s.name


def _report(workdir, *args, timeout=120):
  return subprocess.run([sys.executable, "experiments/lecture/report.py", f"--workdir={workdir}", *args],
                        cwd=REPO, capture_output=True, text=True, timeout=timeout, env={**os.environ, "XLA_FLAGS": ""})


def test_verdict_across_seeds_holds_disagrees_or_is_inconclusive():
  per_seed = [{"a": True, "b": False, "c": True, "d": None},
              {"a": True, "b": False, "c": False, "d": None, "e": True},
              {"a": True, "b": False, "c": True}]
  assert sections.aggregate(per_seed) == {
      "a": ("holds", 3, 3), "b": ("disagrees", 0, 3), "c": ("inconclusive", 2, 3),
      "d": ("unmeasured", 0, 0),  # Not a bool in any seed: not measured.
      "e": ("holds", 1, 1)}  # Counted over the seeds that measured it.
  assert sections.aggregate([{"a": False}]) == {"a": ("disagrees", 0, 1)}  # One seed: that seed's verdict.
  assert sections.aggregate([]) == {}


def _rows(value, run="a"):
  return [{"run": run, "value": value, "steps": 10}]


def test_seed_tables_give_mean_and_std_of_rows_that_line_up():
  outcome = sections.Outcome(SECTIONS["residual"], "done", {"tables": {"t": _rows(1.0)}}, seed_results={
      0: {"tables": {"t": _rows(1.0)}}, 1: {"tables": {"t": _rows(2.0)}}, 2: {"tables": {"t": _rows(3.0)}}})
  assert sections.seed_tables(outcome) == {"t (mean ± std over 3 seeds)": [
      {"run": "a", "value": "2 ± 1", "steps": "10 ± 0"}]}
  outcome.seed_results[2] = {"tables": {"t": _rows(3.0, run="b")}}  # The rows no longer line up: no table.
  assert sections.seed_tables(outcome) == {}
  assert sections.seed_tables(sections.Outcome(SECTIONS["residual"], "done", {}, seed_results={0: {}})) == {}


def test_collects_finished_seeds_without_rerunning_them(tmp_path):
  _fake_workdir(tmp_path)
  files = [tmp_path / "optimizer_paths" / "seed0", tmp_path / "long_range" / "seed0", tmp_path / "long_range" / "seed1"]
  before = [os.path.getmtime(f / "results.json") for f in files]
  result = _report(tmp_path, "--only=long_range,pixel_sequence,optimizer_paths", "--seeds=2")
  assert result.returncode == 0, result.stderr[-3000:]
  assert before == [os.path.getmtime(f / "results.json") for f in files]
  assert not os.path.exists(tmp_path / "logs")  # Nothing was run.
  assert "long_range seed 1: collected" in result.stdout
  page = (tmp_path / "report.html").read_text(encoding="utf-8")
  assert _sections(page) == ["optimizer_paths", "pixel_sequence", "long_range"]  # The lecture's order.
  assert (f'<li class="inconclusive"><b>~ inconclusive: the seeds disagree:</b> {LR_SPLIT} '
          "<small>(holds in 1 of 2 seeds)</small>") in page
  assert "holds in 2 of 2 seeds" in page and "Seeds 0, 1;" in page
  assert "numbers (mean ± std over 2 seeds)" in page and "<td>1 ± 0.7071</td>" in page
  assert "One seed: deterministic" in page  # optimizer_paths says why it has one seed.
  _assert_self_contained(page)


def test_a_failing_experiment_gets_its_section_and_a_nonzero_exit(tmp_path):
  _fake_experiment(tmp_path, "long_range", {"the LSTM solves every length tried": True}, [])
  (tmp_path / "optimizer_paths").mkdir()
  (tmp_path / "optimizer_paths" / "seed0").write_text("a file where the experiment's folder should be")
  result = _report(tmp_path, "--only=optimizer_paths,long_range", "--seeds=1")
  assert result.returncode == 1 and "not measured: optimizer_paths" in result.stderr
  page = (tmp_path / "report.html").read_text(encoding="utf-8")
  assert _sections(page) == ["optimizer_paths", "long_range"]
  assert "This experiment failed" in page and "FileExistsError" in page
  assert "FileExistsError" in (tmp_path / "logs" / "optimizer_paths.seed0.stderr").read_text()
  assert "✓ holds:</b> the LSTM solves every length tried" in page  # The others are still reported.


def test_unknown_experiment_is_one_error_line(tmp_path):
  result = _report(tmp_path, "--only=optimizer_paths,no_such_thing", timeout=60)
  assert result.returncode == 2
  assert result.stderr.strip().splitlines() == [
      f"error: unknown experiment 'no_such_thing' in --only; known: {', '.join(sections.NAMES)}"]
  assert not os.path.exists(tmp_path / "report.html")


def test_quick_end_to_end_over_two_seeds_then_resumed(tmp_path, data_dir):
  args = ["--quick", "--seeds=2", f"--data_dir={data_dir}", "--only=linear_vs_mlp,pixel_sequence"]
  result = _report(tmp_path, *args, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  runs = {"linear_vs_mlp": [0, 1], "pixel_sequence": [0]}  # pixel_sequence compares no settings: one seed.
  for name, seeds in runs.items():
    assert sorted(os.listdir(tmp_path / name)) == [f"seed{k}" for k in seeds]
    for k in seeds:
      ran = json.loads((tmp_path / "logs" / f"{name}.seed{k}.json").read_text())
      assert ran["returncode"] == 0 and ran["quick"] and ran["seconds"] > 0 and ran["seed"] == k
  assert "--seed=1" in json.loads((tmp_path / "logs" / "linear_vs_mlp.seed1.json").read_text())["command"]
  assert (tmp_path / "linear_vs_mlp" / "seed1" / "results.json").exists()
  assert json.loads((tmp_path / "pixel_sequence" / "seed0" / "status.json").read_text())["state"] == "done"
  assert "seed=" not in json.loads((tmp_path / "logs" / "pixel_sequence.seed0.json").read_text())["command"]
  page = (tmp_path / "report.html").read_text(encoding="utf-8")
  assert _sections(page) == ["linear_vs_mlp", "pixel_sequence"] and "Quick mode" in page
  assert "of 2 seeds)" in page and "mean ± std over 2 seeds" in page and "of 1 seed)" in page
  assert page.count("data:image/png;base64,") == 3  # linear_vs_mlp's two figures (seed 0's), pixel_sequence's one.
  _assert_self_contained(page)

  stamps = {f: os.path.getmtime(tmp_path / "logs" / f) for f in os.listdir(tmp_path / "logs")}
  again = _report(tmp_path, *args, timeout=120)  # Every seed finished: collected, none rerun.
  assert again.returncode == 0, again.stderr[-3000:]
  assert again.stdout.count(": collected from") == 3 and "--workdir=" not in again.stdout
  assert stamps == {f: os.path.getmtime(tmp_path / "logs" / f) for f in os.listdir(tmp_path / "logs")}
  assert "of 2 seeds)" in (tmp_path / "report.html").read_text(encoding="utf-8")
