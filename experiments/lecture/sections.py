"""The lecture report: each claim of the lecture beside the measurements of the experiment that tests it.

`SECTIONS` lists the experiments in the lecture's order. Each writes into `<workdir>/<name>/`
(results.json with a "claims" dict {sentence: bool}, results.md, PNGs);
an experiment whose claims compare settings runs once per seed, into `<workdir>/<name>/seed<k>/`;
`load` reads what a finished one left there, `aggregate` turns the seeds' claims into one verdict
per claim (`RULE`), and `write` turns the outcomes into `report.html`
(one self-contained page: inline CSS, figures as data: URIs, nothing fetched) and its Markdown
twin `report.md` (figures referenced by their relative paths).
"""

import base64
import dataclasses
import datetime
import glob
import html
import json
import os
from collections.abc import Callable

from trends_jax.run import results as report
from trends_jax.run.workdir import Workdir


@dataclasses.dataclass(frozen=True)
class Section:
  lecture: str  # The lecture's section, as the report heads it.
  claim: str  # What the lecture says there, in one sentence.
  name: str  # experiments/lecture/<name>.py (unless `script` says otherwise), and its folder in the report.
  figures: tuple[str, ...] | None = None  # PNGs to show, in order; None: all the experiment wrote.
  data_dir: bool = False  # The experiment takes --data_dir.
  # A normal trainer run of configs/<config> instead of an experiment script; its claims are
  # computed from its status.json.
  config: str | None = None
  status_claims: tuple[tuple[str, Callable[[dict], bool]], ...] = ()
  script: str | None = None  # The experiment's script, relative to the repository.
  # Why one seed suffices (its claims compare no randomly trained settings); "": it runs over seeds.
  one_seed: str = ""

  @property
  def path(self) -> str:
    """The script that runs it, relative to the repository."""
    if self.config:
      return "experiments/train.py"
    return self.script or f"experiments/lecture/{self.name}.py"


LINEAR = "1. Linear models"
NETWORKS = "2. Fully connected networks · 4. Vanishing and exploding gradients"
OPTIMIZERS = "5. Optimizers"
OVERFITTING = "6. Overfitting, regularization, dropout"
CONVOLUTION = "7. Convolutional networks"
ARCHITECTURES = "8. Architectures: GoogLeNet, ResNet, BatchNorm, SENet"
TEXT = "9. Text"
SEQUENCES = "10. Sequences, RNN, LSTM"

