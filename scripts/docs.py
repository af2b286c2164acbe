"""Keep the README's generated parts in step with their sources (every number written once).

    python -m scripts.docs          # rewrite the generated blocks of README.md
    python -m scripts.docs --check  # exit 1 if README.md is out of date (the test suite runs this)

A generated block sits between `<!-- generated:NAME -->` and `<!-- /generated:NAME -->`.
"""

from __future__ import annotations

import argparse
import re
import sys

import yaml
from tabulate import tabulate

from scripts import layout, profiles

README = layout.BUNDLE / "README.md"
SHAPE_KEYS = ("stress-step-users", "stress-step-time", "spike-base-users", "spike-warmup", "spike-hold",
              "think-scale", "sample-target")


def _duration(seconds: int) -> str:
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"


def profiles_table() -> str:
    rows = []
    for name in profiles.available():
        profile = profiles.load(name)
        settings = dict(profile.settings)
        extra = ", ".join(f"{key} {settings[key]}" for key in SHAPE_KEYS if key in settings)
        rows.append([f"`{name}`", profile.users, f"{profile.spawn_rate:g}/s", _duration(profile.run_time_s),
                     ", ".join(file.name for file in profile.locustfiles), extra or "–", profile.description])
    headers = ["profile", "users", "spawn rate", "run time", "locustfile", "also", "what it is for"]
    return tabulate(rows, headers=headers, tablefmt="github")


def limits_table() -> str:
    """The policy's absolute limits, as the policy file states them (global rules, in order)."""
    policy = yaml.safe_load(layout.POLICY.read_text())
    rows = []
    for rule in policy.get("rules", []):
        selector = rule.get("endpoint") or rule.get("pattern") or rule.get("regex")
        for metric, setting in (rule.get("metrics") or {}).items():
            if isinstance(setting, dict) and setting.get("limit") is not None:
                limit = setting["limit"]
                shown = f"{limit:.0%}" if metric == "failure_ratio" else f"{limit:g} ms"
                rows.append([f"`{selector}`", metric, f"< {shown}", setting.get("severity", "fail")])
    return tabulate(rows, headers=["endpoint", "metric", "limit", "severity"], tablefmt="github")


BLOCKS = {"profiles": profiles_table, "limits": limits_table}


def render(text: str) -> str:
    for name, make in BLOCKS.items():
        pattern = re.compile(rf"(<!-- generated:{name} -->\n).*?(<!-- /generated:{name} -->)", re.DOTALL)
        if not pattern.search(text):
            raise SystemExit(f"README.md has no generated:{name} block")
        block = make()
        text = pattern.sub(lambda match, block=block: match.group(1) + block + "\n" + match.group(2), text)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    current = README.read_text()
    wanted = render(current)
    if args.check:
        if wanted != current:
            print("README.md is out of date: run python -m scripts.docs", file=sys.stderr)
            return 1
        return 0
    README.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
