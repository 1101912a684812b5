"""The sweep's tables: one row per trial from its status.json and metrics.jsonl (DIR/results.csv),
and per setting (the trial's overrides but its seed) the mean ± std and min–max over its seeds
(DIR/results.md, DIR/results.png). "Best" is by one logged metric, `split/name`, minimised or
maximised."""

import csv
import dataclasses
import json
import math
import os

import numpy as np

from trends_jax.errors import UserError
from trends_jax.run import plots
from trends_jax.sweep import trial
from trends_jax.sweep.hyper import Trial

# The splits the training loop logs to metrics.jsonl.
SPLITS = ("train", "eval")
# The direction of a metric, from the end of its name (a --mode flag decides for any other name).
MODES = {"loss": "min", "bits_per_char": "min", "error": "min", "perplexity": "min", "mse": "min",
         "accuracy": "max", "top5": "max", "top1": "max", "f1": "max"}
COLUMNS = ["id", "overrides", "seed", "status", "final_eval_accuracy", "best_eval_accuracy", "final_eval_loss",
           "best_eval_loss", "steps", "wall_seconds", "error"]


@dataclasses.dataclass(frozen=True)
class Metric:
  split: str
  name: str
  mode: str  # "min" or "max"

  @property
  def label(self) -> str:
    return f"{self.split}/{self.name}"

  @property
  def column(self) -> str:
    return f"{self.split}_{self.name}"

  def best(self, values):
    return (min if self.mode == "min" else max)(values)

  def key(self, value: float) -> float:
    """Sorting key: smaller is better."""
    return value if self.mode == "min" else -value


def parse_metric(spec: str, mode: str | None = None) -> Metric:
  """"eval/loss" → Metric("eval", "loss", "min"); the mode from the name unless given."""
  split, sep, name = spec.partition("/")
  if not sep or not name:
    raise UserError(f"--metric={spec} must look like split/name, e.g. eval/loss or eval/accuracy")
  if split not in SPLITS:
    raise UserError(f"--metric={spec}: runs log no split {split!r}; use one of {', '.join(SPLITS)}")
  if mode is None:
    mode = next((m for suffix, m in MODES.items() if name.endswith(suffix)), None)
    if mode is None:
      raise UserError(f"--metric={spec}: cannot tell whether {name!r} is better low or high; "
                      "add --mode=min or --mode=max")
  return Metric(split, name, mode)


DEFAULT_METRIC = Metric("eval", "accuracy", "max")


def columns(metric: Metric) -> list[str]:
  extra = [f"final_{metric.column}", f"best_{metric.column}"]
  return COLUMNS[:4] + [c for c in extra if c not in COLUMNS] + COLUMNS[4:]


def _final_and_best(records: list[dict], split: str, name: str, mode: str):
  values = [r[name] for r in records if r["split"] == split and isinstance(r.get(name), (int, float))]
  finite = [v for v in values if math.isfinite(v)]
  best = (min if mode == "min" else max)(finite) if finite else None
  return (values[-1] if values else None), best


def collect(trials: list[Trial], workdir: str, metric: Metric = DEFAULT_METRIC, base_seed: int | None = None
            ) -> list[dict]:
  """One row per trial from its status.json and metrics.jsonl."""
  rows = []
  for overrides in trials:
    run = trial.trial_workdir(workdir, overrides)
    status = run.read_status() or {"state": "pending", "step": 0}
    records = run.read_metrics()
    row = {"id": trial.trial_id(overrides), "overrides": json.dumps(overrides, sort_keys=True),
           "seed": overrides.get("seed", base_seed), "status": status["state"]}
    for split, name, mode in {("eval", "accuracy", "max"), ("eval", "loss", "min"),
                              (metric.split, metric.name, metric.mode)}:
      row[f"final_{split}_{name}"], row[f"best_{split}_{name}"] = _final_and_best(records, split, name, mode)
    row.update(steps=status.get("step", 0), wall_seconds=status.get("wall_seconds"), error=status.get("error", ""))
    rows.append(row)
  return rows


def _number(value) -> float | None:
  try:
    value = float(value)
  except (TypeError, ValueError):
    return None
  return value if math.isfinite(value) else None


def setting_of(overrides: dict) -> str:
  return json.dumps({k: v for k, v in overrides.items() if k != "seed"}, sort_keys=True)


