"""summary.md from one verdict.json: headline, endpoint table, findings, failures by error type,
custom metrics, a Mermaid chart and collapsible details. Fits a GitHub comment (65,536 characters)
by collapsing detail level by level, never by cutting a table in the middle.

Every string of the verdict is untrusted (endpoint names and error bodies come from the target, and
the fork-comment workflow renders a verdict.json a fork's run wrote): each one enters the markdown
through gate.report.markdown (`text`, `code`, `mermaid_label`, `comment_token`), never as it is.
"""

from __future__ import annotations

import pandas as pd
from tabulate import tabulate

from gate import COMMENT_MARKER
from gate.read.policy import figure
from gate.report import markdown

COMMENT_LIMIT = 65_536
ICONS = {"pass": "✅", "fail": "❌", "unjudgeable": "⛔", "warn": "⚠️"}
STATUS_ICONS = {"pass": "✅ pass", "fail": "❌ fail", "warn": "⚠️ warn", "unjudgeable": "⛔ not judged"}
CHART_ENDPOINTS = 30
FAILURE_ROWS_WHEN_SHORT = 20


def render_summary(verdict: dict, limit: int = COMMENT_LIMIT) -> str:
    """The summary at the most detailed level that fits within `limit` characters."""
    for level in range(5):
        text = _render(verdict, level)
        if len(text) <= limit:
            return text
    return _render_minimal(verdict)


def _render(verdict: dict, level: int) -> str:
    """level 0: everything; 1: no per-metric details; 2: only endpoints that are not a plain pass;
    3: the 20 most frequent error types; 4: no chart."""
    parts = [_headline(verdict)]
    if verdict.get("endpoints"):
        parts.append(_endpoint_section(verdict, only_notable=level >= 2))
    parts.append(_findings_section(verdict))
    parts.append(_failures_section(verdict, top=FAILURE_ROWS_WHEN_SHORT if level >= 3 else None))
    parts.append(_counters_section(verdict))
    if level < 4:
        parts.append(_chart_section(verdict))
    if level < 1:
        parts.append(_metric_details(verdict))
    elif verdict.get("endpoints"):
        parts.append("_Per-metric details are omitted to fit a comment; they are in verdict.json._")
    parts.append(_method_section(verdict))
    return "\n\n".join(part for part in parts if part) + "\n"


def _render_minimal(verdict: dict) -> str:
    return _headline(verdict) + "\n\n_The full report does not fit a comment; see verdict.json._\n"


def _headline(verdict: dict) -> str:
    outcome = verdict.get("verdict", "unjudgeable")
    lines = [
        COMMENT_MARKER.format(profile=markdown.comment_token(verdict.get("profile", ""))),
        (f"## {ICONS.get(outcome, '')} Performance gate · {markdown.text(verdict.get('profile', '?'))}: "
         f"{markdown.text(verdict.get('headline', ''))}"),
        "",
        f"> {markdown.text(verdict.get('reason', ''))}",
    ]
    if verdict.get("borderline"):
        lines += ["", "**Borderline**: the regression is weakly significant; a confirmation rerun decides."]
    run, baseline = verdict.get("run"), verdict.get("baseline") or {}
    facts = []
    if run:
        facts.append(f"run {markdown.code(run['path'])}: {markdown.text(run['total_requests'])} requests, "
                     f"{markdown.text(run['total_failures'])} failures in {run['duration_s']:.0f} s")
        if isinstance(run.get("generator_cpu_pct"), int | float):
            facts.append(f"load generator at {run['generator_cpu_pct']:.0f}% of a core")
        if isinstance(run.get("cpu_steal_pct"), int | float) and run["cpu_steal_pct"] >= STEAL_SHOWN_PCT:
            facts.append(f"other VMs took {run['cpu_steal_pct']:.0f}% of this machine's CPU time"
                         + (" (the most in any round)" if verdict.get("comparison") == "paired" else ""))
    if verdict.get("comparison") == "paired" and baseline.get("runs"):
        facts.append(f"paired with {markdown.text(baseline['runs'])} base rounds on the same machine "
                     f"({markdown.text(baseline.get('provenance', {}).get('command', ''))})")
    elif baseline.get("runs"):
        provenance = baseline.get("provenance", {})
        facts.append(f"baseline: {markdown.text(baseline['runs'])} runs recorded "
                     f"{markdown.text(provenance.get('recorded_at', '?'))} "
                     f"at {markdown.code(str(provenance.get('commit', '?'))[:12])}")
    shifts = verdict.get("run_shift_pct") or {}
    if verdict.get("comparison") == "paired" and verdict.get("run_wide"):
        facts.append(f"every endpoint shared a change of {shifts.get('tmean', 0.0):+.0f}% head against base at the "
                     f"centre, {shifts.get('p95', 0.0):+.0f}% at p95 (the Aggregated row): each endpoint is judged "
                     "net of it")
    elif shifts.get("tmean") is not None and shifts.get("p95") is not None:
        facts.append(f"run-wide shift {shifts['tmean']:+.0f}%, at p95 {shifts['p95']:+.0f}% (comparisons are net of it)")
    elif shifts.get("p95") is not None:
        facts.append(f"run-wide p95 shift {shifts['p95']:+.0f}% (comparisons are net of it)")
    if facts:
        lines += ["", " · ".join(facts)]
    problems = verdict.get("problems") or []
    if len(problems) > 1:
        lines += ["", "Why it cannot be judged:", *[f"- {markdown.text(problem)}" for problem in problems]]
    if replaced := verdict.get("replaced"):
        plural = "s" if len(replaced) > 1 else ""
        lines += ["", (f"Run again ({len(replaced)} block{plural} of rounds; the rounds replaced are kept in "
                       "`rounds/replaced/`, and the verdict is reached without them):"),
                  *[f"- {markdown.text(note)}" for note in replaced]]
    return "\n".join(lines)


