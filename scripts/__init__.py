"""Entry points of the bundle: run a profile end to end, record baselines."""
