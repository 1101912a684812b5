"""Training curves (loss and accuracy, train and eval) from metrics.jsonl to a PNG."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def save(fig, path: str, dpi: int = 110) -> None:
  """Writes a finished figure (its layout tightened) to `path` and frees it."""
  fig.tight_layout()
  fig.savefig(path, dpi=dpi)
  plt.close(fig)


def training_curves(records: list[dict], path: str, title: str = "") -> None:
  names = [m for m in ("loss", "accuracy") if any(m in r for r in records)]
  fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.6), squeeze=False)
  for ax, name in zip(axes[0], names):
    for split in sorted({r["split"] for r in records}):
      points = [(r["step"], r[name]) for r in records if r["split"] == split and name in r]
      if points:
        steps, values = zip(*points)
        ax.plot(steps, values, marker="o" if split != "train" else None, ms=3, label=split)
    ax.set_xlabel("step")
    ax.set_ylabel(name)
    ax.grid(alpha=0.3)
    ax.legend()
  if title:
    fig.suptitle(title)
  save(fig, path)


def sweep_results(rows: list[dict], path: str, metric: str = "best_eval_accuracy") -> None:
  """`metric` against the learning rate (log axis), one line per value of the other swept fields;
  for a full 2-D grid of two other fields, a heatmap instead."""
  import json
  import math

  import numpy as np

  points = [(json.loads(r["overrides"]), float(r[metric])) for r in rows
            if r.get(metric) not in (None, "") and math.isfinite(float(r[metric]))]
  if not points:
    raise ValueError(f"no finished trial has {metric}")
  fields = sorted({f for overrides, _ in points for f in overrides})
  lr_field = "optimizer.learning_rate"
  fig, ax = plt.subplots(figsize=(7, 4.5))
  if lr_field in fields:
    others = [f for f in fields if f != lr_field]
    groups = {}
    for overrides, value in points:
      key = ", ".join(f"{f.split('.')[-1]}={overrides.get(f)}" for f in others) or "all"
      groups.setdefault(key, []).append((overrides[lr_field], value))
    for key, values in sorted(groups.items()):
      values.sort()
      ax.plot(*zip(*values), marker="o", label=key)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
  elif len(fields) == 2:
    xs = sorted({o[fields[0]] for o, _ in points}, key=str)
    ys = sorted({o[fields[1]] for o, _ in points}, key=str)
    grid = np.full((len(ys), len(xs)), np.nan)
    for overrides, value in points:
      grid[ys.index(overrides[fields[1]]), xs.index(overrides[fields[0]])] = value
    image = ax.imshow(grid, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(xs)), [str(x) for x in xs], rotation=45)
    ax.set_yticks(range(len(ys)), [str(y) for y in ys])
    ax.set_xlabel(fields[0])
    ax.set_ylabel(fields[1])
    fig.colorbar(image, label=metric)
  else:
    labels = [json.dumps(o, sort_keys=True) for o, _ in points]
    ax.barh(range(len(points)), [v for _, v in points])
    ax.set_yticks(range(len(points)), labels, fontsize=6)
    ax.set_xlabel(metric)
  save(fig, path)


def analogy_offsets(vectors, pairs: list[tuple[str, str]], path: str, title: str = "") -> None:
  """The words of `pairs` projected on their first two principal components, with an arrow from
  the first to the second word of each pair: parallel arrows show a shared offset (male→female,
  country→capital, present→past), as in Mikolov et al. 2013. `vectors` has `.words` and
  `.vectors` (a `trends_jax.evaluation.word_vectors.WordVectors`)."""
  import numpy as np

  from trends_jax.errors import UserError

  row_of = {}
  for i, word in enumerate(vectors.words):
    row_of.setdefault(word, i)
  words = list(dict.fromkeys(word for pair in pairs for word in pair))
  missing = [word for word in words if word not in row_of]
  if missing:
    raise UserError(f"{', '.join(map(repr, missing[:5]))} not in the vocabulary of "
                    f"{len(vectors.words)} words; pick pairs of words the model has")
  points = np.asarray(vectors.vectors, dtype=np.float64)[[row_of[w] for w in words]]
  points = points - points.mean(axis=0)
  _, _, components = np.linalg.svd(points, full_matrices=False)
  xy = dict(zip(words, points @ components[:2].T))

  fig, ax = plt.subplots(figsize=(7, 6))
  for first, second in pairs:
    ax.annotate("", xy=xy[second], xytext=xy[first],
                arrowprops={"arrowstyle": "->", "color": "tab:blue", "alpha": 0.7, "lw": 1.2})
  coordinates = np.array(list(xy.values()))
  ax.scatter(coordinates[:, 0], coordinates[:, 1], s=18, color="black", zorder=3)
  for word, (x, y) in xy.items():
    ax.annotate(word, (x, y), xytext=(4, 4), textcoords="offset points", fontsize=9)
  ax.set_xlabel("principal component 1")
  ax.set_ylabel("principal component 2")
  ax.grid(alpha=0.3)
  ax.set_title(title or "word-vector offsets (PCA)")
  save(fig, path)