# CPU steal below this (percent) is not worth a reader's attention; above it, a shared runner's neighbours
# were busy, and rounds or runs swing with them.
STEAL_SHOWN_PCT = 2

# Beyond a tenfold slowdown the figure only says "this run cannot resolve it": print that instead.
DETECTABLE_CAP_PCT = 1000


def _detectable(pct: float | None) -> str:
    if not pct:
        return "–"
    return f"> +{DETECTABLE_CAP_PCT}%" if pct > DETECTABLE_CAP_PCT else f"+{pct:.0f}%"


def _number(value, unit: str) -> str:
    """A value in a table whose column names the unit."""
    return figure(value, unit, in_table=True)


def _pair(metric: dict | None) -> str:
    if not metric:
        return "–"
    if metric.get("baseline") is None:
        return _number(metric.get("value"), metric["unit"])
    return f"{_number(metric['baseline'], metric['unit'])} → {_number(metric.get('value'), metric['unit'])}"


def _significance(metric: dict | None) -> str:
    if not metric or metric.get("p_adjusted") is None:
        return "–"
    mark = " ✱" if metric["outcome"] in ("regression", "breach+regression") else ""
    return f"p={metric['p_adjusted']:.2g}{mark}"


def _change(metric: dict | None) -> str:
    if not metric or metric.get("change_pct") is None:
        return "–"
    text = f"{metric['change_pct']:+.0f}%"
    net = metric.get("net_change_pct")
    if net is not None and abs(net - metric["change_pct"]) >= 1:
        text += f" (net {net:+.0f}%)"
    return text


STATES = {"same": "SAME", "different": "DIFFERENT", "unresolved": "UNRESOLVED"}


def _state(metric: dict | None) -> str:
    """The distribution test's outcome: SAME, DIFFERENT (✱ when it fails or warns as a regression) or
    UNRESOLVED."""
    if not metric or metric.get("state") not in STATES:
        return "–"
    mark = " ✱" if metric["outcome"] in ("regression", "breach+regression") else ""
    return STATES[metric["state"]] + mark


def _shift(metric: dict | None) -> str:
    """The distribution test's change at the quantile it speaks of, with its interval."""
    if not metric or metric.get("net_change_pct") is None:
        return "–"
    text = f"{metric['net_change_pct']:+.0f}%"
    interval = metric.get("interval_pct")
    if interval and len(interval) == 2:
        text += f" [{interval[0]:+.0f}%, {interval[1]:+.0f}%]"
    return f"{text} {markdown.text(metric.get('quantile') or '')}".strip()


