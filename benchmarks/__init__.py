"""Benchmarks and calibration: scripts that print figures (never timed tests), and the synthetic
runs they and the tests are built from. Development tools: the shipped gate does not import them."""
