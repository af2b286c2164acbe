"""The sticky pull-request comment against a local fake of GitHub's REST API: the real command
(`python -m gate.publish`) with GITHUB_API_URL pointed at the fake, as the action runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gate.publish import pr_comment
from gate.publish.github_api import APIError, GitHubAPI, RetryPolicy
from gate.publish.pr_comment import post_sticky_comment
from tests.action.fake_github import BOT, PR, REPO, SECONDARY, TOKEN, FakeGitHub

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
    """The profile's comments written by the token (others may quote or forge the marker)."""
    return [c for c in github.comments
            if c["body"].startswith(pr_comment.marker(profile)) and c["user"]["login"] == github.author]


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
    github.add_comments(1, author=BOT, body=pr_comment.marker("smoke") + "\nold summary\n")
    github.add_comments(42)  # page 40 holds it, and the thread goes on after it
    done = publish(github, summary_file(tmp_path, "## Performance gate · smoke: REGRESSION\n"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "updated" in done.stdout
    assert github.count("POST") == 0 and github.count("PATCH") == 1
    lists = [path for method, path in github.calls if method == "GET" and "/comments" in path]
    assert len(lists) == 40  # it stopped at the page that held the marker
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
    github.read_only, github.fork = True, True
    done = publish(github, summary_file(tmp_path, "## smoke\n"))
    assert done.returncode == 0
    assert "::notice::" in done.stdout and "comes from a fork" in done.stdout and "perf-comment" in done.stdout
    assert github.comments == []
    assert TOKEN not in done.stdout + done.stderr


def test_without_a_token_there_is_a_notice_and_no_call(github, tmp_path):
    done = publish(github, summary_file(tmp_path, "## smoke\n"), token=None)
    assert done.returncode == 0 and "::notice::" in done.stdout
    assert github.calls == []


def test_the_token_is_never_printed_even_when_an_error_contains_it(httpserver, tmp_path):
    echoing = FakeGitHub(httpserver)
    httpserver.expect_request(f"/repos/{REPO}/issues/{PR}/comments", method="GET").respond_with_json(
        {"message": f"validation failed while checking {TOKEN}"}, status=422)
    done = publish(echoing, summary_file(tmp_path, "## smoke\n"))
    assert done.returncode == 1 and "::warning::" in done.stdout and "HTTP 422" in done.stdout
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


# -- whose comment is the sticky one -------------------------------------------------------------


def test_a_comment_by_someone_else_that_starts_with_the_marker_is_not_taken_over(github, tmp_path):
    forged = pr_comment.marker("smoke") + "\n## ✅ Performance gate · smoke: PASS (forged by a commenter)\n"
    github.add_comments(1, author="mallory", body=forged)
    for run in (1, 2):
        done = publish(github, summary_file(tmp_path, f"## ❌ Performance gate · smoke: FAIL (run {run})\n"))
        assert done.returncode == 0, done.stdout + done.stderr
    assert github.comments[0]["body"] == forged and "edited_by" not in github.comments[0]
    [own] = sticky(github)
    assert own["user"]["login"] == BOT and "(run 2)" in own["body"]
    assert github.count("POST") == 1 and github.count("PATCH") == 1


def test_with_a_personal_token_the_sticky_comment_is_that_users(github, tmp_path):
    github.pat_login = "perf-bot-user"
    github.add_comments(1, author=BOT, body=pr_comment.marker("smoke") + "\nan older bot's summary\n")
    github.add_comments(1, author="perf-bot-user", body=pr_comment.marker("smoke") + "\nold summary\n")
    done = publish(github, summary_file(tmp_path, "## smoke: new\n"))
    assert done.returncode == 0 and "updated" in done.stdout, done.stdout + done.stderr
    assert "older bot" in github.comments[0]["body"] and "new" in github.comments[1]["body"]
    assert sum(path.startswith("/user") for _, path in github.calls) == 1


def test_the_author_can_be_configured_for_a_github_app_token(github, tmp_path):
    github.add_comments(1, author="perf-app[bot]", body=pr_comment.marker("smoke") + "\nold summary\n")
    done = publish(github, summary_file(tmp_path, "## smoke: new\n"), "--author", "perf-app[bot]")
    assert done.returncode == 0 and "updated" in done.stdout, done.stdout + done.stderr
    assert not any(path.startswith("/user") for _, path in github.calls)  # no need to ask


# -- what a refusal is --------------------------------------------------------------------------------


def test_a_missing_permission_on_a_same_repository_pull_request_is_not_called_a_fork(github, tmp_path):
    github.read_only = True  # e.g. the job's permissions lack pull-requests: write
    done = publish(github, summary_file(tmp_path, "## smoke\n"))
    assert done.returncode == 1 and "::warning::" in done.stdout, done.stdout
    assert "fork" not in done.stdout
    assert "HTTP 403" in done.stdout and "permissions: pull-requests: write" in done.stdout
    assert "pull_requests=write" in done.stdout  # what GitHub said it accepts


def test_a_pull_request_that_does_not_exist_is_reported_as_not_found(github, tmp_path):
    github.pr_exists = False
    done = publish(github, summary_file(tmp_path, "## smoke\n"))
    assert done.returncode == 1 and "::warning::" in done.stdout
    assert "was not found" in done.stdout and "HTTP 404" in done.stdout and "fork" not in done.stdout


def test_a_refused_token_is_reported_as_refused(github, tmp_path):
    done = publish(github, summary_file(tmp_path, "## smoke\n"), token="ghs_expiredOrRevoked")
    assert done.returncode == 1 and "refused the token" in done.stdout and "HTTP 401" in done.stdout
    assert "fork" not in done.stdout and "ghs_expiredOrRevoked" not in done.stdout


# -- retries ----------------------------------------------------------------------------------------


def test_server_errors_are_retried_with_backoff(github, tmp_path):
    github.fail_next("GET", 502, times=2, message="Bad Gateway")
    done = publish(github, summary_file(tmp_path, "## smoke\n"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(sticky(github)) == 1
    assert done.stderr.count("retrying in") == 2
    lists = [t for (method, path), t in zip(github.calls, github.call_times, strict=True)
             if method == "GET" and "/comments" in path]
    assert lists[1] - lists[0] >= 1.0 and lists[2] - lists[1] >= 2.0  # base 2 s, doubling, jitter >= half


def test_a_secondary_rate_limit_waits_as_long_as_github_says(github, tmp_path):
    github.fail_next("POST", 403, headers={"Retry-After": "1"}, message=SECONDARY)
    done = publish(github, summary_file(tmp_path, "## smoke\n"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "retrying in 1.0 s" in done.stderr and len(sticky(github)) == 1
    posts = [t for (method, _), t in zip(github.calls, github.call_times, strict=True) if method == "POST"]
    assert len(posts) == 2 and posts[1] - posts[0] >= 1.0


def test_a_create_that_failed_with_a_502_after_github_made_it_is_not_made_twice(github, tmp_path):
    github.fail_next("POST", 502, after_effect=True, message="Bad Gateway")
    done = publish(github, summary_file(tmp_path, "## smoke\n"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(github.comments) == 1 and github.count("POST") == 1


def _api(github: FakeGitHub, waits: list[float], *, now: float = 1_000_000.0, **retry) -> GitHubAPI:
    return GitHubAPI(github.api, TOKEN, retry=RetryPolicy(**retry), sleep=waits.append, now=lambda: now,
                     jitter=lambda: 1.0, log=lambda _: None)


def test_the_primary_rate_limit_waits_until_its_reset(github):
    waits: list[float] = []
    github.fail_next("GET", 403, message="API rate limit exceeded for installation ID 1.",
                     headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(1_000_000 + 30)})
    outcome = post_sticky_comment("## smoke\n", REPO, PR, TOKEN, profile="smoke", github=_api(github, waits))
    assert outcome.action == "created" and waits == [31.0]


def test_a_429_without_headers_waits_at_least_a_minute(github):
    waits: list[float] = []
    github.fail_next("GET", 429, message="Too Many Requests")
    post_sticky_comment("## smoke\n", REPO, PR, TOKEN, profile="smoke", github=_api(github, waits))
    assert waits == [60.0]


def test_retries_are_bounded_in_count_and_in_total_waiting(github):
    waits: list[float] = []
    github.fail_next("GET", 503, times=10, message="Service Unavailable")
    with pytest.raises(APIError, match=r"HTTP 503.*gave up after 5 tries"):
        post_sticky_comment("## smoke\n", REPO, PR, TOKEN, profile="smoke", github=_api(github, waits))
    assert waits == [2.0, 4.0, 8.0, 16.0]
    github.failures.clear()
    waits.clear()
    github.fail_next("POST", 403, headers={"Retry-After": "600"}, message=SECONDARY)
    with pytest.raises(APIError, match="asks to wait 600 s") as refused:
        post_sticky_comment("## smoke\n", REPO, PR, TOKEN, profile="smoke", github=_api(github, waits))
    assert waits == [] and refused.value.rate_limited and github.comments == []
    waits.clear()
    github.fail_next("GET", 502, times=4)
    with pytest.raises(APIError, match="waits at most 10 s"):
        post_sticky_comment("## smoke\n", REPO, PR, TOKEN, profile="smoke", github=_api(github, waits, budget_s=10))
    assert sum(waits) <= 10


def test_a_rate_limit_stops_the_comment_with_a_warning_that_says_so(github, tmp_path):
    github.fail_next("GET", 403, headers={"Retry-After": "3600"}, message=SECONDARY)
    done = publish(github, summary_file(tmp_path, "## smoke\n"))
    assert done.returncode == 1 and "::warning::" in done.stdout and "rate limit" in done.stdout
    assert "fork" not in done.stdout