def _endpoint_section(verdict: dict, only_notable: bool) -> str:
    rows, unresolved = [], []
    hidden = 0
    paired = verdict.get("comparison") == "paired"
    against, reference = ("vs base", "base") if paired else ("vs baseline", "baseline")
    for endpoint in verdict["endpoints"]:
        metrics = endpoint.get("metrics", {})
        p95 = metrics.get("p95")
        shape = metrics.get("distribution")
        if paired and endpoint["endpoint"] == "Aggregated" and verdict.get("run_wide"):
            shape = verdict["run_wide"]  # the change every endpoint shared, judged as one
        if only_notable and endpoint["status"] == "pass":
            hidden += 1
            continue
        if (shape or {}).get("state") == "unresolved":
            unresolved.append((endpoint["endpoint"], shape.get("reason")))
        rows.append({
            "endpoint": (markdown.code(endpoint["endpoint"], table=True)
                         + (" (quarantined)" if endpoint["quarantined"] else "")),
            "requests": endpoint["num_requests"],
            "p50 ms": _pair(metrics.get("p50")),
            "p95 ms": _pair(p95),
            "p99 ms": _pair(metrics.get("p99")),
            against: _state(shape),
            "change [interval]": _shift(shape),
            "detectable": _detectable((shape or p95 or {}).get("detectable_pct")),
            "p95 limit": _number(p95.get("limit"), "ms") if p95 else "–",
            "failures": _number(metrics["failure_ratio"]["value"], "ratio") if "failure_ratio" in metrics else "–",
            "verdict": STATUS_ICONS.get(endpoint["status"], markdown.text(endpoint["status"])),
        })
    text = ("### Endpoints (base rounds → head rounds)\n\n" if paired else "### Endpoints (baseline → this run)\n\n")
    text += tabulate(pd.DataFrame(rows), headers="keys", tablefmt="github", showindex=False) if rows else \
        "_Every endpoint passes._"
    if hidden:
        text += f"\n\n_{hidden} endpoints that pass are not listed to fit a comment; see verdict.json._"
    text += (f"\n\n_{against}_: the whole response-time distribution (trimmed mean, p90, p95) against the "
             + ("base's, block by block (one base and one head round each). " if paired else "baseline's. ")
             + "**SAME**: a regression of the policy's size is excluded; **DIFFERENT**: it moved beyond "
             "the policy's bar, significantly (✱ a regression); **UNRESOLVED**: neither, see below. _change_: at "
             + ("the quantile shown, head against base, with its interval, net of the change every endpoint "
                "shared in the same rounds (the Aggregated row: that change, judged once). " if paired else
                "the quantile shown, net of the run-wide shift, with its interval. ")
             + "_detectable_: the smallest slowdown this run could have flagged, given the policy's percentage "
             "and floor and the measured noise.")
    blind = [e["endpoint"] for e in verdict["endpoints"] if verdict.get("comparison") in ("baseline", "paired")
             and e["endpoint"] != "Aggregated" and e["status"] != "unjudgeable" and e.get("metrics")
             and "distribution" not in e["metrics"]]
    if blind:
        tested = sorted({metric["metric"] for e in verdict["endpoints"] if e["endpoint"] in blind
                         for metric in e["metrics"].values() if metric.get("p_value") is not None})
        text += (f"\n\n**Not compared with the {reference}** (the policy's `relative: off`, or not in the "
                 f"{reference}): " + ", ".join(markdown.code(name) for name in blind) + ". "
                 + (f"Their distribution is not tested: their absolute limits apply, and their {', '.join(tested)} "
                    "tests (see All metrics per endpoint)." if tested
                    else "Only their absolute limits apply."))
    if unresolved:
        text += "\n\n**UNRESOLVED**:\n" + "\n".join(
            f"- {markdown.code(name)}: {markdown.text(reason or 'no reason recorded')}" for name, reason in unresolved)
    short = verdict.get("short_of_goal") or []
    if short:
        goal = verdict.get("policy", {}).get("detectable_goal_pct", 0)
        more = ("more rounds would (a paired run adds them up to the profile's `paired-max-rounds`; "
                "`--max-rounds` raises it)" if paired else "a baseline of more runs, or a longer run, would")
        text += (f"\n\n**Could not have seen +{goal:g}%** (the policy's `detectable_goal_pct`): "
                 + ", ".join(f"{markdown.code(entry['endpoint'])} {_detectable(entry['detectable_pct'])}"
                             for entry in short)
                 + f". A pass says nothing of a smaller regression there; {more} narrow it.")
    assumed = [e["endpoint"] for e in verdict["endpoints"]
               if any(m.get("unit") == "ms" and m.get("spread_measured") is False
                      for m in e.get("metrics", {}).values())]
    if assumed:
        text += ("\n\n⚠️ The baseline has a single run: run-to-run spread is assumed, not measured. "
                 "Record 3 runs (`make baseline PROFILE=...`).")
    return text