SECTIONS = (
    Section(LINEAR, "A linear model cannot fit a non-linear dependency; polynomial features make the "
            "problem linear again, and a fully connected network learns such features by itself.",
            "linear_vs_mlp", figures=("boundaries.png", "accuracy.png"), data_dir=True),
    Section(NETWORKS, "The sigmoid is almost flat beyond about ±4, so in a deep network its gradients "
            "vanish layer by layer; tanh softens this and ReLU works better in most tasks.",
            "activations", figures=("gradient_norms.png", "training_curves.png"), data_dir=True),
    Section(OPTIMIZERS, "On an ill-conditioned function like 10x² + y²/10 gradient descent zigzags; momentum "
            "damps the zigzag, and Adagrad-like methods rescale each parameter by its squared gradients.",
            "optimizer_paths", figures=("bowl.png", "saddle.png"),
            one_seed="deterministic: every optimizer starts from the same point on a fixed function, so another "
                     "seed would repeat the same numbers."),
    Section(OVERFITTING, "A big network memorizes a small training set; L1/L2 penalties and dropout fight "
            "this, and they can be combined.", "regularization", figures=("curves.png",), data_dir=True),
    Section(OVERFITTING, "Dropout trains an ensemble of 2^N thinned networks, and the full network used at "
            "prediction stands for their average.", "dropout_ensemble", figures=("mc_dropout.png",),
            data_dir=True),
    Section(CONVOLUTION, "A dense layer on a whole image needs millions of weights where a 3×3 convolution "
            "needs a few hundred, and convolutional networks suit images better.", "dense_vs_conv",
            figures=("layer_parameters.png", "accuracy.png"), data_dir=True),
    Section(ARCHITECTURES, "GoogLeNet's auxiliary classifiers part-way through bring gradient to its early "
            "layers, which otherwise learn poorly.", "googlenet_aux", data_dir=True),
    Section(ARCHITECTURES, "Residual blocks compute F(x) + x, so the gradient has an identity path and a deep "
            "network trains where the same network without shortcuts does not.", "residual", data_dir=True),
    Section(ARCHITECTURES, "BatchNorm normalizes with each batch's statistics and keeps running averages for "
            "test time; with small batches those statistics are noisy.", "batchnorm_batch_size",
            data_dir=True),
    Section(ARCHITECTURES, "Squeeze-and-excitation rescales each channel by a learned gate in (0, 1), on top "
            "of ResNet blocks.", "se_attention", data_dir=True),
    Section(TEXT, "Texts are classified from bag-of-words or TF-IDF vectors, or read as a matrix of "
            "characters by convolutions and pooling.", "text_classification", figures=("accuracy.png",),
            data_dir=True),
    Section(TEXT, "word2vec gives words in similar contexts close vectors, and relations become shared "
            "directions: woman − man ≈ queen − king, verb tense, country–capital.", "word_analogies",
            figures=("male_female.png", "verb_tense.png", "country_capital.png"), data_dir=True,
            one_seed="its claims test one trained model's vectors against fixed thresholds; they compare no "
                     "settings."),
    Section(TEXT, "CBOW (a word from its context) and skip-gram (the context from a word) both learn such "
            "vectors.", "bench_word2vec", figures=("comparison.png",), data_dir=True,
            script="experiments/bench/word2vec.py",
            one_seed="each architecture's vectors are tested against fixed thresholds, not against each other "
                     "(and the benchmark script takes no --seed)."),
    Section(SEQUENCES, "An image can be classified by an LSTM that reads it as a sequence of pixels.",
            "pixel_sequence", figures=("curves.png",), data_dir=True, config="pixel_sequence.py:digits",
            status_claims=(("an LSTM reading the 64 pixels of an 8×8 digit one at a time classifies it "
                            "(test accuracy > 0.9)", lambda status: status.get("eval_accuracy", 0) > 0.9),),
            one_seed="one run against a fixed threshold; it compares no settings."),
    Section(SEQUENCES, "Unrolled over a long sequence a plain RNN's gradients vanish, while the LSTM's gates "
            "carry information across it.", "long_range", figures=("mse_by_length.png", "gradient_by_lag.png")),
)
NAMES = tuple(s.name for s in SECTIONS)


@dataclasses.dataclass
class Outcome:
  """What became of one section's experiment in this report."""
  section: Section
  state: str  # "done", "failed" or "missing" (no such script in this checkout).
  results: dict | None = None
  ran: dict | None = None  # The report's record of running it: command, quick, seconds, stderr tail.
  collected: bool = False  # Its results were there before this report started.
  written: str = ""  # When its results were written.
  # Every finished seed's results, by seed; `results` (tables, notes, figures) is the first seed's.
  seed_results: dict[int, dict] = dataclasses.field(default_factory=dict)

  @property
  def seeds(self) -> list[int]:
    return sorted(self.seed_results) or ([0] if self.results is not None else [])

  def claims(self) -> dict[str, tuple[str, int, int]]:
    """Each claim's verdict across the seeds: {claim: (verdict, seeds where it holds, seeds measuring it)}."""
    per_seed = self.seed_results or ({0: self.results} if self.results is not None else {})
    return aggregate([per_seed[k].get("claims", {}) for k in sorted(per_seed)])


def seed_dir(workdir: str, name: str, seed: int) -> str:
  """Where seed `seed` of experiment `name` runs and writes."""
  return os.path.join(workdir, name, f"seed{seed}")


HOLDS, DISAGREES, INCONCLUSIVE, UNMEASURED = "holds", "disagrees", "inconclusive", "unmeasured"
RULE = ("Every experiment whose claims compare two or more settings ran once per seed (seed k in its folder's "
        "seedk, with the seed of initialization, batches and dropout set to k), and each claim's verdict "
        "comes from the seeds' own verdicts: it holds if it holds for every seed, the measurements disagree with "
        "it if it fails for every seed, and it is inconclusive otherwise, as the difference it states is then "
        "within the spread of the seeds. An experiment run with one seed says why; with one seed a verdict is "
        "that seed's.")


