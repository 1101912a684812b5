"""Running a script as an absl app whose bad input ends in one `error: …` line and exit code 2.

Flag-free: launchers (experiments/launch.py defines their flags) and the lecture experiments
(experiments/lecture/scaffold.py) share it, so a user sees the same kind of error from all of them.
"""

import sys
from collections.abc import Callable
from typing import NoReturn, TypeVar

from absl import app, flags, logging

from trends_jax.errors import UserError

T = TypeVar("T")


def fail(message: str) -> NoReturn:
  print(f"error: {message}", file=sys.stderr, flush=True)
  sys.exit(2)


def run_user_code(fn: Callable[..., T], *args, **kwargs) -> T:
  """Runs fn(*args, **kwargs); a UserError becomes one line on stderr and exit code 2."""
  try:
    return fn(*args, **kwargs)
  except UserError as e:
    fail(str(e))


def _parse_flags(argv: list[str]) -> list[str]:
  try:
    argv = flags.FLAGS(argv)
    if "config" in flags.FLAGS and flags.FLAGS["config"].present:
      flags.FLAGS.config.to_dict()  # The file loads lazily: load it now, so its errors show here.
    return argv
  except SyntaxError as e:
    fail(f"cannot load --config={e.filename}: SyntaxError: {e.msg} (line {e.lineno})")
  except OSError as e:
    reason = [line.strip() for line in str(e).splitlines() if line.strip()][-1]
    path = next((a.split("=", 1)[1] for a in argv if a.startswith("--config=")), "")
    fail(f"cannot load --config={path}: {reason}")
  except flags.Error as e:
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    # An exception raised inside get_config() arrives with its traceback: keep its last line.
    fail(f"{lines[0]} {lines[-1]}" if len(lines) > 1 else lines[0])
  except (AttributeError, KeyError) as e:
    # ml_collections reports a typo in --config.x.y as a bare AttributeError/KeyError of the key.
    key = str(e).strip("'\"")
    culprit = next((a.split("=")[0] for a in argv if a.startswith("--config.") and
                    a.split("=")[0].split(".")[-1] == key), f"--config...{key}")
    fail(f"{culprit}: the config has no field {key!r}; check the spelling against the config file "
         "(the fields of a run are listed in its workdir's config.json)")
  except (TypeError, ValueError) as e:
    fail(f"bad --config: {type(e).__name__}: {e}")


def run(main: Callable[[list[str]], None]) -> None:
  """absl's app.run, with flag and config errors (unknown field, wrong type) as one line."""

  def quiet_main(argv):
    # Library INFO logs (orbax, TFDS) drown the progress line; --verbosity=0 brings them back.
    if not flags.FLAGS["verbosity"].present:
      logging.set_verbosity(logging.WARNING)
    main(argv)

  app.run(quiet_main, flags_parser=_parse_flags)
