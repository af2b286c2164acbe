"""Property: malformed and adversarial run folders never pass and never raise.

Starting from a run that passes, one mutation at a time - truncated files, NaN, negative counts,
empty histograms, huge values, a wrong profile, schema drift, dropped keys, random JSON - and the
gate must answer with exit 1 or 2 and a short reason, never a traceback, never exit 0.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
from pathlib import Path

from conftest import BASELINE, FIXTURES, POLICY
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gate.cli import main
from gate.run import METRICS_KEYS, STATS_KEYS

PASSING = FIXTURES / "pass"
STATS = json.loads((PASSING / "stats.json").read_text())
METRICS = json.loads((PASSING / "metrics.json").read_text())
FAILURES = (PASSING / "locust_failures.csv").read_text()

ADVERSARIAL = st.sampled_from([
    float("nan"), float("inf"), float("-inf"), -1, -1e9, 10**30, 1e300, None, "", "x", [], {}, True, False,
    0.5, "NaN", "1e400",
])
METRIC_PATHS = [(key,) for key in METRICS_KEYS] + [
    ("target", "host"), ("target", "stack_mode"), ("target", "chat_transport"), ("settings", "users"),
    ("settings", "spawn_rate"), ("settings", "run_time_s"), ("settings", "scale"), ("machine", "cpu_count"),
    ("machine", "platform"), ("counters", "rate_limit_hits"),
]
JSON = st.recursive(st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                                                  max_size=4), max_leaves=12)


@st.composite
def mutations(draw):
    """One adversarial change to the passing run: (description, stats, metrics, failures CSV text)."""
    stats, metrics, failures = json.loads(json.dumps(STATS)), json.loads(json.dumps(METRICS)), FAILURES
    kind = draw(st.sampled_from(["truncate", "stats_field", "metrics_field", "drop_stats_key",
                                 "drop_metrics_key", "histogram", "profile", "schema", "random_stats",
                                 "failures_csv"]))
    index = draw(st.integers(0, len(stats) - 1))
    entry = stats[index]
    if kind == "truncate":
        name = draw(st.sampled_from(["stats.json", "metrics.json", "locust_failures.csv"]))
        return kind, stats, metrics, failures, (name, draw(st.floats(0.0, 0.98)))
    if kind == "stats_field":
        entry[draw(st.sampled_from(STATS_KEYS))] = draw(ADVERSARIAL)
    elif kind == "metrics_field":
        path = draw(st.sampled_from(METRIC_PATHS))
        target = metrics
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = draw(ADVERSARIAL)
    elif kind == "drop_stats_key":
        del entry[draw(st.sampled_from(STATS_KEYS))]
    elif kind == "drop_metrics_key":
        del metrics[draw(st.sampled_from(METRICS_KEYS))]
    elif kind == "histogram":
        attack = draw(st.sampled_from(["empty", "negative", "nan_key", "huge_key", "word_key", "inflate", "zero"]))
        histogram = entry["response_times"]
        first = next(iter(histogram))
        if attack == "empty":
            entry["response_times"] = {}
        elif attack == "negative":
            histogram[first] = -histogram[first]
        elif attack == "nan_key":
            histogram["NaN"] = 1
        elif attack == "huge_key":
            histogram["1e300"] = histogram.pop(first)
        elif attack == "word_key":
            histogram["fast"] = histogram.pop(first)
        elif attack == "inflate":
            histogram[first] += draw(st.integers(1, 10**15))
        else:
            histogram[first] = 0
    elif kind == "profile":
        metrics["profile"] = draw(st.text(min_size=1, max_size=10).filter(lambda text: text != "smoke"))
    elif kind == "schema":
        metrics["schema"] = draw(st.one_of(st.integers().filter(lambda n: n != 1), st.just(True),
                                           st.just("1"), st.just(1.5)))
    elif kind == "random_stats":
        stats = draw(JSON)
    else:
        failures = draw(st.sampled_from(["", "Method,Name\n", "Method,Name,Error,Occurrences\nGET,/health,boom,-3\n",
                                         "Method,Name,Error,Occurrences\nGET,/health,boom,x\n",
                                         "Method,Name,Error,Occurrences\nGET,/nowhere,boom,1\n",
                                         "Method,Name,Error,Occurrences\nGET,/health,boom,1\n"]))
    return kind, stats, metrics, failures, None


def _write(folder: Path, stats, metrics, failures: str, truncation) -> None:
    shutil.copytree(PASSING, folder)
    texts = {
        "stats.json": json.dumps(stats),  # allow_nan: NaN and Infinity literals reach the gate
        "metrics.json": json.dumps(metrics),
        "locust_failures.csv": failures,
    }
    if truncation:
        name, fraction = truncation
        texts[name] = texts[name][: int(len(texts[name]) * fraction)]
    for name, text in texts.items():
        (folder / name).write_text(text)


def _gate(folder: Path, out: Path) -> tuple[int, str]:
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
        try:
            code = main(["check", "--run", str(folder), "--profile", "smoke", "--baseline", str(BASELINE),
                         "--policy", str(POLICY), "--out", str(out)])
        except SystemExit as exit_:  # argparse only; never expected here
            code = exit_.code
    return code, captured.getvalue()


def test_the_unmutated_run_passes():
    """Without this, the property below could hold for a gate that never passes anything."""
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "run"
        _write(folder, STATS, METRICS, FAILURES, None)
        code, output = _gate(folder, Path(scratch) / "out")
    assert code == 0, output


@settings(max_examples=int(os.environ.get("GATE_PROPERTY_EXAMPLES", "150")), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations())
def test_malformed_runs_never_pass_and_never_raise(mutation):
    kind, stats, metrics, failures, truncation = mutation
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "run"
        _write(folder, stats, metrics, failures, truncation)
        code, output = _gate(folder, Path(scratch) / "out")
        verdict = json.loads((Path(scratch) / "out" / "verdict.json").read_text())
    assert code in (1, 2), f"{kind}: exit {code}\n{output}"
    assert "Traceback" not in output
    assert len(output.strip().splitlines()) == 2, output
    assert verdict["exit_code"] == code and verdict["verdict"] != "pass"
    if code == 2:
        assert "failed unexpectedly" not in output, f"{kind}: an unexpected error, not a reason:\n{output}"
