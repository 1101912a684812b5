"""The flags every launcher shares. Running them (bad input → one `error:` line, exit 2) is
`trends_jax.run.cli`, re-exported here so that a launcher needs one import."""

from ml_collections import config_flags

from trends_jax.run.cli import fail, run, run_user_code  # noqa: F401


def define_config_flag() -> None:
  config_flags.DEFINE_config_file(
      "config", None, "Config file, e.g. configs/default.py[:arg]; override fields with --config.a.b=v.",
      lock_config=True)