def aggregate(claim_sets: list[dict]) -> dict[str, tuple[str, int, int]]:
  """{claim: (verdict, seeds where it holds, seeds that measured it)} from per-seed {claim: bool} dicts
  (claims in the order first seen; a value other than a bool is not a measurement), by `RULE`."""
  counts: dict[str, list[int]] = {}
  for claims in claim_sets:
    for claim, value in claims.items():
      held_measured = counts.setdefault(claim, [0, 0])
      if isinstance(value, bool):
        held_measured[0] += value
        held_measured[1] += 1
  return {claim: (UNMEASURED if n == 0 else HOLDS if held == n else DISAGREES if held == 0 else INCONCLUSIVE,
                  held, n) for claim, (held, n) in counts.items()}


def seed_tables(outcome: "Outcome") -> dict[str, list[dict]]:
  """Each table of the first seed whose rows line up across the seeds (same rows, same text cells), with
  every numeric cell as mean ± standard deviation (ddof=1) over the seeds; {} with fewer than two seeds."""
  per_seed = [outcome.seed_results[k] for k in outcome.seeds if k in outcome.seed_results]
  if len(per_seed) < 2:
    return {}
  tables = {}
  for name, rows in per_seed[0].get("tables", {}).items():
    others = [seed.get("tables", {}).get(name) for seed in per_seed]
    if not rows or any(not isinstance(t, list) or len(t) != len(rows) for t in others):
      continue
    aggregated = []
    for i, row in enumerate(rows):
      cells = [t[i] for t in others]
      out = {}
      for key, value in row.items():
        values = [c.get(key) for c in cells]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
          mean = sum(values) / len(values)
          std = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
          out[key] = f"{report.format_cell(mean)} ± {report.format_cell(std)}"
        elif all(v == value for v in values):
          out[key] = value
        else:
          break  # The seeds' rows differ in a text cell: they do not line up.
      else:
        aggregated.append(out)
        continue
      break
    if len(aggregated) == len(rows):
      tables[f"{name} (mean ± std over {len(per_seed)} seeds)"] = aggregated
  return tables


def load(section: Section, path: str) -> dict | None:
  """The results a finished experiment left in `path` (results.json plus its results.md's title
  and notes), or None if it has not finished there."""
  if section.config:
    return _load_run(section, path)
  try:
    with open(os.path.join(path, "results.json")) as f:
      results = json.load(f)
  except (OSError, json.JSONDecodeError):
    return None
  return {**results, **_title_and_notes(os.path.join(path, "results.md"))}


def _load_run(section: Section, path: str) -> dict | None:
  status = Workdir(path).read_status() or {}
  if status.get("state") != "done":
    return None
  final = {"step": status.get("step"), **{k: v for k, v in status.items() if k.startswith("eval_")},
           "wall_seconds": status.get("wall_seconds")}
  return {"claims": {claim: bool(check(status)) for claim, check in section.status_claims},
          "tables": {"final evaluation": [final]}, "title": f"configs/{section.config}",
          "notes": f"A normal trainer run (experiments/train.py --config=configs/{section.config}); "
                   "its status.json and training curves."}


def _title_and_notes(path: str) -> dict:
  """results.md's title and the notes before its first table, without the claim lines."""
  try:
    text = open(path).read()
  except OSError:
    return {}
  head = text.split("\n## ", 1)[0].strip().splitlines()
  title = head[0].lstrip("# ").strip() if head and head[0].startswith("# ") else ""
  notes = [line for line in head[1:] if not line.startswith(("- holds:", "- does NOT hold:"))]
  return {"title": title, "notes": "\n".join(notes).strip()}


def figures(section: Section, path: str) -> list[str]:
  if section.figures is None:
    return sorted(glob.glob(os.path.join(path, "*.png")))
  return [os.path.join(path, f) for f in section.figures if os.path.exists(os.path.join(path, f))]


