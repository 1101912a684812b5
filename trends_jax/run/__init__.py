"""Run infrastructure, the lowest layer: the workdir files, checkpoints, metric logs, signals,
multi-host start-up and the compilation cache. Nothing here knows about models or data."""
