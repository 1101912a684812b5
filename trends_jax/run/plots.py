"""Training curves (loss and accuracy, train and eval) from metrics.jsonl to a PNG."""

import functools


@functools.cache
def pyplot():
  """matplotlib.pyplot on the file-only backend, loaded at the first figure: importing it is 0.8 s
  of every launch (2-core Xeon), bad-input errors included, and most launches draw only at the end."""
  import matplotlib
  matplotlib.use("Agg")  # Figures go to files: no display, and none needed on a cluster.
  import matplotlib.pyplot as plt
  return plt


def save(fig, path: str, dpi: int = 110) -> None:
  """Writes a finished figure (its layout tightened) to `path` and frees it."""
  fig.tight_layout()
  fig.savefig(path, dpi=dpi)
  pyplot().close(fig)


def training_curves(records: list[dict], path: str, title: str = "") -> None:
  names = [m for m in ("loss", "accuracy") if any(m in r for r in records)]
  fig, axes = pyplot().subplots(1, len(names), figsize=(5 * len(names), 3.6), squeeze=False)
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

  fig, ax = pyplot().subplots(figsize=(7, 6))
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
