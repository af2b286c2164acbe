"""Judging: the statistics and noise model, the comparison with the baseline, and the verdict."""