def written_at(section: Section, path: str) -> str:
  file = os.path.join(path, "status.json" if section.config else "results.json")
  return datetime.datetime.fromtimestamp(os.path.getmtime(file)).strftime("%Y-%m-%d %H:%M")


# A verdict (or one seed's bool) → (CSS class, words); anything else means it was not measured.
VERDICTS = {HOLDS: ("holds", "✓ holds"), DISAGREES: ("disagrees", "✗ the measurements disagree with the lecture"),
            INCONCLUSIVE: ("inconclusive", "~ inconclusive: the seeds disagree"),
            UNMEASURED: ("unmeasured", "? not measured")}


def verdict(value) -> tuple[str, str]:
  if isinstance(value, bool):
    value = HOLDS if value else DISAGREES
  return VERDICTS.get(value, VERDICTS[UNMEASURED])


def _seed_count(held: int, measured: int) -> str:
  return f"holds in {held} of {measured} seed{'s' if measured != 1 else ''}"


def verdicts(outcome: Outcome) -> tuple[int, int, int]:
  """(claims that hold, claims that do not, inconclusive claims) of a finished experiment, across its seeds."""
  found = [v for v, _, _ in outcome.claims().values()]
  return found.count(HOLDS), found.count(DISAGREES), found.count(INCONCLUSIVE)


# ---- page ----------------------------------------------------------------------------------------

STYLE = """
body { font: 15px/1.5 system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { border-bottom: 2px solid #444; } h2 { margin-top: 2.5em; border-bottom: 1px solid #bbb; }
h3 { margin-top: 2em; } h3 small { font-weight: normal; color: #666; }
blockquote { margin: 0.8em 0; padding: 0.6em 1em; background: #f3f3f7; border-left: 4px solid #667; }
.holds { color: #17622a; margin: 0.2em 0; }
.disagrees { color: #9b1111; background: #fde8e8; border: 2px solid #c33; padding: 0.5em 0.8em; margin: 0.4em 0; }
.unmeasured { color: #666; }
.inconclusive { color: #7a5a00; background: #fff8e1; border: 1px solid #c90; padding: 0.3em 0.8em; margin: 0.3em 0; }
.failed { background: #fff3cd; border: 2px solid #c90; padding: 0.6em 1em; }
.quick { background: #fff3cd; padding: 0.6em 1em; border: 1px solid #c90; }
.run { color: #666; font-size: 0.9em; }
ul.verdicts { list-style: none; padding-left: 0; }
pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; font-size: 0.85em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: right; }
th { background: #eee; } td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; display: block; margin: 0.8em 0; border: 1px solid #ddd; }
details { margin: 0.6em 0; } summary { cursor: pointer; color: #445; }
"""
LONG_TABLE = 12  # Rows beyond which a table is folded.


def _columns(rows: list[dict]) -> list[str]:
  return list(dict.fromkeys(key for row in rows for key in row))


def _text_cell(value) -> str:
  text = report.format_cell(value) if not isinstance(value, (list, dict)) else json.dumps(value)
  return text if len(text) <= 120 else text[:117] + "…"


def _html_table(name: str, rows: list[dict]) -> str:
  if not rows:
    return ""
  columns = _columns(rows)
  head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
  body = "".join("<tr>" + "".join(f"<td>{html.escape(_text_cell(r.get(c, '')))}</td>" for c in columns) + "</tr>"
                 for r in rows)
  table = f"<table><tr>{head}</tr>{body}</table>"
  if len(rows) > LONG_TABLE:
    return f"<details><summary>{html.escape(name)} ({len(rows)} rows)</summary>{table}</details>"
  return f"<h4>{html.escape(name)}</h4>{table}"


def _data_uri(path: str) -> str:
  with open(path, "rb") as f:
    return "data:image/png;base64," + base64.b64encode(f.read()).decode("ascii")


def _claim_html(claim: str, value: tuple[str, int, int]) -> str:
  css, words = verdict(value[0])
  return f'<li class="{css}"><b>{words}:</b> {html.escape(claim)} <small>({_seed_count(*value[1:])})</small></li>'


