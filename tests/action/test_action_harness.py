"""The harness itself, on a tiny synthetic action: if it did not behave like a runner, the
end-to-end test of action.yml would prove nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.action import harness

SYNTHETIC = Path(__file__).resolve().parents[1] / "fixtures" / "action" / "synthetic" / "action.yml"


def run(tmp_path: Path, **inputs: str) -> harness.ActionRun:
    uploads: list[harness.StepResult] = []
    result = harness.run_action(SYNTHETIC, inputs, workspace=tmp_path / "ws", runner_temp=tmp_path / "tmp",
                                stubs={"actions/upload-artifact@": uploads.append}, step_timeout_s=60)
    result.uploads = uploads  # type: ignore[attr-defined]
    return result


def test_a_passing_action_sets_outputs_env_and_summary(tmp_path):
    result = run(tmp_path)
    assert not result.failed
    assert result.outputs == {"word": "hello octo/voiceassist", "letter": "line one\nline two"}
    assert "carried env: carried" in result.step("maybe").log
    assert result.step("after").outcome == "success"
    assert result.step("onfailure").outcome == "skipped"
    assert result.step("always").outcome == "success"
    assert result.summary == "### summary from the last step\n"
    assert str(tmp_path / "ws") in result.step("first").log


def test_uses_steps_are_stubbed_with_their_evaluated_with(tmp_path):
    result = run(tmp_path)
    [upload] = result.uploads
    assert upload.with_ == {"name": "thing-hello octo/voiceassist", "path": f"{tmp_path / 'tmp'}/thing"}


def test_after_a_failure_only_always_and_failure_steps_run(tmp_path):
    result = run(tmp_path, fail="true")
    assert result.failed
    maybe = result.step("maybe")
    assert maybe.outcome == "failure" and maybe.outputs == {}, "pipefail: `false | cat` must fail the step"
    assert result.step("after").outcome == "skipped"
    assert result.step("onfailure").outcome == "success"
    assert result.step("always").outcome == "success"


def test_an_expression_in_a_run_block_is_refused(tmp_path):
    unsafe = tmp_path / "action.yml"
    unsafe.write_text(SYNTHETIC.read_text().replace('echo "ran=yes" >> "$GITHUB_OUTPUT"\n    - name: Only after failure',
                                                    'echo "${{ inputs.fail }}"\n    - name: Only after failure'))
    with pytest.raises(harness.ActionError, match="expressions inside run"):
        harness.run_action(unsafe, {}, workspace=tmp_path / "ws", runner_temp=tmp_path / "tmp")


def test_an_undeclared_input_is_refused(tmp_path):
    with pytest.raises(harness.ActionError, match="not declared"):
        harness.run_action(SYNTHETIC, {"nope": "1"}, workspace=tmp_path / "ws", runner_temp=tmp_path / "tmp")


@pytest.mark.parametrize(("expression", "expected"), [
    ("inputs.a == 'X'", True),  # GitHub compares strings case-insensitively
    ("inputs.a != ''", True),
    ("steps.none.outputs.y != ''", False),  # a missing output is the empty string
    ("inputs.a == 'x' && inputs.b == 'y'", False),
    ("inputs.a == 'x' || inputs.b == 'y'", True),
    ("!(inputs.a == 'x')", False),
    ("github.event.pull_request.number", 7),
    ("contains('compose,command', inputs.c)", True),
    ("format('perf-{0}', inputs.a)", "perf-x"),
])
def test_expressions(expression, expected):
    contexts = {"inputs": {"a": "x", "b": "z", "c": "command"}, "steps": {},
                "github": {"event": {"pull_request": {"number": 7}}}}
    assert harness.evaluate(expression, contexts) == expected


@pytest.mark.parametrize(("condition", "failed", "expected"), [
    (None, False, True), (None, True, False),
    ("always()", True, True), ("failure()", True, True), ("failure()", False, False),
    ("inputs.a == 'x'", True, False),  # implicit success() &&
    ("${{ always() && inputs.a == 'x' }}", True, True),
])
def test_conditions(condition, failed, expected):
    assert harness.condition_holds(condition, {"inputs": {"a": "x"}}, failed) is expected


def test_output_file_formats(tmp_path):
    path = tmp_path / "out"
    path.write_text("a=1\nb=x=y\nc<<END\nl1\nl2\nEND\n")
    assert harness.read_command_file(path) == {"a": "1", "b": "x=y", "c": "l1\nl2"}
    path.write_text("c<<END\nnever closed\n")
    with pytest.raises(harness.ActionError):
        harness.read_command_file(path)
