"""Hyperparameter sweeps: the pieces config files call (`hyper`), quasi-random search (`search`), one
trial's id, checks, process and files (`trial`), the local and Ray backends (`local`, `ray_backend`),
the tables per trial and per setting (`results`)."""
