"""JAX's persistent compilation cache, so that a relaunched run loads its compiled steps from disk.

`enable(config.compilation_cache_dir)` before the first compilation. Every program is cached, the
small ones too (JAX by default keeps only those that took over a second to compile, which on a
CPU skips most of a small model's). The key is the program and the compiler, so a changed model,
shape, dtype or jax version simply misses. The directory is not pruned (JAX's size cap needs the
`filelock` package): delete it to reclaim the space.
"""

import collections
import os

import jax

DEFAULT_DIR = "~/.cache/trends_jax/jax"

# Counts of JAX's '/jax/compilation_cache/<name>' events in this process, once enable() ran.
_events: collections.Counter = collections.Counter()
_listening = False


def _count(event: str, **kwargs) -> None:
  del kwargs
  prefix = "/jax/compilation_cache/"
  if event.startswith(prefix):
    _events[event[len(prefix):]] += 1


def enable(directory: str) -> str | None:
  """Caches every compiled program under `directory` ('' or None: no cache); returns its path."""
  global _listening
  if not directory:
    return None
  path = os.path.abspath(os.path.expanduser(directory))
  os.makedirs(path, exist_ok=True)
  jax.config.update("jax_compilation_cache_dir", path)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
  if not _listening:
    jax.monitoring.register_event_listener(_count)
    _listening = True
  return path


def hits() -> int:
  """Programs loaded from the cache in this process."""
  return _events["cache_hits"]


def misses() -> int:
  """Programs compiled because the cache did not have them (and then written to it)."""
  return _events["cache_misses"]
