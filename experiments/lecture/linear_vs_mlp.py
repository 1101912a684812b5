r"""Linear, polynomial and MLP classifiers on non-linear problems: decision boundaries and accuracy.

    python experiments/lecture/linear_vs_mlp.py --workdir=runs/linear_vs_mlp [--quick] [--data_dir=…]

Problems: two moons (noise 0.2) and two circles (noise 0.1, inner radius 0.5) from scikit-learn,
500 training and 500 test points each, and the 8×8 digits (1,437 train / 360 test). Classifiers:
logistic regression on the raw inputs (`logistic`), logistic regression on every monomial up to
degree 3 (digits: 2) of the inputs (`polynomial`, cross_terms) and a 2×64 ReLU MLP (`mlp`), each
trained full-batch with Adam. Writes boundaries.png (the 2-D problems), accuracy.png,
results.json and results.md, with the lecture's claims checked against the numbers.
`--quick`: a few steps.
"""


import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax
import scaffold
from absl import flags
from sklearn import datasets

from trends_jax import data, models
from trends_jax.errors import UserError
from trends_jax.run import plots

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "TFDS data directory (for digits).")
flags.DEFINE_integer("steps", None, "Full-batch Adam steps per classifier (default 2000; quick 30).")
flags.DEFINE_integer("seed", 0, "Seed of the 2-D data and of initialization.")

POINTS = 500  # Training and test points of each 2-D problem.
LEARNING_RATE = 0.01


def two_d(make):
  """Train and test draws of a scikit-learn generator, standardized with the training statistics."""
  def load():
    (x, y), (x_test, y_test) = (make(POINTS, FLAGS.seed + i) for i in (0, 1))
    mean, std = x.mean(axis=0), x.std(axis=0)
    return ((x - mean) / std).astype(np.float32), y, ((x_test - mean) / std).astype(np.float32), y_test
  return load


def digits():
  def split(name):
    source = data.data_source("digits", name, FLAGS.data_dir)
    examples = source.__getitems__(list(range(len(source))))
    images = np.stack([e["image"] for e in examples]).reshape(len(examples), -1).astype(np.float32) / 255
    return images, np.asarray([e["label"] for e in examples])
  return (*split("train"), *split("test"))


# name: (train/test loader, degree of the polynomial features).
PROBLEMS = {
    "moons": (two_d(lambda n, seed: datasets.make_moons(n, noise=0.2, random_state=seed)), 3),
    "circles": (two_d(lambda n, seed: datasets.make_circles(n, noise=0.1, factor=0.5, random_state=seed)), 3),
    "digits": (digits, 2),
}
CLASSIFIERS = {
    "linear": lambda degree: {"name": "logistic"},
    "polynomial": lambda degree: {"name": "polynomial", "degree": degree, "cross_terms": True},
    "mlp": lambda degree: {"name": "mlp", "depth": 2, "width": 64},
}


def fit(model, x, y, steps: int):
  """Parameters after `steps` full-batch Adam steps on the softmax cross-entropy."""
  tx = optax.adam(LEARNING_RATE)

  def loss(params, x, y):
    return optax.softmax_cross_entropy_with_integer_labels(model.apply({"params": params}, x), y).mean()

  @jax.jit
  def train(params, x, y):  # Data as arguments: as closed-over constants XLA would fold them, slowly.
    def step(carry, _):
      params, opt_state = carry
      updates, opt_state = tx.update(jax.grad(loss)(params, x, y), opt_state, params)
      return (optax.apply_updates(params, updates), opt_state), None

    return jax.lax.scan(step, (params, tx.init(params)), None, length=steps)[0][0]

  return train(model.init(jax.random.PRNGKey(FLAGS.seed), x[:1])["params"], x, y)


def accuracy(model, params, x, y) -> float:
  return float(jnp.mean(jnp.argmax(model.apply({"params": params}, x), -1) == y))


def plot_boundaries(fitted: dict, path: str) -> None:
  problems = [p for p in PROBLEMS if fitted[(p, "linear")]["x_test"].shape[1] == 2]
  fig, axes = plt.subplots(len(problems), len(CLASSIFIERS), figsize=(4.2 * len(CLASSIFIERS), 4 * len(problems)),
                           squeeze=False)
  for row, problem in enumerate(problems):
    x, y = fitted[(problem, "linear")]["x_test"], fitted[(problem, "linear")]["y_test"]
    (x0, y0), (x1, y1) = x.min(axis=0) - 0.5, x.max(axis=0) + 0.5
    grid = np.stack(np.meshgrid(np.linspace(x0, x1, 250), np.linspace(y0, y1, 250)), axis=-1).astype(np.float32)
    for col, name in enumerate(CLASSIFIERS):
      run = fitted[(problem, name)]
      logits = run["model"].apply({"params": run["params"]}, grid.reshape(-1, 2))
      p1 = np.asarray(jax.nn.softmax(logits)[:, 1]).reshape(grid.shape[:2])
      ax = axes[row, col]
      ax.contourf(grid[..., 0], grid[..., 1], p1, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.6)
      ax.contour(grid[..., 0], grid[..., 1], p1, levels=[0.5], colors="k", linewidths=1.2)
      ax.scatter(x[:, 0], x[:, 1], c=y, cmap="RdBu_r", s=8, edgecolors="k", linewidths=0.2)
      ax.set_title(f"{problem}, {name}: test accuracy {run['test_accuracy']:.3f}")
      ax.set_xticks([])
      ax.set_yticks([])
  plots.save(fig, path)


