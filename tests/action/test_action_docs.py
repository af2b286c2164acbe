"""docs/action.md, the adoption guide, stays true to action.yml: every input and output is listed
with its current default and description (the tables are generated, see action_docs.py), the
exit-code contract matches the action's mapping, and the example comment is a real rendered one."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from tests.action import action_docs

BUNDLE = Path(__file__).resolve().parents[2]
GUIDE = (BUNDLE / "docs" / "action.md").read_text(encoding="utf-8")
ACTION = yaml.safe_load((BUNDLE / "action.yml").read_text(encoding="utf-8"))
EXAMPLE = BUNDLE / "tests" / "fixtures" / "action" / "comment-example.md"


def test_the_input_and_output_tables_are_generated_from_action_yml():
    assert action_docs.render(GUIDE) == GUIDE, (
        "docs/action.md's tables differ from action.yml: run `python -m tests.action.action_docs`")


def test_every_input_and_output_is_documented():
    for name in ACTION["inputs"]:
        assert f"| `{name}` |" in GUIDE, f"input {name} missing from docs/action.md"
    for name in ACTION["outputs"]:
        assert f"| `{name}` |" in GUIDE, f"output {name} missing from docs/action.md"


def test_every_input_is_used_by_a_step():
    used = " ".join(str(step.get("env", "")) + str(step.get("with", "")) + str(step.get("if", ""))
                    for step in ACTION["runs"]["steps"])
    for name in ACTION["inputs"]:
        assert f"inputs.{name}" in used, f"input {name} is declared but no step reads it"


def test_the_documented_exit_codes_are_the_actions():
    run_step = next(step for step in ACTION["runs"]["steps"] if step.get("id") == "run")
    for code, verdict in (("0", "pass"), ("1", "regression"), ("2", "invalid")):
        assert re.search(rf"\| {code} \| `{verdict}` \|", GUIDE)
    assert "0) verdict=pass" in run_step["run"] and "1) verdict=regression" in run_step["run"]
    for fail_on in ("regression", "invalid", "never"):
        assert f"`{fail_on}`" in GUIDE


def test_the_adoption_workflow_is_a_valid_workflow_using_the_published_action(tmp_path):
    block = re.search(r"## Adopt it in another repository.*?```yaml\n(.*?)```", GUIDE, re.DOTALL).group(1)
    (tmp_path / "perf-gate.yml").write_text(block)
    checked = subprocess.run([str(Path(sys.executable).parent / "check-jsonschema"), "--builtin-schema",
                              "vendor.github-workflows", str(tmp_path / "perf-gate.yml")],
                             capture_output=True, text=True, timeout=120, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    workflow = yaml.safe_load(block)
    steps = workflow["jobs"]["smoke"]["steps"]
    gate = next(step for step in steps if str(step.get("uses", "")).startswith("OWNER/REPO@"))
    assert set(gate["with"]) <= set(ACTION["inputs"]), "the example uses inputs the action does not have"
    assert workflow["jobs"]["smoke"]["permissions"]["pull-requests"] == "write"
    assert gate["with"]["compare"] == "auto", "a new repository's first pull request has no baseline yet (step 5)"


def test_the_example_comment_is_a_real_summary_quoted_in_the_guide():
    example = EXAMPLE.read_text(encoding="utf-8")
    assert example.startswith("<!-- voiceassist-perf-gate:smoke -->\n## ")
    assert "| endpoint" in example, "the example must show the endpoint table a reviewer reads"
    assert action_docs.quoted_example() in GUIDE


def test_the_baseline_workflow_of_the_guide_records_what_the_gate_job_runs(tmp_path):
    """Step 4 of the adoption guide: valid, the action's inputs only, and its runs made with the gate
    job's profile, settings and target (else the baseline's fingerprint would not match the gate's)."""
    guide = GUIDE[GUIDE.index("## Adopt it in another repository"):]
    gate_block, record_block = re.findall(r"```yaml\n(.*?)```", guide, re.DOTALL)[:2]
    (tmp_path / "perf-baseline.yml").write_text(record_block)
    checked = subprocess.run([str(Path(sys.executable).parent / "check-jsonschema"), "--builtin-schema",
                              "vendor.github-workflows", str(tmp_path / "perf-baseline.yml")],
                             capture_output=True, text=True, timeout=120, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    [gate] = [step for step in yaml.safe_load(gate_block)["jobs"]["smoke"]["steps"]
              if str(step.get("uses", "")).startswith("OWNER/REPO@")]
    steps = yaml.safe_load(record_block)["jobs"]["record"]["steps"]
    runs = [step for step in steps if str(step.get("uses", "")).startswith("OWNER/REPO@")]
    assert len(runs) == 3 and len({step["with"]["results-dir"] for step in runs}) == 3
    fingerprinted = ("profile", "users", "run-time", "scale", "stack", "start-command", "base-url", "processes")
    for run in runs:
        assert set(run["with"]) <= set(ACTION["inputs"])
        assert {k: run["with"].get(k) for k in fingerprinted} == {k: gate["with"].get(k) for k in fingerprinted}
        assert run["with"]["compare"] == "none"
    record = next(step for step in steps if "gate record" in str(step.get("run", "")))
    assert record["env"]["PYTHONSAFEPATH"] == "1"
    assert all(f"--run {run['with']['results-dir']}" in " ".join(record["run"].replace("\\\n", " ").split())
               for run in runs)
    assert gate["with"]["baseline"] in record["run"]
