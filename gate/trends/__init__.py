"""What one comparison cannot answer: soak drift, spike recovery, stress capacity and the nightly
change points. `python -m gate.trends ...` (cli.py) reads a run folder's time series (series.py),
hands them to the pure analyses (drift, recovery, capacity, changepoints over history) and writes
trends.json, trends.md and charts.
"""