def _provenance(outcome: Outcome) -> str:
  ran = outcome.ran
  how = f"{ran['command']} in {ran['seconds']:.0f} s{' (quick mode)' if ran.get('quick') else ''}" if ran else ""
  seeds = outcome.seeds
  if outcome.section.one_seed:
    over = f" One seed: {outcome.section.one_seed}"
  else:
    over = (f" Seeds {', '.join(map(str, seeds))}; the figures and tables are seed {seeds[0]}'s." if len(seeds) > 1
            else f" Seed {seeds[0]} only." if seeds else "")
  if outcome.collected:
    return f"Collected: results written {outcome.written} by " + (how or "an earlier run") + "." + over
  return f"Ran for this report: {how}." + over


def _section_html(outcome: Outcome, path: str) -> str:
  s = outcome.section
  parts = [f'<h3 id="{s.name}">{s.name}'
           + (f" <small>— {html.escape(outcome.results.get('title', ''))}</small>" if outcome.results else "")
           + "</h3>", f"<blockquote><b>The lecture:</b> {html.escape(s.claim)}</blockquote>"]
  if outcome.state == "missing":
    return "\n".join(parts + [f'<p class="failed">Not measured: {s.path} is not in this '
                              "checkout.</p>"])
  if outcome.state == "failed":
    ran = outcome.ran or {}
    return "\n".join(parts + [
        f'<div class="failed"><b>This experiment failed</b> (exit code {ran.get("returncode")}): '
        f"{html.escape(ran.get('command', ''))}<br>The last lines of its stderr:"
        f"<pre>{html.escape(ran.get('stderr_tail', ''))}</pre></div>"])
  results = outcome.results
  claims = outcome.claims()
  parts.append(f'<p class="run">{html.escape(_provenance(outcome))}</p>')
  if claims:
    parts.append('<ul class="verdicts">' + "".join(_claim_html(c, v) for c, v in claims.items()) + "</ul>")
  else:
    parts.append("<p><i>This experiment records no claims.</i></p>")
  for paragraph in results.get("notes", "").split("\n\n"):
    if paragraph.strip():
      parts.append(f"<p>{html.escape(paragraph.strip())}</p>")
  for figure in figures(s, path):
    alt = html.escape(f"{s.name}: {os.path.basename(figure)}")
    parts.append(f'<img src="{_data_uri(figure)}" alt="{alt}">')
  for name, rows in {**results.get("tables", {}), **seed_tables(outcome)}.items():
    parts.append(_html_table(name, rows))
  return "\n".join(parts)


def _summary_rows(outcomes: list[Outcome]) -> list[dict]:
  rows = []
  for o in outcomes:
    holds, disagrees, inconclusive = verdicts(o)
    done = o.state == "done"
    rows.append({"lecture": o.section.lecture, "experiment": o.section.name, "state": o.state,
                 "seeds": len(o.seeds) if done else "", "claims that hold": holds if done else "",
                 "claims the measurements disagree with": disagrees if done else "",
                 "inconclusive claims": inconclusive if done else ""})
  return rows


def _grouped(outcomes: list[Outcome]):
  """Consecutive outcomes of the same lecture section, as (heading, [outcomes])."""
  groups = []
  for o in outcomes:
    if not groups or groups[-1][0] != o.section.lecture:
      groups.append((o.section.lecture, []))
    groups[-1][1].append(o)
  return groups


TITLE = "Trends in deep learning: the lecture's claims, measured"
INTRO = ("Each section of the lecture (\"Trends in data analysis, article 1\") states a claim; beside it "
         "are the measurements of the trends_jax experiment that tests it: the claims it checks against its "
         "own numbers, its figures and its tables. A claim the numbers do not support is marked "
         "\"the measurements disagree with the lecture\". " + RULE)
QUICK_NOTE = ("Quick mode: the experiments run here were their tiny --quick versions, which exercise the "
              "code but are too small to test the lecture; their verdicts mean nothing.")


