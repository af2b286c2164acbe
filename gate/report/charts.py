"""Pictures of the trend analyses: Mermaid `xychart-beta` blocks for markdown (they render in job
summaries, issues and PR comments) and PNGs via matplotlib for the uploaded artefact.

Mermaid cannot annotate a point, so marks (a change point, the recovery, the knee) are drawn as a
bar series that is zero except where the mark is.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

MERMAID_POINTS = 60  # more points than this make the chart unreadable in a comment


def _number(value: float) -> str:
    return "0" if value is None or not np.isfinite(value) else f"{value:.4g}"


def mermaid_chart(title: str, x_label: str, x_values: list, y_label: str, lines: list[list[float]],
                  bars: list[list[float]] = ()) -> str:
    """A Mermaid xychart-beta block: categorical x axis, one or more lines, optional marker bars."""
    labels = ", ".join(f'"{value}"' if isinstance(value, str) else _number(value) for value in x_values)
    body = [f'    title "{title}"', f'    x-axis "{x_label}" [{labels}]', f'    y-axis "{y_label}"']
    body += [f"    bar [{', '.join(_number(v) for v in bar)}]" for bar in bars]
    body += [f"    line [{', '.join(_number(v) for v in line)}]" for line in lines]
    return "```mermaid\nxychart-beta\n" + "\n".join(body) + "\n```\n"


def _downsample(times: np.ndarray, values: np.ndarray, points: int = MERMAID_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most `points` bins over the span, each its median (not a sample: a spike stays visible as a bin)."""
    if len(times) <= points:
        return times, values
    edges = np.linspace(times[0], times[-1], points + 1)
    index = np.clip(np.searchsorted(edges, times, side="right") - 1, 0, points - 1)
    frame = pd.DataFrame({"bin": index, "time": times, "value": values}).groupby("bin").median()
    return frame["time"].to_numpy(), frame["value"].to_numpy()


def _marker(x: np.ndarray, at: list[float], height: float) -> list[float]:
    marks = [0.0] * len(x)
    for moment in at:
        if len(x):
            marks[int(np.argmin(np.abs(x - moment)))] = height
    return marks


def _figure():
    import matplotlib

    matplotlib.use("Agg")  # no display on a runner
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(9, 3.6), dpi=100)
    return plt, figure, axes


def _save(plt, figure, path: Path) -> str:
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path.name


def _trend_line(times_h: np.ndarray, values: np.ndarray, slope_per_hour: float | None) -> np.ndarray | None:
    if slope_per_hour is None or not len(values):
        return None
    intercept = float(np.nanmedian(values - slope_per_hour * times_h))  # Theil–Sen's intercept
    return intercept + slope_per_hour * times_h


# -- soak ---------------------------------------------------------------------------------------


def soak_charts(aggregated: pd.DataFrame, memory: pd.DataFrame | None, result: dict, out: Path,
                started: float) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    pictures = {"png": [], "mermaid": []}
    series = [("p95", aggregated.dropna(subset=["p95"]), "p95", "Aggregated p95 (ms)", result["latency"], 1.0)]
    if memory is not None and not memory.empty:
        series.append(("rss", memory.dropna(subset=["rss_bytes"]), "rss_bytes", "resident memory (MB)",
                       result["memory"], 1.0 / (1024 * 1024)))
    for key, frame, column, label, verdict, scale in series:
        if frame.empty:
            continue
        minutes = (frame["time"].to_numpy(float) - started) / 60.0
        values = frame[column].to_numpy(float) * scale
        fitted = _trend_line(minutes / 60.0, values, verdict.get("slope_per_hour"))
        # a short run is labelled in seconds: tenths of a minute repeat on a 60-point axis
        unit, per_unit = ("seconds", 1 / 60.0) if minutes[-1] - minutes[0] <= 10 else ("minutes", 1.0)
        plt, figure, axes = _figure()
        axes.plot(minutes, values, linewidth=0.8, label=label)
        if fitted is not None:
            axes.plot(minutes, fitted, linestyle="--", color="red",
                      label=f"Theil–Sen {verdict['slope_per_hour']:+.0f} {verdict.get('unit', '')}")
        axes.set_xlabel("minutes since start")
        axes.set_ylabel(label)
        axes.set_title(verdict.get("sentence", "")[:110], fontsize=9)
        axes.legend(loc="upper left", fontsize=8)
        pictures["png"].append(_save(plt, figure, out / f"soak-{key}.png"))
        x, y = _downsample(minutes, values)
        lines = [list(y)] + ([list(_trend_line(x / 60.0, y, verdict["slope_per_hour"]))] if fitted is not None else [])
        pictures["mermaid"].append(mermaid_chart(f"{label} and its trend", unit, [round(v / per_unit) for v in x],
                                                 label, lines))
    return pictures


