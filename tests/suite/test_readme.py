"""The README's numbers come from their sources: a stale table is a failing test, not a lie."""

import subprocess
import sys

from scripts import layout


def test_readme_generated_blocks_are_up_to_date():
    done = subprocess.run([sys.executable, "-m", "scripts.docs", "--check"], capture_output=True, text=True,
                          check=False, cwd=layout.BUNDLE)
    assert done.returncode == 0, done.stderr


def test_readme_gives_the_two_setup_commands_and_ci_runs_exactly_make_test():
    readme = (layout.BUNDLE / "README.md").read_text()
    assert "make smoke" in readme and "make test" in readme
    ci = (layout.BUNDLE / ".ci" / "run").read_text()
    assert "\nmake test\n" in ci


def test_locust_folder_is_not_a_package():
    assert not (layout.SUITE / "__init__.py").exists(), "locust/__init__.py would shadow the locust library"