def _summary_html(outcomes: list[Outcome]) -> str:
  rows = _summary_rows(outcomes)
  head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
  body = ""
  for row in rows:
    cells = [html.escape(str(v)) for v in row.values()]
    cells[1] = f'<a href="#{row["experiment"]}">{cells[1]}</a>'  # Each row links to its section.
    body += "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"
  return f"<table><tr>{head}</tr>{body}</table>"


def _shown_dir(workdir: str, outcome: Outcome) -> str:
  """The folder whose figures the section shows: its first seed's."""
  return seed_dir(workdir, outcome.section.name, outcome.seeds[0] if outcome.seeds else 0)


def write_html(workdir: str, outcomes: list[Outcome], quick: bool) -> str:
  body = [f"<h1>{TITLE}</h1>", f"<p>{html.escape(INTRO)}</p>",
          f'<p class="run">Generated {datetime.datetime.now():%Y-%m-%d %H:%M} from {html.escape(workdir)}.</p>']
  if quick:
    body.append(f'<p class="quick">{html.escape(QUICK_NOTE)}</p>')
  body.append(_summary_html(outcomes))
  for heading, group in _grouped(outcomes):
    body.append(f"<h2>{html.escape(heading)}</h2>")
    body += [_section_html(o, _shown_dir(workdir, o)) for o in group]
  page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
          f"<title>{TITLE}</title><style>{STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
  path = os.path.join(workdir, "report.html")
  with open(path, "w", encoding="utf-8") as f:
    f.write(page)
  return path


def _section_markdown(outcome: Outcome, path: str, workdir: str) -> str:
  s = outcome.section
  title = f" — {outcome.results.get('title', '')}" if outcome.results else ""
  parts = [f"### {s.name}{title}\n", f"> **The lecture:** {s.claim}\n"]
  if outcome.state == "missing":
    return "\n".join(parts + [f"**Not measured:** {s.path} is not in this checkout.\n"])
  if outcome.state == "failed":
    ran = outcome.ran or {}
    return "\n".join(parts + [f"**This experiment failed** (exit code {ran.get('returncode')}): "
                              f"`{ran.get('command', '')}`. The last lines of its stderr:\n",
                              "```\n" + ran.get("stderr_tail", "") + "\n```\n"])
  results = outcome.results
  parts.append(f"*{_provenance(outcome)}*\n")
  claims = outcome.claims()
  lines = [f"- **{verdict(v[0])[1]}**: {c} ({_seed_count(*v[1:])})" for c, v in claims.items()]
  parts.append("\n".join(lines) + "\n" if lines else "*This experiment records no claims.*\n")
  if results.get("notes"):
    parts.append(results["notes"] + "\n")
  for figure in figures(s, path):
    parts.append(f"![{s.name}: {os.path.basename(figure)}]({os.path.relpath(figure, workdir)})\n")
  for name, rows in {**results.get("tables", {}), **seed_tables(outcome)}.items():
    if rows:
      cells = [{c: _text_cell(r.get(c, "")).replace("|", "\\|") for c in _columns(rows)} for r in rows]
      parts.append(f"#### {name}\n\n" + report.markdown_table(cells))
  return "\n".join(parts)


def write_markdown(workdir: str, outcomes: list[Outcome], quick: bool) -> str:
  parts = [f"# {TITLE}\n", INTRO + "\n"]
  if quick:
    parts.append(f"**{QUICK_NOTE}**\n")
  parts.append(report.markdown_table(_summary_rows(outcomes)))
  for heading, group in _grouped(outcomes):
    parts.append(f"## {heading}\n")
    parts += [_section_markdown(o, _shown_dir(workdir, o), workdir) for o in group]
  path = os.path.join(workdir, "report.md")
  with open(path, "w", encoding="utf-8") as f:
    f.write("\n".join(parts))
  return path


def write(workdir: str, outcomes: list[Outcome], quick: bool = False) -> tuple[str, str]:
  """Writes report.html and report.md into `workdir`; returns their paths."""
  os.makedirs(workdir, exist_ok=True)
  return write_html(workdir, outcomes, quick), write_markdown(workdir, outcomes, quick)
