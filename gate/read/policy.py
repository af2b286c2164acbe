"""The policy file: which limits apply to which endpoint and metric, validated with line numbers.

Rules are matched in file order (the global `rules`, then the profile's `rules`); a later rule
overrides an earlier one field by field, so a general `pattern: "*"` rule comes first and the
specific ones after it. The format is documented in baselines/policy.yml itself.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

import yaml

from gate import Unjudgeable
from gate.read.run import AGGREGATED

POLICY_SCHEMA = 1
LATENCY_METRICS = {"p50": 0.50, "p95": 0.95, "p99": 0.99}
# The distribution test (gate/judge/distribution.py): the whole response-time distribution against the
# baseline's, with a relative bar and no absolute limit.
DISTRIBUTION = "distribution"
METRICS = (*LATENCY_METRICS, DISTRIBUTION, "failure_ratio", "throughput")
UNITS = {"p50": "ms", "p95": "ms", "p99": "ms", DISTRIBUTION: "ms", "failure_ratio": "ratio", "throughput": "req/s"}
HIGHER_IS_WORSE = "higher_is_worse"
LOWER_IS_WORSE = "lower_is_worse"
DEFAULT_DIRECTION = {name: HIGHER_IS_WORSE for name in METRICS} | {"throughput": LOWER_IS_WORSE}
SEVERITIES = ("fail", "warn")
# What an endpoint whose distribution test is UNRESOLVED (neither a regression nor excluded one) does.
UNRESOLVED_ACTIONS = ("pass", "warn", "fail")
CORRECTIONS = ("holm", "bh")


class PolicyError(Unjudgeable):
    """The policy file is wrong; the reason starts with `file:line:`."""


def figure(value: float | None, unit: str, in_table: bool = False) -> str:
    """A metric's value as a reader sees it: "180 ms", "2.00%", "3.50 req/s"; in a table whose column
    names the unit, only the number ("1,180"), and "–" for no value."""
    if value is None:
        return "–" if in_table else "n/a"
    if unit == "ratio":
        return f"{value * 100:.2f}%"
    number = f"{value:,.0f}" if unit == "ms" else f"{value:,.2f}"
    return number if in_table else f"{number} {unit}"


@dataclass(frozen=True)
class Statistics:
    """Run-wide settings of the noise model (see baselines/policy.yml for what each one means)."""

    false_alarm_rate: float = 0.05
    correction: str = "holm"
    prior_runs: float = 10.0
    assumed_between_run_cv: float = 0.10
    minimum_between_run_cv: float = 0.02
    suspicious_improvement: float = 5.0
    borderline_p: float = 0.005
    min_duration_fraction: float = 0.8
    min_count_fraction: float = 0.2
    run_shift_normalisation: bool = True
    run_shift_warn_pct: float = 25.0
    run_shift_fail_pct: float = 100.0
    run_shift_unjudgeable_pct: float = 25.0
    shift_spread: float = 0.4
    control_shift_pct: float = 25.0
    control_swings: float = 5.0
    detectable_goal_pct: float = 0.0  # paired: more rounds while a judged endpoint could not see this (0: off)


@dataclass(frozen=True)
class MetricPolicy:
    metric: str
    limit: float | None = None
    relative_pct: float | None = None
    relative_floor: float = 0.0
    direction: str = HIGHER_IS_WORSE
    severity: str = "fail"
    unresolved: str = "warn"  # the distribution test only: see UNRESOLVED_ACTIONS

    @property
    def relative(self) -> bool:
        return self.relative_pct is not None


@dataclass(frozen=True)
class EndpointPolicy:
    endpoint: str
    quarantined: bool = False
    min_requests: int = 1
    metrics: dict[str, MetricPolicy] = field(default_factory=dict)
    rule_lines: tuple[int, ...] = ()


@dataclass(frozen=True)
class Rule:
    line: int
    endpoint: str | None
    pattern: str | None
    regex: re.Pattern | None
    quarantine: bool | None
    min_requests: int | None
    metrics: dict[str, dict[str, object]]

    def matches(self, endpoint: str) -> bool:
        if self.endpoint is not None:
            return endpoint == self.endpoint
        if endpoint == AGGREGATED:  # patterns never match the computed total row: name it explicitly
            return False
        if self.pattern is not None:
            return fnmatchcase(endpoint, self.pattern)
        return bool(self.regex and self.regex.search(endpoint))


@dataclass(frozen=True)
class Policy:
    path: str
    statistics: Statistics
    rules: tuple[Rule, ...]

    def for_endpoint(self, endpoint: str) -> EndpointPolicy:
        quarantined, min_requests, lines = False, 1, []
        settings: dict[str, dict[str, object]] = {}
        for rule in self.rules:
            if not rule.matches(endpoint):
                continue
            lines.append(rule.line)
            if rule.quarantine is not None:
                quarantined = rule.quarantine
            if rule.min_requests is not None:
                min_requests = rule.min_requests
            for metric, overrides in rule.metrics.items():
                settings.setdefault(metric, {}).update(overrides)
        metrics = {}
        for metric, values in settings.items():
            relative = values.get("relative")
            metrics[metric] = MetricPolicy(
                metric=metric,
                limit=values.get("limit"),
                relative_pct=None if relative is None else relative[0],
                relative_floor=0.0 if relative is None else relative[1],
                direction=values.get("direction", DEFAULT_DIRECTION[metric]),
                severity=values.get("severity", "fail"),
                unresolved=values.get("unresolved", "warn"),
            )
        return EndpointPolicy(endpoint, quarantined, min_requests, metrics, tuple(lines))


def load_policy(path: str | Path, profile: str) -> Policy:
    path = Path(path)
    if not path.is_file():
        raise PolicyError(f"policy file {path} is missing (pass --policy, or commit baselines/policy.yml)")
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 1
        raise PolicyError(f"{path}:{line}: not valid YAML: {error.problem or error}") from None
    except (yaml.YAMLError, OSError, UnicodeDecodeError) as error:
        raise PolicyError(f"{path}: cannot be read: {error}") from None
    reader = _Reader(str(path))
    # `trends:` (soak drift, spike recovery, stress capacity limits) is read by load_trend_limits, which
    # validates it; the verdict's reader only lets it through.
    top = reader.mapping(root, {"schema", "statistics", "rules", "profiles", "trends"}, "policy")
    if "schema" not in top or reader.scalar(top["schema"]) != POLICY_SCHEMA:
        raise PolicyError(f"{path}:{reader.line(top.get('schema', root))}: schema must be {POLICY_SCHEMA}")
    statistics = reader.statistics(top.get("statistics"), Statistics())
    rules = reader.rules(top.get("rules"))
    if "profiles" in top:
        profiles = reader.mapping(top["profiles"], None, "profiles")
        if profile in profiles:
            section = reader.mapping(profiles[profile], {"statistics", "rules"}, f"profile {profile}")
            statistics = reader.statistics(section.get("statistics"), statistics)
            rules += reader.rules(section.get("rules"))
    return Policy(path=str(path), statistics=statistics, rules=tuple(rules))


def load_trend_limits(policy_path: str | None, section: str, defaults):
    """The `trends: <section>:` settings of the policy file over the defaults (a missing file or
    section keeps the defaults; an unknown key is an error, as in the gate's policy)."""
    if not policy_path or not Path(policy_path).is_file():
        return defaults
    try:
        document = yaml.safe_load(Path(policy_path).read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, OSError, UnicodeDecodeError) as error:
        raise Unjudgeable(f"{policy_path}: cannot be read: {error}") from None
    settings = ((document.get("trends") or {}) if isinstance(document, dict) else {}).get(section) or {}
    if not isinstance(settings, dict):
        raise Unjudgeable(f"{policy_path}: trends.{section} should be a mapping")
    known = set(asdict(defaults))
    unknown = set(settings) - known
    if unknown:
        raise Unjudgeable(f"{policy_path}: trends.{section} has unknown key(s) {', '.join(sorted(unknown))}; "
                          f"known: {', '.join(sorted(known))}")
    values = {}
    for key, value in settings.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise Unjudgeable(f"{policy_path}: trends.{section}.{key} should be a number, got {value!r:.30}")
        values[key] = type(getattr(defaults, key))(value)
    return type(defaults)(**{**asdict(defaults), **values})


class _Reader:
    """Turns YAML nodes into checked values; every error names the file and the line."""

    def __init__(self, path: str):
        self.path = path
        self.constructor = yaml.constructor.SafeConstructor()

    def line(self, node) -> int:
        return node.start_mark.line + 1 if node is not None else 1

    def fail(self, node, message: str):
        raise PolicyError(f"{self.path}:{self.line(node)}: {message}")

    def scalar(self, node):
        if not isinstance(node, yaml.ScalarNode):
            self.fail(node, "expected a single value here")
        return self.constructor.construct_object(node, deep=True)

    def mapping(self, node, allowed: set[str] | None, what: str) -> dict[str, yaml.Node]:
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, f"{what} should be a mapping (key: value)")
        items: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = self.scalar(key_node)
            if not isinstance(key, str):
                self.fail(key_node, f"keys of {what} should be text, got {key!r}")
            if key in items:
                self.fail(key_node, f"'{key}' appears twice in {what}")
            if allowed is not None and key not in allowed:
                self.fail(key_node, f"unknown key '{key}' in {what} (expected one of {', '.join(sorted(allowed))})")
            items[key] = value_node
        return items

    def number(self, node, what: str, low: float, high: float | None = None) -> float:
        value = self.scalar(node)
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            self.fail(node, f"{what} should be a number, got {value!r}")
        if value < low or (high is not None and value > high):
            bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
            self.fail(node, f"{what} should be {bounds}, got {value!r}")
        return float(value)

    def choice(self, node, what: str, options: tuple[str, ...]) -> str:
        value = self.scalar(node)
        if value not in options:
            self.fail(node, f"{what} should be one of {', '.join(options)}, got {value!r}")
        return value

    def statistics(self, node, current: Statistics) -> Statistics:
        if node is None:
            return current
        fields = {
            "false_alarm_rate": (1e-6, 0.5),
            "prior_runs": (0.0, 100.0),
            "assumed_between_run_cv": (0.0, 10.0),
            "minimum_between_run_cv": (0.0, 10.0),
            "suspicious_improvement": (1.0, None),
            "borderline_p": (0.0, 1.0),
            "min_duration_fraction": (0.0, 1.0),
            "min_count_fraction": (0.0, 1.0),
            "run_shift_warn_pct": (0.0, None),
            "run_shift_fail_pct": (0.0, None),
            "run_shift_unjudgeable_pct": (0.0, None),
            "shift_spread": (0.0, 10.0),
            "control_shift_pct": (0.0, None),
            "control_swings": (1.0, None),
            "detectable_goal_pct": (0.0, None),
        }
        items = self.mapping(node, {*fields, "correction", "run_shift_normalisation"}, "statistics")
        values = {key: self.number(value, key, *fields[key]) for key, value in items.items() if key in fields}
        if "correction" in items:
            values["correction"] = self.choice(items["correction"], "correction", CORRECTIONS)
        if "run_shift_normalisation" in items:
            switch = self.scalar(items["run_shift_normalisation"])
            if not isinstance(switch, bool):
                self.fail(items["run_shift_normalisation"], "run_shift_normalisation should be true or false")
            values["run_shift_normalisation"] = switch
        return Statistics(**{**current.__dict__, **values})

    def rules(self, node) -> list[Rule]:
        if node is None:
            return []
        if not isinstance(node, yaml.SequenceNode):
            self.fail(node, "rules should be a list of '- endpoint: ...' or '- pattern: ...' entries")
        return [self.rule(item) for item in node.value]

    def rule(self, node) -> Rule:
        items = self.mapping(node, {"endpoint", "pattern", "regex", "quarantine", "min_requests", "metrics",
                                    "why"}, "a rule")
        selectors = [key for key in ("endpoint", "pattern", "regex") if key in items]
        if len(selectors) != 1:
            self.fail(node, "a rule needs exactly one of endpoint (exact 'METHOD name'), pattern (glob) or regex")
        selector = selectors[0]
        text = self.scalar(items[selector])
        if not isinstance(text, str) or not text.strip():
            self.fail(items[selector], f"{selector} should be non-empty text")
        regex = None
        if selector == "regex":
            try:
                regex = re.compile(text)
            except re.error as error:
                self.fail(items["regex"], f"regex does not compile: {error}")
        quarantine = None
        if "quarantine" in items:
            quarantine = self.scalar(items["quarantine"])
            if not isinstance(quarantine, bool):
                self.fail(items["quarantine"], f"quarantine should be true or false, got {quarantine!r}")
        min_requests = None
        if "min_requests" in items:
            min_requests = int(self.number(items["min_requests"], "min_requests", 1, 10**9))
        metrics = {}
        if "metrics" in items:
            for metric, metric_node in self.mapping(items["metrics"], set(METRICS), "metrics").items():
                metrics[metric] = self.metric(metric, metric_node)
        return Rule(
            line=self.line(node),
            endpoint=text if selector == "endpoint" else None,
            pattern=text if selector == "pattern" else None,
            regex=regex,
            quarantine=quarantine,
            min_requests=min_requests,
            metrics=metrics,
        )

    def metric(self, metric: str, node) -> dict[str, object]:
        allowed = {"relative", "severity", "unresolved"} if metric == DISTRIBUTION else \
            {"limit", "relative", "direction", "severity"}
        items = self.mapping(node, allowed, f"metric {metric}")
        settings: dict[str, object] = {}
        if "unresolved" in items:
            settings["unresolved"] = self.choice(items["unresolved"], "unresolved", UNRESOLVED_ACTIONS)
        if "limit" in items:
            if self.scalar(items["limit"]) is None:
                settings["limit"] = None
            else:
                high = 1.0 if metric == "failure_ratio" else None
                settings["limit"] = self.number(items["limit"], f"{metric} limit", 0.0, high)
        if "relative" in items:
            settings["relative"] = self.relative(metric, items["relative"])
        if "direction" in items:
            settings["direction"] = self.choice(items["direction"], "direction", (HIGHER_IS_WORSE, LOWER_IS_WORSE))
        if "severity" in items:
            settings["severity"] = self.choice(items["severity"], "severity", SEVERITIES)
        return settings

    def relative(self, metric: str, node) -> tuple[float, float] | None:
        if isinstance(node, yaml.ScalarNode) and self.scalar(node) in (None, False):
            return None  # `relative: off` switches the baseline comparison off for this metric
        floor_key = "floor_ms" if UNITS[metric] == "ms" else "floor"
        items = self.mapping(node, {"pct", floor_key}, f"{metric} relative")
        if "pct" not in items:
            self.fail(node, f"{metric} relative needs pct (the change, in percent, that matters)")
        pct = self.number(items["pct"], "pct", 0.0)
        floor = self.number(items[floor_key], floor_key, 0.0) if floor_key in items else 0.0
        return pct, floor