def _findings_section(verdict: dict) -> str:
    # a warning that an endpoint is UNRESOLVED is explained under the endpoints' table, one line each
    findings = [f for f in verdict.get("findings") or [] if not (f.get("kind") == "unresolved"
                                                                and f["severity"] == "warn")]
    if not findings:
        return ""
    order = {"unjudgeable": 0, "fail": 1, "warn": 2}
    lines = ["### Findings", ""]
    for finding in sorted(findings, key=lambda f: order.get(f["severity"], 3)):
        lines.append(f"- {ICONS.get(finding['severity'], '')} {markdown.text(finding['message'])}")
    return "\n".join(lines)


def _failures_section(verdict: dict, top: int | None) -> str:
    rows = [
        {"endpoint": markdown.code(endpoint["endpoint"], table=True), "error": markdown.text(error["error"]),
         "occurrences": error["occurrences"], "new": "🆕 new" if error["new"] else ""}
        for endpoint in verdict.get("endpoints", []) if endpoint["endpoint"] != "Aggregated"
        for error in endpoint.get("errors", [])
    ]
    if not rows:
        return ""
    table = pd.DataFrame(rows).sort_values("occurrences", ascending=False, kind="stable")
    note = ""
    if top is not None and len(table) > top:
        note = f"\n\n_{len(table) - top} less frequent error types are in verdict.json._"
        table = table.head(top)
    return ("### Failures by error type\n\n"
            + tabulate(table, headers="keys", tablefmt="github", showindex=False) + note)


def _counters_section(verdict: dict) -> str:
    run = verdict.get("run") or {}
    counters = run.get("counters") or {}
    if not counters:
        return ""
    baseline = (verdict.get("baseline") or {}).get("counters") or {}
    paired = verdict.get("comparison") == "paired"
    rows = [{"metric": markdown.text(name.replace("_", " ")),
             "base rounds" if paired else "baseline (mean)": f"{baseline[name]:g}" if name in baseline else "–",
             "head rounds" if paired else "this run": value} for name, value in counters.items()]
    return "### Custom metrics\n\n" + tabulate(pd.DataFrame(rows), headers="keys", tablefmt="github",
                                                showindex=False)


def _chart_section(verdict: dict) -> str:
    paired = verdict.get("comparison") == "paired"
    bars, against = ("head rounds", "base rounds") if paired else ("this run", "baseline")
    points = [
        (endpoint["endpoint"], endpoint["metrics"]["p95"])
        for endpoint in verdict.get("endpoints", [])
        if endpoint["endpoint"] != "Aggregated" and endpoint.get("metrics", {}).get("p95", {}).get("value") is not None
    ][:CHART_ENDPOINTS]
    if not points:
        return ""
    values = [p95["value"] for _, p95 in points]
    baselines = [p95["baseline"] if p95.get("baseline") is not None else p95["value"] for _, p95 in points]
    top = max(max(values), max(baselines)) * 1.25 or 1.0
    limits = [min(p95["limit"], top) if p95.get("limit") is not None else top for _, p95 in points]
    labels = ", ".join(f'"{markdown.mermaid_label(name)}"' for name, _ in points)
    return "\n".join([
        f"### p95 against {against} and limit",
        "",
        "```mermaid",
        "xychart-beta",
        f'    title "p95 per endpoint (ms): bars {bars}, line 1 {against}, line 2 limit"',
        f"    x-axis [{labels}]",
        f'    y-axis "ms" 0 --> {top:.0f}',
        f"    bar [{', '.join(f'{v:.0f}' for v in values)}]",
        f"    line [{', '.join(f'{v:.0f}' for v in baselines)}]",
        f"    line [{', '.join(f'{v:.0f}' for v in limits)}]",
        "```",
        "",
        "_A limit above the axis (or none) is drawn at the top of the chart._",
    ])


