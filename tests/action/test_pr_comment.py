"""The sticky pull-request comment against a local fake of GitHub's REST API: the real command
(`python -m gate.publish`) with GITHUB_API_URL pointed at the fake, as the action runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gate.publish import pr_comment
from tests.action.fake_github import PR, REPO, TOKEN, FakeGitHub

BUNDLE = Path(__file__).resolve().parents[2]


@pytest.fixture
def github(httpserver) -> FakeGitHub:
    return FakeGitHub(httpserver).install()


def summary_file(tmp_path: Path, text: str, name: str = "summary.md") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def publish(github: FakeGitHub, summary: Path, *extra: str, token: str | None = TOKEN,
            profile: str = "smoke") -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith("GITHUB_")}
    env["GITHUB_API_URL"] = github.api
    if token is not None:
        env["GITHUB_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "gate.publish", "--summary", str(summary), "--profile", profile,
         "--repo", REPO, "--pr", str(PR), *extra],
        cwd=BUNDLE, env=env, capture_output=True, text=True, timeout=120, check=False,
    )


def sticky(github: FakeGitHub, profile: str = "smoke") -> list[dict]:
    return [c for c in github.comments if c["body"].startswith(pr_comment.marker(profile))]


def test_three_runs_on_one_pull_request_leave_exactly_one_comment_with_the_latest_summary(github, tmp_path):
    github.add_comments(3)  # the reviewers' own comments are left alone
    for run in (1, 2, 3):
        done = publish(github, summary_file(tmp_path, f"## Performance gate · smoke: PASS (run {run})\n"))
        assert done.returncode == 0, done.stdout + done.stderr
    assert len(github.comments) == 4
    assert len(sticky(github)) == 1
    assert "(run 3)" in sticky(github)[0]["body"]
    assert github.count("POST") == 1 and github.count("PATCH") == 2


def test_the_comment_on_page_40_of_a_long_thread_is_found_and_updated(github, tmp_path):
    github.add_comments(39 * 100 + 57)
    github.add_comments(1, author="github-actions[bot]", body=pr_comment.marker("smoke") + "\nold summary\n")
    github.add_comments(42)  # page 40 holds it, and the thread goes on after it
    done = publish(github, summary_file(tmp_path, "## Performance gate · smoke: REGRESSION\n"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "updated" in done.stdout
    assert github.count("POST") == 0 and github.count("PATCH") == 1
    assert github.count("GET") == 40  # it stopped at the page that held the marker
    [comment] = sticky(github)
    assert "REGRESSION" in comment["body"] and "old summary" not in comment["body"]


def test_one_comment_per_profile(github, tmp_path):
    publish(github, summary_file(tmp_path, "## smoke summary\n"), profile="smoke")
    publish(github, summary_file(tmp_path, "## load summary\n"), profile="load")
    publish(github, summary_file(tmp_path, "## smoke summary again\n"), profile="smoke")
    assert len(github.comments) == 2
    assert "again" in sticky(github, "smoke")[0]["body"] and len(sticky(github, "load")) == 1


def test_a_comment_that_only_quotes_the_marker_is_not_taken_over(github, tmp_path):
    quoted = "> " + pr_comment.marker("smoke") + "\n> the old summary\n\nwhy did this regress?"
    github.add_comments(1, body=quoted)
    publish(github, summary_file(tmp_path, "## smoke\n"))
    assert github.comments[0]["body"] == quoted
    assert len(github.comments) == 2


def test_a_read_only_token_from_a_fork_gives_a_notice_and_does_not_fail(github, tmp_path):
    github.read_only = True
    done = publish(github, summary_file(tmp_path, "## smoke\n"))
    assert done.returncode == 0
    assert "::notice::" in done.stdout and "fork" in done.stdout and "403" in done.stdout
    assert github.comments == []
    assert TOKEN not in done.stdout + done.stderr


def test_without_a_token_there_is_a_notice_and_no_call(github, tmp_path):
    done = publish(github, summary_file(tmp_path, "## smoke\n"), token=None)
    assert done.returncode == 0 and "::notice::" in done.stdout
    assert github.calls == []


def test_the_token_is_never_printed_even_when_an_error_contains_it(httpserver, tmp_path):
    echoing = FakeGitHub(httpserver)
    httpserver.expect_request(f"/repos/{REPO}/issues/{PR}/comments", method="GET").respond_with_json(
        {"message": f"internal error while checking {TOKEN}"}, status=500)
    done = publish(echoing, summary_file(tmp_path, "## smoke\n"))
    assert done.returncode == 1 and "::warning::" in done.stdout and "HTTP 500" in done.stdout
    assert TOKEN not in done.stdout + done.stderr
    assert "***" in done.stdout


def test_a_next_page_link_to_another_host_is_not_followed_with_the_token(httpserver, tmp_path):
    elsewhere = FakeGitHub(httpserver)
    httpserver.expect_request(f"/repos/{REPO}/issues/{PR}/comments", method="GET").respond_with_json(
        [{"id": 1, "body": "hi"}], headers={"Link": '<https://evil.example/steal?page=2>; rel="next"'})
    done = publish(elsewhere, summary_file(tmp_path, "## smoke\n"))
    assert done.returncode == 1 and "refusing to follow" in done.stdout
    assert len(httpserver.log) == 1  # the first page only: nothing went to the other host


def test_a_summary_over_the_limit_is_cut_at_a_section_with_a_note_and_a_link(github, tmp_path):
    sections = [f"### Endpoint {n}\n\n| metric | value |\n|---|---|\n" + "| p95 | 120 ms |\n" * 60
                for n in range(200)]
    text = pr_comment.marker("smoke") + "\n## Performance gate · smoke: PASS\n\n" + "\n".join(sections)
    assert len(text) > 3 * pr_comment.BODY_LIMIT
    run_url = "https://github.com/octo/voiceassist/actions/runs/123"
    done = publish(github, summary_file(tmp_path, text), "--run-url", run_url)
    assert done.returncode == 0, done.stdout + done.stderr
    [comment] = github.comments
    body = comment["body"]
    assert len(body) <= pr_comment.BODY_LIMIT
    assert body.startswith(pr_comment.marker("smoke") + "\n## Performance gate")
    assert body.count(pr_comment.marker("smoke")) == 1
    assert run_url in body and "cut to fit" in body
    kept = body.split("\n\n---\n> ✂️")[0]
    assert kept.endswith("| p95 | 120 ms |"), "cut inside a section rather than before the next heading"


def test_a_cut_never_leaves_a_details_block_or_code_fence_open():
    text = "## head\n\n<details><summary>more</summary>\n\n```\n" + "x = 1\n" * 20000 + "```\n</details>\n"
    body = pr_comment.compose_body(text, "smoke", limit=10_000)
    assert len(body) <= 10_000
    assert body.count("```") % 2 == 0
    assert body.count("<details") == body.count("</details>")


def test_on_failure_mode_creates_nothing_for_a_pass_but_refreshes_an_earlier_failure(github, tmp_path):
    done = publish(github, summary_file(tmp_path, "## smoke PASS\n"), "--mode", "on-failure", "--verdict", "pass")
    assert done.returncode == 0 and github.comments == []
    publish(github, summary_file(tmp_path, "## smoke REGRESSION\n"), "--mode", "on-failure",
            "--verdict", "regression")
    publish(github, summary_file(tmp_path, "## smoke PASS now\n"), "--mode", "on-failure", "--verdict", "pass")
    [comment] = github.comments
    assert "PASS now" in comment["body"]


def test_off_mode_makes_no_call(github, tmp_path):
    done = publish(github, summary_file(tmp_path, "## smoke\n"), "--mode", "off")
    assert done.returncode == 0 and github.calls == []


def test_a_number_from_an_artifact_is_trusted_only_if_the_pr_head_is_the_tested_commit(github, tmp_path):
    done = publish(github, summary_file(tmp_path, "## smoke\n"), "--expect-head-sha", "b" * 40)
    assert done.returncode == 0 and "::notice::" in done.stdout and "not commenting" in done.stdout
    assert github.comments == []
    done = publish(github, summary_file(tmp_path, "## smoke\n"), "--expect-head-sha", github.head_sha)
    assert done.returncode == 0 and len(github.comments) == 1


@pytest.mark.parametrize("bad", [["--pr", "7; rm -rf /"], ["--pr", "0"], ["--repo", "octo/../../x y"]])
def test_a_malformed_pull_request_number_or_repository_is_refused_before_any_call(github, tmp_path, bad):
    args = ["--summary", str(summary_file(tmp_path, "## s\n")), "--profile", "smoke", "--repo", REPO,
            "--pr", str(PR)]
    flag = args.index(bad[0])
    args[flag + 1] = bad[1]
    env = {**os.environ, "GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": github.api}
    done = subprocess.run([sys.executable, "-m", "gate.publish", *args], cwd=BUNDLE, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and github.calls == []


def test_the_marker_is_the_one_the_gate_renders():
    render = pytest.importorskip("gate.report.render")
    summary = render.render_summary({"profile": "smoke", "verdict": "pass", "headline": "PASS", "reason": "ok"})
    assert summary.startswith(pr_comment.marker("smoke") + "\n")
