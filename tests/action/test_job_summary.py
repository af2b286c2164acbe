"""action.yml's "Write the job summary" step when the run never reached the gate: the line it quotes
from the run's log (which can quote the target) is shown as text, not as markdown. The step is the
real one, run by the harness after two stand-in steps that leave what a broken run leaves."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from tests.action import harness
from tests.rendered_markdown import render, visible

BUNDLE = Path(__file__).resolve().parents[2]
HOSTILE = ("perf-gate: cannot judge this run: the target answered <img src=x onerror=alert(1)> "
           "@everyone [log in](https://evil.example) `x` | y")


def _action_with_the_real_summary_step(folder: Path) -> Path:
    action = yaml.safe_load((BUNDLE / "action.yml").read_text())
    [summary_step] = [step for step in action["runs"]["steps"] if step.get("name") == "Write the job summary"]
    stand_ins = [
        {"id": "setup", "shell": "bash", "run": (
            'results="$GITHUB_WORKSPACE/results/smoke"; mkdir -p "$results"\n'
            '{ echo "results=$results"; echo "summary=$results/summary.md"; '
            f'echo "python={sys.executable}"; }} >> "$GITHUB_OUTPUT"\n')},
        {"id": "run", "shell": "bash", "env": {"RESULTS": "${{ steps.setup.outputs.results }}",
                                               "LINE": HOSTILE},
         "run": 'echo "$LINE" > "$RESULTS/run.log"; echo "verdict=invalid" >> "$GITHUB_OUTPUT"; exit 2\n'},
    ]
    action["runs"]["steps"] = [*stand_ins, summary_step]
    path = folder / "action.yml"
    path.write_text(yaml.safe_dump(action, sort_keys=False))
    return path


def test_a_line_from_the_runs_log_enters_the_job_summary_as_text(tmp_path):
    run = harness.run_action(_action_with_the_real_summary_step(tmp_path), {"profile": "smoke"},
                             workspace=tmp_path / "workspace", runner_temp=tmp_path / "temp")
    step = run.step("Write the job summary")
    assert step.outcome == "success", step.log
    assert "not judged" in step.summary
    rendered = render(step.summary)
    assert "img" not in rendered.tags and "a" not in rendered.tags and "code" not in rendered.tags
    assert rendered.mentions() == []
    assert visible(HOSTILE) in visible(rendered.text)
    summary_file = tmp_path / "workspace" / "results" / "smoke" / "summary.md"
    assert summary_file.read_text() == step.summary  # what a comment would post, escaped too
