"""Training: the one loop that owns the run contract, the trainers that plug into it, their
compiled steps and the data-parallel strategies."""