def _status_line(result: dict, what: str) -> str:
    icon = {"pass": "PASS", "fail": "FAIL", "unjudgeable": "CANNOT JUDGE"}[result["status"]]
    return f"### {what}: {icon}\n\n"


def soak_markdown(result: dict, pictures: dict) -> str:
    text = _status_line(result, "Soak drift")
    text += f"- {result['latency']['sentence']}\n- {result['memory']['sentence']}\n\n"
    return text + "\n".join(pictures["mermaid"]) + _png_note(pictures)


def _png_note(pictures: dict) -> str:
    return f"\nPNG in the run's artefact: {', '.join(pictures['png'])}\n" if pictures["png"] else ""


# -- spike --------------------------------------------------------------------------------------


def spike_charts(aggregated: pd.DataFrame, phases: list[dict], result: dict, out: Path, started: float) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    pictures = {"png": [], "mermaid": []}
    frame = aggregated.dropna(subset=["p95"])
    if frame.empty or "spike_end" not in result:
        return pictures
    seconds = frame["time"].to_numpy(float) - started
    values = frame["p95"].to_numpy(float)
    spike_start, spike_end = result["spike_start"] - started, result["spike_end"] - started
    recovered_at = None if result.get("recovery_s") is None else spike_end + result["recovery_s"]
    plt, figure, axes = _figure()
    axes.plot(seconds, values, linewidth=0.8, label="Aggregated p95 (ms, 10-s window)")
    axes.axvspan(spike_start, spike_end, color="orange", alpha=0.2, label="spike")
    axes.axhline(result["band_ceiling_ms"], color="green", linestyle=":", label="recovered below")
    if recovered_at is not None:
        axes.axvline(recovered_at, color="green", label=f"recovered (+{result['recovery_s']:.0f} s)")
    else:
        axes.text(0.99, 0.95, "never recovered", transform=axes.transAxes, ha="right", va="top", color="red")
    users = frame["users"].to_numpy(float)
    twin = axes.twinx()
    twin.plot(seconds, users, color="grey", linewidth=0.6)
    twin.set_ylabel("users")
    axes.set_xlabel("seconds since start")
    axes.set_ylabel("p95 (ms)")
    axes.legend(loc="upper left", fontsize=8)
    pictures["png"].append(_save(plt, figure, out / "spike-recovery.png"))
    x, y = _downsample(seconds, values)
    marks = _marker(x, [spike_start, spike_end] + ([recovered_at] if recovered_at is not None else []),
                    float(np.nanmax(y)) if len(y) else 0.0)
    pictures["mermaid"].append(mermaid_chart(
        "Aggregated p95 (ms); bars: spike start, spike end, recovered", "seconds", [round(v) for v in x],
        "p95 (ms)", [list(y), [result["band_ceiling_ms"]] * len(y)], [marks]))
    return pictures


def spike_markdown(result: dict, pictures: dict) -> str:
    text = _status_line(result, "Spike recovery")
    text += "".join(f"- {sentence}\n" for sentence in result["sentences"]) + "\n"
    return text + "\n".join(pictures["mermaid"]) + _png_note(pictures)


# -- stress -------------------------------------------------------------------------------------