def aggregate(rows: list[dict], metric: Metric = DEFAULT_METRIC) -> list[dict]:
  """Per setting: its trials, how many finished and failed, and mean, std (ddof 1), min and max of
  the final and best metric over the finished seeds; sorted best mean of the best metric first."""
  groups: dict[str, list[dict]] = {}
  for r in rows:
    groups.setdefault(setting_of(json.loads(r["overrides"])), []).append(r)
  settings = []
  for setting, members in groups.items():
    done = [r for r in members if r["status"] == "done"]
    entry = {"setting": setting, "trials": len(members), "finished": len(done),
             "failed": sum(r["status"] in ("failed", "diverged") for r in members)}
    for kind in ("final", "best"):
      values = [v for v in (_number(r.get(f"{kind}_{metric.column}")) for r in done) if v is not None]
      entry[kind] = {"mean": float(np.mean(values)), "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
                     "min": float(np.min(values)), "max": float(np.max(values)), "n": len(values)} if values else None
    settings.append(entry)
  return sorted(settings, key=lambda s: (s["best"] is None, metric.key(s["best"]["mean"]) if s["best"] else 0))


def describe(setting: str) -> str:
  overrides = json.loads(setting)
  return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in overrides.items()) or \
      "(the config as it is)"


def _stats(s: dict | None) -> tuple[str, str]:
  if s is None:
    return "", ""
  return f"{s['mean']:.4g} ± {s['std']:.2g}", f"{s['min']:.4g}–{s['max']:.4g}"


def settings_markdown(settings: list[dict], metric: Metric) -> str:
  from trends_jax.run import results as report
  label = metric.label
  table = []
  for s in settings:
    final_mean, final_range = _stats(s["final"])
    best_mean, best_range = _stats(s["best"])
    table.append({"setting": describe(s["setting"]), "seeds finished": f"{s['finished']}/{s['trials']}",
                  "failed": s["failed"], f"final {label} (mean ± std)": final_mean, "final min–max": final_range,
                  f"best {label} (mean ± std)": best_mean, "best min–max": best_range})
  best = settings[0] if settings and settings[0]["best"] else None
  verdict = (f"Best setting by the mean of the best {label} ({metric.mode}imised) over its seeds: "
             f"{describe(best['setting'])} ({best['best']['mean']:.4g} ± {best['best']['std']:.2g}, "
             f"{best['finished']} seeds).\n\n" if best else f"No finished trial logged {label}.\n\n")
  return verdict + report.markdown_table(table, list(table[0]) if table else ["setting"])


def write_results(rows: list[dict], workdir: str, metric: Metric = DEFAULT_METRIC) -> None:
  os.makedirs(workdir, exist_ok=True)
  names = columns(metric)
  with open(os.path.join(workdir, "results.csv"), "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=names, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
  from trends_jax.run import results as report
  with open(os.path.join(workdir, "results.md"), "w") as f:
    f.write(f"## Per setting\n\n{settings_markdown(aggregate(rows, metric), metric)}\n\n## Per trial\n\n")
    f.write(report.markdown_table([{k: ("" if r.get(k) is None else r[k]) for k in names} for r in rows], names))


def read_csv(workdir: str) -> list[dict]:
  path = os.path.join(workdir, "results.csv")
  if not os.path.exists(path):
    raise UserError(f"{path} does not exist; run the sweep first")
  with open(path) as f:
    return list(csv.DictReader(f))


def plot(rows: list[dict], path: str, metric: Metric = DEFAULT_METRIC) -> None:
  """The mean best metric per setting with error bars (std over seeds): against the learning rate
  (log axis), one line per value of the other fields, where the learning rate is swept; else bars."""
  settings = [s for s in aggregate(rows, metric) if s["best"]]
  if not settings:
    raise UserError(f"no finished trial logged {metric.label}; nothing to plot")
  fig, ax = plots.pyplot().subplots(figsize=(7, 4.5))
  lr_field = "optimizer.learning_rate"
  if all(lr_field in json.loads(s["setting"]) for s in settings):
    lines: dict[str, list] = {}
    for s in settings:
      overrides = json.loads(s["setting"])
      key = describe(json.dumps({k: v for k, v in overrides.items() if k != lr_field})).replace(
          "(the config as it is)", "all")
      lines.setdefault(key, []).append((overrides[lr_field], s["best"]["mean"], s["best"]["std"]))
    for key, points in sorted(lines.items()):
      points.sort()
      x, y, err = zip(*points)
      ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=key)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.legend(fontsize=8)
  else:
    ax.barh(range(len(settings)), [s["best"]["mean"] for s in settings], xerr=[s["best"]["std"] for s in settings],
            capsize=3)
    ax.set_yticks(range(len(settings)), [describe(s["setting"]) for s in settings], fontsize=6)
  seeds = max(s["finished"] for s in settings)
  (ax.set_ylabel if ax.get_xscale() == "log" else ax.set_xlabel)(
      f"best {metric.label}" + (f" (mean ± std over up to {seeds} seeds)" if seeds > 1 else ""))
  ax.grid(alpha=0.3)
  plots.save(fig, path)
