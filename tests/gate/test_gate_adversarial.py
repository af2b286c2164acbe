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
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gate.cli import main
from gate.read.run import METRICS_KEYS, STATS_KEYS

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
        fraction = draw(st.floats(0.0, 0.98))
        text = {"stats.json": json.dumps(STATS), "metrics.json": json.dumps(METRICS),
                "locust_failures.csv": FAILURES}[name]
        assume(int(len(text) * fraction) < len(text.rstrip()))  # cutting a final newline is no damage
        return kind, stats, metrics, failures, (name, fraction)
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
    assume((stats, metrics, failures) != (STATS, METRICS, FAILURES))
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


BASELINE_DOCUMENT = json.loads(BASELINE.read_text())
RUN_PATHS = [("source",), ("started_at",), ("duration_s",), ("counters",), ("endpoints",),
             ("counters", "ws_connections")]
ENDPOINT_PATHS = [("num_requests",), ("num_failures",), ("num_none_requests",), ("response_times",), ("errors",)]


@st.composite
def baseline_mutations(draw):
    """One adversarial change to the baseline document: (description, document or truncated text)."""
    document = json.loads(json.dumps(BASELINE_DOCUMENT))
    kind = draw(st.sampled_from(["truncate", "top", "fingerprint", "run_field", "endpoint_field", "histogram",
                                 "drop"]))
    run = document["runs"][draw(st.integers(0, len(document["runs"]) - 1))]
    endpoint = run["endpoints"][draw(st.sampled_from(sorted(run["endpoints"])))]
    if kind == "truncate":
        text = json.dumps(document)
        return kind, text[: int(len(text) * draw(st.floats(0.0, 0.98)))]
    if kind == "top":
        document[draw(st.sampled_from(["schema", "profile", "fingerprint", "provenance", "runs"]))] = draw(ADVERSARIAL)
    elif kind == "fingerprint":
        document["fingerprint"][draw(st.sampled_from(sorted(document["fingerprint"])))] = draw(ADVERSARIAL)
    elif kind == "run_field":
        path = draw(st.sampled_from(RUN_PATHS))
        value = draw(ADVERSARIAL)
        if path == ("source",) and isinstance(value, str) and value:
            value = None  # any text is a valid label for where a run came from: not malformed
        (run[path[0]] if len(path) > 1 else run)[path[-1]] = value
    elif kind == "endpoint_field":
        endpoint[draw(st.sampled_from(ENDPOINT_PATHS))[0]] = draw(ADVERSARIAL)
    elif kind == "histogram":
        first = next(iter(endpoint["response_times"]))
        endpoint["response_times"][first] = draw(st.sampled_from([-1, 0, 10**13, 1.5, None]))
    else:
        target = draw(st.sampled_from(["document", "run", "endpoint"]))
        holder = {"document": document, "run": run, "endpoint": endpoint}[target]
        del holder[draw(st.sampled_from(sorted(holder)))]
    text = json.dumps(document)
    assume(text != json.dumps(BASELINE_DOCUMENT))  # e.g. errors: {} where there were none is no mutation
    return kind, text


@settings(max_examples=int(os.environ.get("GATE_PROPERTY_EXAMPLES", "150")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(baseline_mutations())
def test_a_malformed_baseline_never_passes_and_never_raises(mutation):
    kind, text = mutation
    with tempfile.TemporaryDirectory() as scratch:
        baseline = Path(scratch) / "smoke.json"
        baseline.write_text(text)
        captured = io.StringIO()
        with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
            code = main(["check", "--run", str(PASSING), "--profile", "smoke", "--baseline", str(baseline),
                         "--policy", str(POLICY), "--out", str(Path(scratch) / "out")])
    output = captured.getvalue()
    assert code in (1, 2), f"{kind}: exit {code}\n{output}"
    assert "Traceback" not in output and "failed unexpectedly" not in output, output


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
