"""The comment for a fork's pull request (perf-comment.yml): its job run by the harness against the
fake GitHub API with an artifact as a fork's run would leave it, or as a hostile fork would. The
comment is rendered in the base repository from the artifact's verdict.json (schema-checked,
escaped), never from the fork's summary.md; a verdict that fails the checks gets a notice that
quotes none of it. And the workflow's steps themselves: no checkout of the pull request, nothing of
the artifact executed."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import yaml

from gate.judge.pipeline import judge
from gate.publish import pr_comment, untrusted_verdict
from tests.action import harness
from tests.action.fake_github import BOT, PR, REPO, TOKEN, FakeGitHub
from tests.rendered_markdown import ATTACKS, render

BUNDLE = Path(__file__).resolve().parents[2]
WORKFLOW = BUNDLE / ".github" / "workflows" / "perf-comment.yml"
GATE_FIXTURES = BUNDLE / "tests" / "fixtures" / "gate"
FORK_SUMMARY = ("<!-- voiceassist-perf-gate:smoke -->\n## ✅ Performance gate · smoke: PASS\n\n"
                "<img src=https://evil.example/pixel.png> @everyone [claim your prize](https://evil.example)\n")
RUN_URL = f"https://github.com/{REPO}/actions/runs/4242"


@pytest.fixture
def github(httpserver) -> FakeGitHub:
    return FakeGitHub(httpserver, fork=True).install()


@pytest.fixture(scope="module")
def verdict() -> dict:
    return judge(str(GATE_FIXTURES / "regression"), "smoke", str(GATE_FIXTURES / "baseline-smoke.json"),
                 str(BUNDLE / "baselines" / "policy.yml"))


def workflow_run_event(github: FakeGitHub, head_repository: str = "forker/voiceassist") -> dict:
    return {"event_name": "workflow_run", "repository": REPO, "token": TOKEN, "event": {"workflow_run": {
        "id": 4242, "event": "pull_request", "conclusion": "failure", "head_sha": github.head_sha,
        "head_repository": {"full_name": head_repository}, "html_url": RUN_URL}}}


def comment_job(tmp_path: Path, github: FakeGitHub, artifact: dict[str, str | bytes], event: dict | None = None):
    workspace = tmp_path / "workspace"
    workspace.mkdir(parents=True)
    (workspace / "gate").symlink_to(BUNDLE / "gate")  # what the sparse checkout of the default branch gives
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    (temp / "comment-venv").symlink_to(sys.prefix)  # has the packages: the step must not pip install
    downloads = []

    def download(step: harness.StepResult) -> None:
        downloads.append(step.with_)
        target = Path(step.with_["path"])
        target.mkdir(parents=True)
        for name, content in artifact.items():
            (target / name).write_bytes(content if isinstance(content, bytes) else content.encode())

    job = harness.run_job(WORKFLOW, "comment", workspace=workspace, runner_temp=temp,
                          github=event or workflow_run_event(github), env={"GITHUB_API_URL": github.api},
                          stubs={"actions/download-artifact@": download}, step_timeout_s=120)
    return job, downloads


def fork_artifact(verdict: dict | str | bytes, pr: object = PR, profile: str = "smoke",
                  outcome: str = "regression") -> dict[str, str | bytes]:
    return {"summary.md": FORK_SUMMARY,
            "verdict.json": verdict if isinstance(verdict, str | bytes) else json.dumps(verdict),
            "comment.json": json.dumps({"pull_request": str(pr), "head_sha": "c" * 40, "profile": profile,
                                        "verdict": outcome})}


def expected_body(verdict_json: Path) -> str:
    return pr_comment.compose_body(untrusted_verdict.comment_for(verdict_json, "smoke").summary, "smoke", RUN_URL)


# -- the comment is rendered here ------------------------------------------------------------------


def test_a_forks_comment_is_rendered_here_from_its_verdict_never_from_its_summary(tmp_path, github, verdict):
    job, downloads = comment_job(tmp_path, github, fork_artifact(verdict))
    assert not job.skipped and not job.failed, job.log
    assert downloads == [{"name": "perf-smoke", "path": str(tmp_path / "runner-temp" / "perf-smoke"),
                          "run-id": "4242", "github-token": TOKEN}]
    [comment] = github.comments
    assert comment["user"]["login"] == BOT
    assert comment["body"] == expected_body(tmp_path / "runner-temp" / "perf-smoke" / "verdict.json")
    assert "FAIL: 1 regression" in comment["body"] and "### Endpoints" in comment["body"]
    assert "evil.example" not in comment["body"] and "@everyone" not in comment["body"]
    assert untrusted_verdict.FOOTER in comment["body"]
    assert "pip install" not in job.log and TOKEN not in job.log


def test_a_second_run_updates_the_same_comment(tmp_path, github, verdict):
    comment_job(tmp_path / "one", github, fork_artifact(verdict))
    passing = judge(str(GATE_FIXTURES / "pass"), "smoke", str(GATE_FIXTURES / "baseline-smoke.json"),
                    str(BUNDLE / "baselines" / "policy.yml"))
    job, _ = comment_job(tmp_path / "two", github, fork_artifact(passing, outcome="pass"))
    assert not job.failed and len(github.comments) == 1 and "updated" in job.log
    assert "PASS" in github.comments[0]["body"]


def test_markdown_injected_into_every_string_of_a_verdict_is_shown_as_text(tmp_path, github, verdict):
    hostile = json.loads(json.dumps(verdict))
    strings = iter(ATTACKS * 100)
    for endpoint in hostile["endpoints"]:
        endpoint["endpoint"] = next(strings)[:500]
        endpoint["errors"] = [{"error": next(strings), "occurrences": 2, "new": True}]
    for finding in hostile["findings"]:
        finding["message"] = next(strings)
    hostile["headline"], hostile["reason"] = next(strings), next(strings)
    hostile["run"]["path"] = next(strings)
    assert untrusted_verdict.schema_problem(hostile) == ""  # well-formed: it is rendered, escaped
    job, _ = comment_job(tmp_path, github, fork_artifact(hostile))
    assert not job.failed, job.log
    [comment] = github.comments
    rendered = render(comment["body"])
    assert "img" not in rendered.tags and "script" not in rendered.tags and "a" not in rendered.tags
    assert rendered.mentions() == [] and len(rendered.comments) == 1
    assert comment["body"].count("<!--") == 1


HOSTILE_VERDICTS = {
    "wrong-type": ("total_requests", lambda v: {**v, "run": {**v["run"], "total_requests": "<img src=x>"}},
                   "at run/total_requests: not of type integer"),
    "endpoints-not-a-list": ("endpoints", lambda v: {**v, "endpoints": {"<img src=x>": 1}},
                             "at endpoints: not of type array"),
    "missing-field": ("headline", lambda v: {k: val for k, val in v.items() if k != "headline"},
                      "at the top level: missing headline"),
    "overlong-error": ("error", lambda v: {**v, "endpoints": [
        {**v["endpoints"][0], "errors": [{"error": "<img src=x> " * 1000, "occurrences": 1, "new": True}]}]},
                       "at endpoints/0/errors/0/error: more than 4096 characters"),
    "other-schema": ("schema", lambda v: {**v, "schema": 99}, "at schema: not one of 1"),
    "hostile-key": ("key", lambda v: {**v, "run": {**v["run"], "counters": {"<img src=x>": "@everyone"}}},
                    "at run/counters/?: not of type number"),
    "bad-profile": ("profile", lambda v: {**v, "profile": "smoke --> <img src=x>"},
                    "at profile: not of the form"),
    "other-profile": ("profile", lambda v: {**v, "profile": "load"}, "for another profile than smoke"),
}
RAW_VERDICTS = {
    "not-json": ("<img src=x onerror=alert(1)> @everyone", "not valid JSON (line 1)"),
    "nan": ('{"schema": NaN}', "not valid JSON"),
    "deep": ("[" * 200_000 + "]" * 200_000, "nested too deeply"),
    "huge": (b'{"pad": "' + b"@everyone <img src=x> " * 300_000 + b'"}', "more than the 5,242,880 accepted"),
    "not-utf8": (b'{"headline": "\xff\xfe"}', "not UTF-8"),
}


@pytest.mark.parametrize("case", [*HOSTILE_VERDICTS, *RAW_VERDICTS, "missing"])
def test_a_hostile_verdict_gets_a_notice_that_quotes_none_of_it(tmp_path, github, verdict, case):
    if case in HOSTILE_VERDICTS:
        _, mutate, reason = HOSTILE_VERDICTS[case]
        artifact = fork_artifact(mutate(verdict))
    elif case in RAW_VERDICTS:
        content, reason = RAW_VERDICTS[case]
        artifact = fork_artifact(content)
    else:
        artifact, reason = fork_artifact(verdict), "left no verdict.json"
        del artifact["verdict.json"]
    job, _ = comment_job(tmp_path, github, artifact)
    assert not job.failed, job.log
    assert "::warning::perf gate: the run's verdict.json is not shown:" in job.log
    assert reason in job.log, job.log
    [comment] = github.comments
    body = comment["body"]
    assert body.startswith(pr_comment.marker("smoke") + "\n## ⛔ Performance gate · smoke: the results")
    assert len(body) < 2000, "the notice must not carry the document"
    for quoted in ("<img", "@everyone", "evil.example", "onerror"):
        assert quoted not in body and quoted not in job.log
    rendered = render(body)
    assert set(rendered.tags) <= {"h2", "blockquote", "p", "code"} and rendered.mentions() == []


@pytest.mark.parametrize("artifact", [
    {"comment.json": json.dumps({"pull_request": "7; touch /tmp/pwned", "profile": "smoke", "verdict": "pass"})},
    {"comment.json": json.dumps({"pull_request": "$(id)", "profile": "smoke", "verdict": "pass"})},
    {"comment.json": json.dumps({"pull_request": "7", "profile": "smoke --repo other/repo", "verdict": "pass"})},
    {"comment.json": json.dumps({"pull_request": "7", "profile": "smoke", "verdict": "pass\n--pr 1"})},
    {"comment.json": json.dumps({"pull_request": "7", "profile": "smoke", "verdict": "pass",
                                 "padding": "x" * 10_000})},
    {"comment.json": "not json"},
], ids=["pr-command", "pr-substitution", "profile-option", "verdict-newline", "oversized", "not-json"])
def test_a_tampered_comment_json_is_refused_before_any_api_call(tmp_path, github, artifact):
    job, _ = comment_job(tmp_path, github, {"verdict.json": "{}", **artifact})
    assert github.calls == [], job.log
    assert not (Path("/tmp/pwned")).exists()
    assert "::warning::perf comment: the run's comment.json is missing or malformed" in job.log


def test_a_pull_request_that_moved_on_gets_no_comment_from_an_old_run(tmp_path, github, verdict):
    tested = workflow_run_event(github)
    github.head_sha = "d" * 40  # a newer push since: the artifact's run tested the previous head
    job, _ = comment_job(tmp_path, github, fork_artifact(verdict), event=tested)
    assert not job.failed and github.comments == [] and "not commenting" in job.log


def test_a_same_repository_pull_request_is_left_to_the_gate_job(tmp_path, github, verdict):
    job, downloads = comment_job(tmp_path, github, fork_artifact(verdict),
                                 event=workflow_run_event(github, head_repository=REPO))
    assert job.skipped and downloads == [] and github.calls == []


def test_a_verdict_too_detailed_for_one_comment_is_collapsed_and_keeps_its_footer(tmp_path, verdict):
    big = json.loads(json.dumps(verdict))
    template = big["endpoints"][0]
    big["endpoints"] = [{**template, "endpoint": f"GET /api/generated/{n}/" + "x" * 60,
                         "errors": [{"error": f"HTTPError('50{n % 10}') " + "y" * 100, "occurrences": n, "new": True}]}
                        for n in range(600)]
    path = tmp_path / "verdict.json"
    path.write_text(json.dumps(big))
    comment = untrusted_verdict.comment_for(path, "smoke")
    assert comment.rejected == ""
    body = pr_comment.compose_body(comment.summary, "smoke", RUN_URL)
    assert len(body) <= pr_comment.BODY_LIMIT and "cut to fit" not in body
    assert body.rstrip().endswith(untrusted_verdict.FOOTER)


def test_every_verdict_the_gate_writes_matches_the_schema():
    for run in sorted(path for path in GATE_FIXTURES.iterdir() if path.is_dir()):
        verdict = judge(str(run), "smoke", str(GATE_FIXTURES / "baseline-smoke.json"),
                        str(BUNDLE / "baselines" / "policy.yml"))
        assert untrusted_verdict.schema_problem(json.loads(json.dumps(verdict))) == "", run.name


# -- the workflow's steps ------------------------------------------------------------------------------


def _steps() -> list[dict]:
    return yaml.safe_load(WORKFLOW.read_text())["jobs"]["comment"]["steps"]


def test_the_job_checks_out_only_the_default_branch_and_downloads_outside_it():
    uses = [step["uses"].split("@")[0] for step in _steps() if "uses" in step]
    assert uses == ["actions/checkout", "actions/download-artifact"]
    checkout = next(step for step in _steps() if step.get("uses", "").startswith("actions/checkout@"))
    assert not {"ref", "repository"} & set(checkout["with"]), "the default branch only, never the PR's ref"
    assert checkout["with"]["persist-credentials"] is False and checkout["with"]["sparse-checkout"] == "gate"
    download = next(step for step in _steps() if step.get("uses", "").startswith("actions/download-artifact@"))
    assert download["with"]["path"].startswith("${{ runner.temp }}/"), "the artifact stays out of the checkout"
    steps = json.dumps(_steps())
    for field in ("head_branch", "head_commit", "pull_requests", "display_title", "head_repository"):
        assert f"workflow_run.{field}" not in steps, "fork-controlled text must not reach the job's steps"


def test_nothing_from_the_artifact_is_executed_or_posted_as_markdown():
    [run] = [step["run"] for step in _steps() if "run" in step]
    read = set(re.findall(r"\$RESULTS/([^\"' ]+)", run))
    assert read == {"comment.json", "verdict.json"}, "the job reads these two files, as data, and nothing else"
    assert "summary.md" not in run
    assert '--from-verdict "$RESULTS/verdict.json"' in run and "--summary" not in run
    assert re.search(r'json\.loads\(open\(sys\.argv\[1\], "rb"\)\.read\(\d+\)\)', run)
    for executes in (r"\bsource\b", r"\bbash\s+\"?\$RESULTS", r"\bsh\s+\"?\$RESULTS", r"chmod", r"\beval\b",
                     r"\. \"?\$RESULTS", r"python3? \"?\$RESULTS", r"PYTHONPATH"):
        assert not re.search(executes, run), executes
    [install] = [line for line in run.splitlines() if "pip install" in line]
    block = run[run.index(install):].split("\n", 2)
    command = block[0] + block[1]
    assert "--require-hashes" in command and "--only-binary :all:" in command
    assert "-r gate/publish/requirements-comment.txt" in command


def test_the_comments_packages_are_pinned_by_hash():
    lines = (BUNDLE / "gate" / "publish" / "requirements-comment.txt").read_text().splitlines()
    pins = [(number, line) for number, line in enumerate(lines) if re.match(r"^[A-Za-z0-9_.-]+==\S+ \\$", line)]
    assert {line.split("==")[0].lower() for _, line in pins} >= {"requests", "jsonschema", "pandas", "tabulate",
                                                                "pyyaml"}
    for number, line in pins:
        assert lines[number + 1].strip().startswith("--hash=sha256:"), line
    assert all(re.match(r"^([A-Za-z0-9_.-]+==\S+ \\|\s+--hash=sha256:[0-9a-f]{64}( \\)?|\s*#.*|)$", line)
               for line in lines), "only pins, hashes and comments: no index URL, no option"
