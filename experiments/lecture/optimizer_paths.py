r"""The lecture's optimizer landscapes: every optimizer's path from the same start.

    python experiments/lecture/optimizer_paths.py --workdir=runs/optimizer_paths [--quick]

Landscapes: the ill-conditioned bowl f = 10x² + y²/10, the saddle f = x² − y², and Rosenbrock.
Each optimizer runs full-batch (so `sgd` is plain gradient descent) at each learning rate of a
grid; its best rate is the one after which it stays at the optimum soonest. On the saddle, where any
huge step escapes at once, each optimizer runs at its best rate for the bowl and the table counts
the steps until |y| > 1. Writes a contour plot per landscape, results.json and results.md, with the lecture's
claims checked against the numbers.
"""


import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import scaffold
from absl import flags

from trends_jax import optim
from trends_jax.run import plots

FLAGS = flags.FLAGS

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "adadelta", "rmsprop", "adam")
ADAPTIVE = ("adagrad", "adadelta", "rmsprop", "adam")

# name: (f, start, goal) — goal "converge" means f − min < tolerance; "escape" means |y| > 1.
LANDSCAPES = {
    "bowl": (lambda p: 10 * p[0] ** 2 + p[1] ** 2 / 10, (-1.0, 3.0), "converge", ((-1.5, 1.5), (-3.5, 3.5))),
    "saddle": (lambda p: p[0] ** 2 - p[1] ** 2, (-1.5, 1e-3), "escape", ((-2, 2), (-1.5, 1.5))),
    "rosenbrock": (lambda p: (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2, (-1.5, 2.0), "converge",
                   ((-2, 2), (-1, 3))),
}
TOLERANCE = 1e-4


def paths(f, start, name: str, learning_rates: np.ndarray, num_steps: int) -> np.ndarray:
  """Positions [lr, step, 2] of optimizer `name` at each learning rate (vmapped, one compile)."""
  direction = optim.OPTIMIZERS.get(name)(learning_rate=1.0)  # lr multiplies the last scale.

  def run(lr):
    def step(carry, _):
      p, state = carry
      updates, state = direction.update(jax.grad(f)(p), state, p)
      p = p + lr * updates
      return (p, state), p

    p0 = jnp.asarray(start, jnp.float32)
    _, trajectory = jax.lax.scan(step, (p0, direction.init(p0)), None, length=num_steps)
    return jnp.concatenate([p0[None], trajectory])

  return np.asarray(jax.jit(jax.vmap(run))(jnp.asarray(learning_rates, jnp.float32)))


def values(f, trajectory: np.ndarray) -> np.ndarray:
  """f along a path; diverged points (inf/nan) give inf."""
  with np.errstate(all="ignore"):
    v = np.asarray(f(trajectory.T.astype(np.float64)))
  return np.where(np.isfinite(v), v, np.inf)


def steps_to_goal(f, trajectory: np.ndarray, goal: str) -> float:
  """First step from which the path stays at the goal (a lucky pass through it does not count)."""
  if goal == "converge":
    reached = values(f, trajectory) < TOLERANCE
  else:
    with np.errstate(invalid="ignore"):
      reached = np.abs(trajectory[:, 1]) > 1.0
  if not reached[-1]:
    return float("inf")
  return float(len(reached) - np.argmin(reached[::-1])) if not reached.all() else 0.0


def axis_rescale(f, trajectory: np.ndarray) -> float:
  """(|Δx| / |Δy|) / (|∂f/∂x| / |∂f/∂y|) on the first step: 1 is plain gradient, ≪1 rescaled axes."""
  g = np.asarray(jax.grad(f)(jnp.asarray(trajectory[0])))
  delta = np.abs(trajectory[1] - trajectory[0])
  return float((delta[0] / delta[1]) / (abs(g[0]) / abs(g[1])))


def plot(name, f, box, best_paths, path):
  (x0, x1), (y0, y1) = box
  xs, ys = np.meshgrid(np.linspace(x0, x1, 300), np.linspace(y0, y1, 300))
  zs = np.asarray(jax.vmap(jax.vmap(lambda x, y: f(jnp.array([x, y]))))(xs, ys))
  fig, ax = plt.subplots(figsize=(7, 5.5))
  levels = np.linspace(zs.min(), zs.max(), 30) if name == "saddle" else np.geomspace(max(zs.min(), 1e-3), zs.max(), 30)
  ax.contour(xs, ys, zs, levels=levels, cmap="Greys", linewidths=0.6)
  for (optimizer, lr), trajectory in best_paths.items():
    t = trajectory[:200]
    ax.plot(t[:, 0], t[:, 1], "-", lw=1.3, label=f"{optimizer} (lr {lr:.3g})")
  ax.plot(*best_paths[next(iter(best_paths))][0], "ko")
  ax.set_xlim(x0, x1)
  ax.set_ylim(y0, y1)
  ax.set_title(f"{name}: first 200 steps at each optimizer's best learning rate")
  ax.legend(fontsize=8, loc="upper right")
  plots.save(fig, path)


def main(argv):
  del argv
  num_steps = 300 if FLAGS.quick else 3000
  learning_rates = np.geomspace(1e-3, 30.0, 9 if FLAGS.quick else 28)
  rows, bowl_best = [], {}
  for landscape, (f, start, goal, box) in LANDSCAPES.items():
    best_paths = {}
    for name in OPTIMIZERS:
      trajectories = paths(f, start, name, learning_rates, num_steps)
      steps = [steps_to_goal(f, t, goal) for t in trajectories]
      finals = [float(values(f, t[-1:])[0]) for t in trajectories]
      if goal == "escape":
        # Any optimizer escapes at once with a huge step; compare them at their bowl-tuned rates.
        best = bowl_best[name]
      else:
        best = min(range(len(learning_rates)), key=lambda i: (steps[i], finals[i]))
        bowl_best.setdefault(name, best)
      trajectory = trajectories[best]
      x_flips = int(np.sum(np.diff(np.sign(trajectory[:51, 0])) != 0))
      rows.append({"landscape": landscape, "optimizer": name, "best_lr": float(learning_rates[best]),
                   "steps_to_goal": steps[best], "final_f": finals[best], "x_sign_flips_first_50": x_flips,
                   "axis_rescale_first_step": axis_rescale(f, trajectory)})
      best_paths[(name, float(learning_rates[best]))] = trajectory
    plot(landscape, f, box, best_paths, scaffold.output(f"{landscape}.png"))

  bowl = {r["optimizer"]: r for r in rows if r["landscape"] == "bowl"}
  claims = {
      "gradient descent zigzags across the narrow axis (x changes sign ≥ 5 times in 50 steps)":
          bowl["sgd"]["x_sign_flips_first_50"] >= 5,
      "momentum needs fewer steps than gradient descent on the bowl":
          bowl["momentum"]["steps_to_goal"] < bowl["sgd"]["steps_to_goal"],
      "Nesterov needs fewer steps than gradient descent on the bowl":
          bowl["nesterov"]["steps_to_goal"] < bowl["sgd"]["steps_to_goal"],
      **{f"{name} rescales the axes (first-step axis ratio < 0.5 of the gradient's)":
         bowl[name]["axis_rescale_first_step"] < 0.5 for name in ADAPTIVE},
  }
  notes = ("Steps to goal: the step from which f − f* < 1e-4 holds to the end (saddle: |y| > 1), at each "
           f"optimizer's best learning rate from {len(learning_rates)} log-spaced rates in [1e-3, 30] (saddle: "
           f"its bowl rate), at most {num_steps} steps "
           "('—': never). x_sign_flips: zigzag across the bowl's narrow axis. axis_rescale: first-step "
           "(|Δx|/|Δy|)/(|∂x f|/|∂y f|), 1 for plain gradient steps.")
  scaffold.finish("Optimizer paths on the lecture's landscapes",
                  {"num_steps": num_steps, "learning_rates": learning_rates.tolist()},
                  {landscape: [r for r in rows if r["landscape"] == landscape] for landscape in LANDSCAPES},
                  notes, claims)


if __name__ == "__main__":
  scaffold.run(main)