def stress_charts(result: dict, out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    pictures = {"png": [], "mermaid": []}
    stages = [stage for stage in result.get("stages", []) if stage.get("judgeable")]
    if not stages:
        return pictures
    users = np.array([stage["users"] for stage in stages], dtype=float)
    p50 = np.array([stage["p50_ms"] or np.nan for stage in stages], dtype=float)
    p95 = np.array([stage["p95_ms"] or np.nan for stage in stages], dtype=float)
    rps = np.array([stage["throughput_rps"] or np.nan for stage in stages], dtype=float)
    knee, capacity = result.get("knee_users"), result.get("capacity_users")
    plt, figure, axes = _figure()
    axes.plot(users, p50, marker="o", label="p50 (ms)")
    axes.plot(users, p95, marker="o", label="p95 (ms)")
    if knee is not None:
        axes.axvline(knee, color="red", linestyle="--", label=f"knee {knee:.0f} users")
    if capacity:
        axes.axvline(capacity, color="green", linestyle=":", label=f"capacity {capacity:.0f} users")
    twin = axes.twinx()
    twin.plot(users, rps, color="grey", marker=".", linewidth=0.8)
    twin.set_ylabel("req/s (grey)")
    axes.set_xlabel("users (stage)")
    axes.set_ylabel("latency (ms)")
    axes.legend(loc="upper left", fontsize=8)
    pictures["png"].append(_save(plt, figure, out / "stress-capacity.png"))
    height = float(np.nanmax(p95)) if np.isfinite(p95).any() else 0.0
    marks = _marker(users, [knee] if knee is not None else [], height)
    pictures["mermaid"].append(mermaid_chart("p50 and p95 (ms) per stage; bar: the knee", "users",
                                             [int(u) for u in users], "ms", [list(p50), list(p95)], [marks]))
    pictures["mermaid"].append(mermaid_chart("throughput (req/s) per stage", "users", [int(u) for u in users],
                                             "req/s", [list(rps)]))
    return pictures


def stress_markdown(result: dict, pictures: dict) -> str:
    text = _status_line(result, "Stress capacity")
    text += "".join(f"- {sentence}\n" for sentence in result["sentences"]) + "\n"
    stages = result.get("stages", [])
    if stages:
        text += ("| users | req/s | failures | p50 ms | p95 ms | SLO load | SLO |\n"
                 "|---:|---:|---:|---:|---:|---:|---|\n")
        for stage in stages:
            ratio, load = stage.get("failure_ratio"), stage.get("slo_load")
            text += (f"| {stage['users']} | {stage.get('throughput_rps') or '-'} | "
                     f"{'-' if ratio is None else f'{ratio:.1%}'} | {_number(stage.get('p50_ms'))} | "
                     f"{_number(stage.get('p95_ms'))} | {'-' if load is None else f'{load:.2f}'} | "
                     f"{'; '.join(stage['breaches']) or 'met'} |\n")
        text += ("\nSLO load: a stage's worst figure (failure ratio, an endpoint's p95) as a share of its "
                 "limit; the capacity is where it reaches 1.\n\n")
    return text + "\n".join(pictures["mermaid"]) + _png_note(pictures)


# -- nightly history ----------------------------------------------------------------------------


def history_charts(records: list[dict], series: dict[str, list[float | None]], result: dict, out: Path,
                   most: int = 6) -> dict:
    """One chart per series (history.history_series of the records) with a change point (the first
    `most`), else the Aggregated p95."""
    out.mkdir(parents=True, exist_ok=True)
    pictures = {"png": [], "mermaid": []}
    marked: dict[str, list[int]] = {}
    for point in result.get("change_points", []):
        marked.setdefault(point["series"], []).append(point["index"])
    names = list(marked)[:most] or [name for name in ("Aggregated p95",) if name in series]
    for name in names:
        values = np.array([np.nan if v is None else v for v in series[name]], dtype=float)
        nights = np.arange(len(values))
        plt, figure, axes = _figure()
        axes.plot(nights, values, marker=".", linewidth=0.8, label=name)
        for index in marked.get(name, []):
            axes.axvline(index, color="red", linestyle="--")
            axes.annotate(records[index]["date"][:10], (index, np.nanmax(values)), fontsize=7, color="red")
        axes.set_xlabel("night")
        axes.set_title(f"{name}: change points in red", fontsize=9)
        slug = "".join(ch if ch.isalnum() else "-" for ch in name).strip("-").lower()
        pictures["png"].append(_save(plt, figure, out / f"history-{slug}.png"))
        x, y = _downsample(nights.astype(float), values, points=len(values) if len(values) <= 120 else MERMAID_POINTS)
        marks = _marker(x, marked.get(name, []), float(np.nanmax(y)) if np.isfinite(y).any() else 0.0)
        pictures["mermaid"].append(mermaid_chart(f"{name}; bars: change points", "night", [int(v) for v in x],
                                                 name.rpartition(" ")[2], [list(y)], [marks]))
    return pictures


def history_markdown(result: dict, pictures: dict) -> str:
    # the marker lets the nightly workflow find and update its one issue
    text = "<!-- perf-gate-nightly-change-points -->\n" + _status_line(result, "Nightly change points")
    text += "".join(f"- {sentence}\n" for sentence in result["sentences"]) + "\n"
    new = result.get("new", [])
    if new:
        text += "New since the last report:\n\n| series | night | change | commits | p |\n|---|---|---:|---|---:|\n"
        for point in new:
            first, last = point["commit_range"]
            text += (f"| {point['series']} | {point['night'][:10]} | {point['change_pct']:+.1f}% "
                     f"({point['direction']}) | `{first[:12]}..{last[:12]}` | {point['p_value']:.1g} |\n")
        text += "\n"
    return text + "\n".join(pictures["mermaid"]) + _png_note(pictures)
