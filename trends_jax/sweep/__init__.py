"""Hyperparameter sweeps: the pieces config files call (`hyper`), one trial's id, checks, process
and files (`trial`), the local and Ray backends (`local`, `ray_backend`), the table (`results`)."""
