"""Training curves (loss and accuracy, train and eval) from metrics.jsonl to a PNG."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


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
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
