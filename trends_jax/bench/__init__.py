"""Measuring speed: timings that wait for the devices, XLA costs, peak rates of known chips."""
