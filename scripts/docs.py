"""Keep the README's generated parts in step with their sources (every number written once).

    python -m scripts.docs          # rewrite the generated blocks of README.md
    python -m scripts.docs --check  # exit 1 if README.md is out of date (the test suite runs this)

A generated block sits between `<!-- generated:NAME -->` and `<!-- /generated:NAME -->`.
"""

from __future__ import annotations

import argparse
import re
import sys

from tabulate import tabulate

from scripts import layout, profiles

README = layout.BUNDLE / "README.md"
SHAPE_KEYS = ("stress-step-users", "stress-step-time", "spike-base-users", "spike-warmup", "spike-hold",
              "think-scale")


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


BLOCKS = {"profiles": profiles_table}


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
