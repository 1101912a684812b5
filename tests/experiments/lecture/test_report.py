"""The lecture report: a section per experiment, self-contained HTML, verdicts, failures, no reruns."""

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


def _png(path, label):
  fig, ax = plt.subplots(figsize=(2, 1.5))
  ax.plot([0, 1, 2], [2, 0, 1], label=label)
  fig.savefig(path, dpi=50)
  plt.close(fig)


def _fake_experiment(workdir, name, claims, figures):
  """What a finished experiment leaves: results.json with claims and a table, results.md, PNGs."""
  path = os.path.join(workdir, name)
  report.write(path, f"fake {name}", {"claims": claims}, {"numbers": [{"run": "a", "value": 0.5}]},
               notes=f"Notes of {name}.\n\n" + report.claim_lines(claims))
  for figure in figures:
    _png(os.path.join(path, figure), name)
  return path


def _fake_workdir(tmp_path):
  _fake_experiment(tmp_path, "optimizer_paths", {AGREES: True, DISAGREES: False}, ["bowl.png", "saddle.png"])
  _fake_experiment(tmp_path, "long_range", {"the LSTM solves every length tried": True},
                   ["mse_by_length.png", "gradient_by_lag.png"])
  run = tmp_path / "pixel_sequence"
  run.mkdir()
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
  outcomes = [sections.Outcome(SECTIONS[n], "done", sections.load(SECTIONS[n], str(tmp_path / n)),
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
  assert f'<li class="holds"><b>✓ holds:</b> {AGREES}' in page
  assert "an LSTM reading the 64 pixels" in page  # pixel_sequence's claim, computed from status.json.
  assert "This experiment failed" in page and "ValueError: residual went wrong" in page
  assert "Notes of optimizer_paths." in page and "<th>value</th>" in page and "<td>0.5</td>" in page
  for s in sections.SECTIONS:
    if s.name in names:
      assert s.claim in page.replace("&#x27;", "'")  # The lecture's sentence beside the evidence.

  markdown = open(markdown_path, encoding="utf-8").read()
  assert [line[4:].split(" ")[0] for line in markdown.splitlines() if line.startswith("### ")] == names + ["residual"]
  figures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)
  assert "optimizer_paths/bowl.png" in figures and len(figures) == 5
  assert all(os.path.exists(tmp_path / f) for f in figures)
  assert f"- **✗ the measurements disagree with the lecture**: {DISAGREES}" in markdown
  assert "ValueError: residual went wrong" in markdown


def test_figures_default_to_every_png_and_unfinished_runs_are_not_collected(tmp_path):
  path = _fake_experiment(tmp_path, "residual", {"x": True}, ["b.png", "a.png"])
  assert [os.path.basename(f) for f in sections.figures(SECTIONS["residual"], path)] == ["a.png", "b.png"]
  assert sections.load(SECTIONS["activations"], str(tmp_path / "activations")) is None
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


def test_collects_finished_experiments_without_rerunning_them(tmp_path):
  _fake_workdir(tmp_path)
  before = {n: os.path.getmtime(tmp_path / n / "results.json") for n in ("optimizer_paths", "long_range")}
  result = _report(tmp_path, "--only=long_range,pixel_sequence,optimizer_paths")
  assert result.returncode == 0, result.stderr[-3000:]
  assert before == {n: os.path.getmtime(tmp_path / n / "results.json") for n in before}
  assert not os.path.exists(tmp_path / "logs")  # Nothing was run.
  assert "collected" in result.stdout
  page = (tmp_path / "report.html").read_text(encoding="utf-8")
  assert _sections(page) == ["optimizer_paths", "pixel_sequence", "long_range"]  # The lecture's order.
  _assert_self_contained(page)


def test_a_failing_experiment_gets_its_section_and_a_nonzero_exit(tmp_path):
  _fake_experiment(tmp_path, "long_range", {"the LSTM solves every length tried": True}, [])
  (tmp_path / "optimizer_paths").write_text("a file where the experiment's folder should be")
  result = _report(tmp_path, "--only=optimizer_paths,long_range")
  assert result.returncode == 1 and "not measured: optimizer_paths" in result.stderr
  page = (tmp_path / "report.html").read_text(encoding="utf-8")
  assert _sections(page) == ["optimizer_paths", "long_range"]
  assert "This experiment failed" in page and "FileExistsError" in page
  assert "FileExistsError" in (tmp_path / "logs" / "optimizer_paths.stderr").read_text()
  assert "✓ holds:</b> the LSTM solves every length tried" in page  # The others are still reported.


def test_unknown_experiment_is_one_error_line(tmp_path):
  result = _report(tmp_path, "--only=optimizer_paths,no_such_thing", timeout=60)
  assert result.returncode == 2
  assert result.stderr.strip().splitlines() == [
      f"error: unknown experiment 'no_such_thing' in --only; known: {', '.join(sections.NAMES)}"]
  assert not os.path.exists(tmp_path / "report.html")


def test_quick_end_to_end(tmp_path, data_dir):
  result = _report(tmp_path, "--quick", f"--data_dir={data_dir}", "--only=optimizer_paths,pixel_sequence",
                   timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  for name in ("optimizer_paths", "pixel_sequence"):
    ran = json.loads((tmp_path / "logs" / f"{name}.json").read_text())
    assert ran["returncode"] == 0 and ran["quick"] and ran["seconds"] > 0
  assert (tmp_path / "optimizer_paths" / "results.json").exists()
  assert json.loads((tmp_path / "pixel_sequence" / "status.json").read_text())["state"] == "done"
  page = (tmp_path / "report.html").read_text(encoding="utf-8")
  assert _sections(page) == ["optimizer_paths", "pixel_sequence"] and "Quick mode" in page
  assert page.count("data:image/png;base64,") == 3
  _assert_self_contained(page)
