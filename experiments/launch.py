"""What every launcher shares: the --config flag and turning bad input into one line and exit 2."""

import sys

from absl import app, flags, logging
from ml_collections import config_flags

from trends_jax.errors import UserError


def define_config_flag() -> None:
  config_flags.DEFINE_config_file(
      "config", None, "Config file, e.g. configs/default.py[:arg]; override fields with --config.a.b=v.",
      lock_config=True)


def fail(message: str) -> None:
  print(f"error: {message}", file=sys.stderr, flush=True)
  sys.exit(2)


def run_user_code(fn):
  """Runs fn(); a UserError becomes one line on stderr and exit code 2."""
  try:
    return fn()
  except UserError as e:
    fail(str(e))


def _parse_flags(argv: list[str]) -> list[str]:
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    fail(f"{e}".splitlines()[0])
  except (AttributeError, KeyError, TypeError, ValueError) as e:
    # ml_collections reports a typo in --config.x.y or a wrong type as a raw exception.
    fail(f"bad --config override: {type(e).__name__}: {e}; check the field name and type in the config file")


def run(main) -> None:
  """absl's app.run, with flag and config errors (unknown field, wrong type) as one line."""

  def quiet_main(argv):
    # Library INFO logs (orbax, TFDS) drown the progress line; --verbosity=0 brings them back.
    if not flags.FLAGS["verbosity"].present:
      logging.set_verbosity(logging.WARNING)
    # TFDS warns on every run that PIL, not OpenCV, decodes images; both are correct.
    logging.get_absl_logger().addFilter(lambda record: "OpenCV is not installed" not in record.getMessage())
    main(argv)

  app.run(quiet_main, flags_parser=_parse_flags)