def _metric_details(verdict: dict) -> str:
    rows = []
    # paired: each side's figure is its rounds merged; what is tested (net) is the change round by round
    paired = verdict.get("comparison") == "paired"
    runs, baseline, this = ("base rounds", "base", "head") if paired else ("baseline runs", "baseline", "this run")
    for endpoint in verdict.get("endpoints", []):
        for metric in endpoint.get("metrics", {}).values():
            rows.append({
                "endpoint": markdown.code(endpoint["endpoint"], table=True),
                "metric": markdown.text(metric["metric"]),
                runs: ", ".join(_number(v, metric["unit"]) for v in metric.get("baseline_runs", [])),
                baseline: _number(metric.get("baseline"), metric["unit"]),
                this: _number(metric.get("value"), metric["unit"]),
                "change": _change(metric),
                "bar": f"{metric['threshold_pct']:.0f}%" if metric.get("threshold_pct") is not None else "–",
                "p": f"{metric['p_value']:.2g}" if metric.get("p_value") is not None else "–",
                "p adj.": f"{metric['p_adjusted']:.2g}" if metric.get("p_adjusted") is not None else "–",
                "detectable": _detectable(metric.get("detectable_pct")),
                "limit": _number(metric.get("limit"), metric["unit"]),
                "severity": markdown.text(metric["severity"]),
                "outcome": markdown.text(metric["outcome"]),
            })
    if not rows:
        return ""
    note = ("\n\n_base_, _head_: each side's rounds merged (the distribution row: its statistic's geometric mean "
            "over the rounds, as tested); _net_: the change tested, round by round, net of what every endpoint "
            "shared in the same rounds." if paired else "")
    return ("<details><summary>All metrics per endpoint</summary>\n\n"
            + tabulate(pd.DataFrame(rows), headers="keys", tablefmt="github", showindex=False)
            + note + "\n\n</details>")


def _method_section(verdict: dict) -> str:
    policy = verdict.get("policy") or {}
    run = verdict.get("run") or {}
    if "false_alarm_rate" not in policy:
        return ""
    fingerprint = markdown.text(", ".join(f"{k}={v}" for k, v in (run.get("fingerprint") or {}).items()))
    tests = verdict.get("tests") or {}
    return "\n".join([
        "<details><summary>How this verdict was reached</summary>",
        "",
        (f"- Policy {markdown.code(policy['path'])}; false-alarm rate {policy['false_alarm_rate']:g} per run "
         f"across {markdown.text(tests.get('fail', 0))} failing and {markdown.text(tests.get('warn', 0))} "
         f"warning comparisons ({markdown.text(policy['correction'])} correction)."),
        ("- Each endpoint's response-time distribution (trimmed mean, p90, p95) is compared with the base's "
         "block by block: a block is one base and one head round adjacent in time (the order reversed every "
         "other block), its evidence the head's figure minus the base's, net of what every endpoint shared in "
         "that block; the spread of the blocks (the block, not the request, is the unit) gives the interval. "
         "A regression is flagged only when a quantile moved beyond the policy's percentage and floor **and** "
         "the move is significant; SAME when the interval excludes a regression of the policy's size, else "
         "UNRESOLVED. The shared change is judged once (the Aggregated row), each with half the false-alarm "
         "rate; the policy's p50, p99 and throughput tests are made block by block too."
         + ("" if "no A/A control" in str(((verdict.get("baseline") or {}).get("provenance") or {}).get("command"))
            else " An A/A control, the base's rounds against each other, came first.")
         if verdict.get("comparison") == "paired" else
         "- Each endpoint's response-time distribution (trimmed mean, p90, p95) is compared with the baseline's: "
         "a regression is flagged only when a quantile moved beyond the policy's percentage and floor **and** "
         "the move is significant given the within-run sampling spread (from the histograms) and the "
         "between-run spread (from the baseline's runs: the run, not the request, is the unit); SAME when the "
         "interval excludes a regression of the policy's size, else UNRESOLVED."),
        f"- Improvements of {policy['suspicious_improvement']:g}× or more are reported as suspicious.",
        f"- Run fingerprint: {fingerprint}",
        "",
        "</details>",
    ])