def plot_accuracy(rows: list[dict], path: str) -> None:
  fig, ax = plt.subplots(figsize=(7, 4))
  width = 0.8 / len(CLASSIFIERS)
  for i, name in enumerate(CLASSIFIERS):
    values = [next(r["test_accuracy"] for r in rows if r["problem"] == p and r["classifier"] == name)
              for p in PROBLEMS]
    ax.bar(np.arange(len(PROBLEMS)) + (i - 1) * width, values, width, label=name)
  ax.set_xticks(range(len(PROBLEMS)), list(PROBLEMS))
  ax.set_ylim(0, 1.02)
  ax.set_ylabel("test accuracy")
  ax.grid(alpha=0.3, axis="y")
  ax.legend(loc="lower right")
  plots.save(fig, path)


def main(argv):
  del argv
  steps = FLAGS.steps if FLAGS.steps is not None else (30 if FLAGS.quick else 2000)

  def check():
    if steps < 1:
      raise UserError(f"--steps must be >= 1, got {steps}")
    return {problem: load() for problem, (load, _) in PROBLEMS.items()}

  loaded = scaffold.run_user_code(check)
  fitted, rows = {}, []
  for problem, (x, y, x_test, y_test) in loaded.items():
    num_classes = int(y.max()) + 1
    for name, fields in CLASSIFIERS.items():
      kwargs = fields(PROBLEMS[problem][1])
      model = models.create(kwargs.pop("name"), num_classes=num_classes, **kwargs)
      params = fit(model, x, y, steps)
      run = {"model": model, "params": params, "x_test": x_test, "y_test": y_test,
             "test_accuracy": accuracy(model, params, x_test, y_test)}
      fitted[(problem, name)] = run
      rows.append({"problem": problem, "classifier": name, "features": x.shape[1],
                   "parameters": sum(int(np.prod(p.shape)) for p in jax.tree.leaves(params)),
                   "train_accuracy": accuracy(model, params, x, y), "test_accuracy": run["test_accuracy"]})
      print(f"{problem:8s} {name:10s} test accuracy {run['test_accuracy']:.3f}", flush=True)

  plot_boundaries(fitted, scaffold.output("boundaries.png"))
  plot_accuracy(rows, scaffold.output("accuracy.png"))
  test = {(r["problem"], r["classifier"]): r["test_accuracy"] for r in rows}
  claims = {
      "an MLP separates two moons where the linear classifier cannot (test accuracy ≥ 0.95 vs ≤ 0.90)":
          test[("moons", "mlp")] >= 0.95 and test[("moons", "linear")] <= 0.90,
      "the linear classifier is at chance on circles (test accuracy ≤ 0.6) and the MLP is not (≥ 0.95)":
          test[("circles", "linear")] <= 0.6 and test[("circles", "mlp")] >= 0.95,
      "polynomial features make both problems linear again (test accuracy ≥ 0.95 on moons and on circles)":
          test[("moons", "polynomial")] >= 0.95 and test[("circles", "polynomial")] >= 0.95,
      "on digits the MLP is more accurate than the linear classifier":
          test[("digits", "mlp")] > test[("digits", "linear")],
  }
  notes = (f"Each classifier: {steps} full-batch Adam steps (lr {LEARNING_RATE}) on the softmax cross-entropy, "
           f"no regularization. moons and circles: {POINTS} training and {POINTS} test points (scikit-learn, "
           f"seeds {FLAGS.seed} and {FLAGS.seed + 1}), standardized with the training mean and deviation; "
           "digits: the 8×8 images, pixels in [0, 1]. polynomial: every monomial of the inputs up to degree 3 "
           "(digits: 2, i.e. the pixels and all their pairwise products) then logistic regression; mlp: two "
           "ReLU layers of 64. Nothing is regularized: a train accuracy above the test accuracy is overfitting "
           "(boundaries.png shows it as islands and wiggles).")
  scaffold.finish("Linear, polynomial and MLP classifiers on non-linear problems",
                  {"steps": steps, "learning_rate": LEARNING_RATE, "points": POINTS}, {"accuracy": rows}, notes, claims)


if __name__ == "__main__":
  scaffold.run(main)
