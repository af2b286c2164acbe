"""Runs a composite action.yml the way a GitHub runner does, without GitHub.

What it reproduces: input defaults and `with:` values; `${{ }}` expressions in `env:`, `with:`,
`if:` and the action's outputs (contexts: inputs, steps, github, runner, env); the implicit
`success() &&` of an `if:` without a status function; `shell: bash` as
`bash --noprofile --norc -eo pipefail {0}`; per-step GITHUB_OUTPUT, GITHUB_ENV, GITHUB_PATH and
GITHUB_STEP_SUMMARY files; GITHUB_ACTION_PATH, GITHUB_WORKSPACE, RUNNER_TEMP; skipping the steps
after a failure unless their `if:` asks for always() or failure(). `uses:` steps are stubbed: their
evaluated `with:` is recorded (and handed to a stub function when one is given).

`run_job` does the same for one job of a workflow (job `if:`, workflow and job `env:`, the default
shell `bash -e {0}`), running `uses: ./` through `run_action`.

What it does not: services, matrices, containers, other shells, `continue-on-error`, `working-directory` expressions, nested
composite actions, masking. Runner expressions inside `run:` are refused outright, since an
action that has them is open to script injection.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
STATUS_FUNCTIONS = ("always(", "success(", "failure(", "cancelled(")
BASH = ["bash", "--noprofile", "--norc", "-eo", "pipefail"]  # `shell: bash`
DEFAULT_BASH = ["bash", "-e"]  # a workflow's run: step without shell: on Linux
_SERIAL = itertools.count(1)


class ActionError(Exception):
    """The action file uses something this harness (or GitHub) does not accept."""


@dataclass
class StepResult:
    index: int
    id: str
    name: str
    outcome: str  # success, failure, skipped
    returncode: int | None = None
    log: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)  # the step's evaluated env: block
    uses: str = ""
    with_: dict[str, str] = field(default_factory=dict)
    summary: str = ""


@dataclass
class ActionRun:
    steps: list[StepResult]
    outputs: dict[str, str]
    failed: bool

    @property
    def summary(self) -> str:
        return "".join(step.summary for step in self.steps)

    @property
    def log(self) -> str:
        return "\n".join(f"--- step {s.index} {s.name or s.id} [{s.outcome}]\n{s.log}" for s in self.steps)

    def step(self, key: str) -> StepResult:
        for step in self.steps:
            if key in (step.id, step.name, step.uses):
                return step
        raise KeyError(f"no step {key!r}; steps: {[s.id or s.name for s in self.steps]}")


# -- expressions ---------------------------------------------------------------------------------

_TOKEN = re.compile(r"""\s*(?:
    (?P<string>'(?:[^']|'')*')
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<op>==|!=|&&|\|\||<=|>=|<|>|!|\(|\)|,)
  | (?P<name>[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_*-]+|\[[^\]]+\])*)
)""", re.VERBOSE)


def _tokens(text: str) -> list[tuple[str, Any]]:
    tokens, position, text = [], 0, text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise ActionError(f"cannot parse expression {text!r} at {text[position:]!r}")
        kind = match.lastgroup
        value = match.group(kind)
        if kind == "string":
            value = value[1:-1].replace("''", "'")
        elif kind == "number":
            value = float(value)
        tokens.append((kind, value))
        position = match.end()
    return tokens


def _lookup(path: str, contexts: Mapping[str, Any]) -> Any:
    parts = re.findall(r"[^.\[\]]+", path.replace("'", ""))
    value: Any = contexts
    for part in parts:
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        else:
            return None
    return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _truthy(value: Any) -> bool:
    return value not in (None, "", 0, 0.0, False)


def _equal(left: Any, right: Any) -> bool:
    # GitHub compares strings case-insensitively and treats null like the empty string / 0 here.
    return _text(left).lower() == _text(right).lower()


class _Parser:
    def __init__(self, text: str, contexts: Mapping[str, Any], status: Mapping[str, bool]):
        self.tokens = _tokens(text)
        self.position = 0
        self.contexts = contexts
        self.status = status

    def parse(self) -> Any:
        value = self._or()
        if self.position != len(self.tokens):
            raise ActionError(f"unexpected {self.tokens[self.position]!r} in expression")
        return value

    def _peek(self) -> tuple[str, Any] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take(self, op: str) -> bool:
        if self._peek() == ("op", op):
            self.position += 1
            return True
        return False

    def _or(self) -> Any:
        value = self._and()
        while self._take("||"):
            right = self._and()
            value = value if _truthy(value) else right
        return value

    def _and(self) -> Any:
        value = self._comparison()
        while self._take("&&"):
            right = self._comparison()
            value = right if _truthy(value) else value
        return value

    def _comparison(self) -> Any:
        value = self._unary()
        for op in ("==", "!="):
            if self._take(op):
                right = self._unary()
                return _equal(value, right) if op == "==" else not _equal(value, right)
        return value

    def _unary(self) -> Any:
        if self._take("!"):
            return not _truthy(self._unary())
        if self._take("("):
            value = self._or()
            if not self._take(")"):
                raise ActionError("missing ) in expression")
            return value
        token = self._peek()
        if token is None:
            raise ActionError("expression ends early")
        self.position += 1
        kind, value = token
        if kind in ("string", "number"):
            return value
        if kind == "name":
            if value in ("true", "false"):
                return value == "true"
            if value == "null":
                return None
            if self._take("("):
                arguments = []
                while not self._take(")"):
                    arguments.append(self._or())
                    self._take(",")
                return self._call(value, arguments)
            return _lookup(value, self.contexts)
        raise ActionError(f"unexpected {value!r} in expression")

    def _call(self, name: str, arguments: list[Any]) -> Any:
        if name in self.status:
            return self.status[name]
        if name == "contains":
            return _text(arguments[1]).lower() in _text(arguments[0]).lower()
        if name == "startsWith":
            return _text(arguments[0]).lower().startswith(_text(arguments[1]).lower())
        if name == "format":
            return re.sub(r"\{(\d+)\}", lambda m: _text(arguments[1 + int(m[1])]), _text(arguments[0]))
        raise ActionError(f"function {name}() is not supported by the harness")


def evaluate(expression: str, contexts: Mapping[str, Any], status: Mapping[str, bool] | None = None) -> Any:
    return _Parser(expression, contexts, status or {}).parse()


def interpolate(text: Any, contexts: Mapping[str, Any]) -> str:
    """A value with `${{ ... }}` parts replaced by their evaluated text."""
    return EXPRESSION.sub(lambda match: _text(evaluate(match.group(1), contexts)), _text(text))


def condition_holds(condition: Any, contexts: Mapping[str, Any], failed: bool) -> bool:
    status = {"always": True, "success": not failed, "failure": failed, "cancelled": False}
    if condition is None or condition == "":
        return status["success"]
    text = str(condition).strip()
    match = re.fullmatch(r"\$\{\{(.*)\}\}", text, re.DOTALL)
    if match:
        text = match.group(1)
    if not any(function in text.replace(" ", "") for function in STATUS_FUNCTIONS):
        text = f"success() && ({text})"
    return _truthy(evaluate(text, contexts, status))


# -- the runner files ----------------------------------------------------------------------------


def read_command_file(path: Path) -> dict[str, str]:
    """GITHUB_OUTPUT / GITHUB_ENV format: `name=value` lines and `name<<DELIMITER` blocks."""
    values: dict[str, str] = {}
    if not path.exists():
        return values
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            block = []
            while index < len(lines) and lines[index] != delimiter:
                block.append(lines[index])
                index += 1
            if index >= len(lines):
                raise ActionError(f"{path.name}: no closing {delimiter!r} for {name!r}")
            index += 1
            values[name] = "\n".join(block)
        elif "=" in line:
            name, value = line.split("=", 1)
            values[name] = value
        elif line.strip():
            raise ActionError(f"{path.name}: malformed line {line!r}")
    return values


# -- running the action --------------------------------------------------------------------------


def load_action(action_file: Path) -> dict:
    action = yaml.safe_load(action_file.read_text(encoding="utf-8"))
    if action.get("runs", {}).get("using") != "composite":
        raise ActionError(f"{action_file} is not a composite action")
    return action


def expressions_in_run_blocks(action: dict) -> list[str]:
    """Steps whose `run:` contains `${{ }}`: each one is a script-injection hole."""
    return [step.get("id") or step.get("name") or f"#{n}"
            for n, step in enumerate(action["runs"]["steps"]) if "${{" in str(step.get("run", ""))]


def _runner_env(workspace: Path, runner_temp: Path, github_context: Mapping[str, Any],
                env: Mapping[str, str] | None, action_path: Path | None) -> dict[str, str]:
    workspace.mkdir(parents=True, exist_ok=True)
    runner_temp.mkdir(parents=True, exist_ok=True)
    base_env = {**os.environ, **(env or {})}
    base_env.update({
        "GITHUB_ACTIONS": "true", "CI": "true",
        "GITHUB_WORKSPACE": str(workspace), "RUNNER_TEMP": str(runner_temp), "RUNNER_OS": "Linux",
        "GITHUB_REPOSITORY": str(github_context["repository"]), "GITHUB_RUN_ID": str(github_context["run_id"]),
        "GITHUB_SERVER_URL": str(github_context["server_url"]),
        "GITHUB_EVENT_NAME": str(github_context["event_name"]),
    })
    if action_path is not None:
        base_env["GITHUB_ACTION_PATH"] = str(action_path)
    return base_env


def _github_context(workspace: Path, github: Mapping[str, Any] | None, **extra: str) -> dict[str, Any]:
    return {"workspace": str(workspace), "event_name": "push", "event": {}, "repository": "octo/voiceassist",
            "server_url": "https://github.com", "run_id": "1", "token": "", **extra, **(github or {})}


def run_action(
    action_file: Path,
    inputs: Mapping[str, str],
    *,
    workspace: Path,
    runner_temp: Path,
    github: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    stubs: Mapping[str, Callable[[StepResult], None]] | None = None,
    step_timeout_s: float = 600,
) -> ActionRun:
    """Run every step of `action_file` as a runner would; `stubs` maps a `uses:` prefix to a function
    called with the recorded step (e.g. to check the artifact's path)."""
    action_file = action_file.resolve()
    action = load_action(action_file)
    holes = expressions_in_run_blocks(action)
    if holes:
        raise ActionError(f"expressions inside run: in steps {holes} (use env:)")
    declared = action.get("inputs") or {}
    unknown = set(inputs) - set(declared)
    if unknown:
        raise ActionError(f"inputs not declared by the action: {sorted(unknown)}")

    github_context = _github_context(workspace, github, action_path=str(action_file.parent))
    base_env = _runner_env(workspace, runner_temp, github_context, env, action_file.parent)
    contexts: dict[str, Any] = {"github": github_context, "runner": _runner_context(runner_temp), "steps": {},
                                "env": base_env, "inputs": {}}
    for name, spec in declared.items():
        given = inputs.get(name)
        contexts["inputs"][name] = given if given is not None else interpolate((spec or {}).get("default", ""),
                                                                               contexts)
    results, failed = _run_steps(action["runs"]["steps"], contexts, base_env, runner_temp, workspace,
                                 stubs, step_timeout_s, in_action=True)
    outputs = {name: interpolate((spec or {}).get("value", ""), contexts)
               for name, spec in (action.get("outputs") or {}).items()}
    return ActionRun(results, outputs, failed)


@dataclass
class JobRun:
    skipped: bool
    steps: list[StepResult] = field(default_factory=list)
    failed: bool = False
    actions: dict[str, ActionRun] = field(default_factory=dict)  # step id -> the local action's run

    @property
    def log(self) -> str:
        return ActionRun(self.steps, {}, self.failed).log

    def step(self, key: str) -> StepResult:
        return ActionRun(self.steps, {}, self.failed).step(key)


def run_job(
    workflow_file: Path,
    job_id: str,
    *,
    workspace: Path,
    runner_temp: Path,
    github: Mapping[str, Any] | None = None,
    inputs: Mapping[str, str] | None = None,
    needs: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    stubs: Mapping[str, Callable[[StepResult], None]] | None = None,
    step_timeout_s: float = 600,
    secrets: Mapping[str, str] | None = None,
) -> JobRun:
    """Run one job of a workflow (`needs` holds the earlier jobs' result and outputs, `secrets` the
    repository's secrets: any other is empty, as on GitHub): its `if:`,
    workflow and job `env:`, its steps (`run:` steps with
    the default shell `bash -e {0}` unless they name one), `uses: ./` through run_action (on the
    action.yml in the workspace), other `uses:` stubbed. No services, matrix or containers."""
    workflow = yaml.safe_load(workflow_file.read_text(encoding="utf-8"))
    job = workflow["jobs"][job_id]
    github_context = _github_context(workspace, github)
    base_env = _runner_env(workspace, runner_temp, github_context, env, None)
    contexts: dict[str, Any] = {"github": github_context, "runner": _runner_context(runner_temp), "steps": {},
                                "env": base_env, "inputs": dict(inputs or {}), "needs": dict(needs or {}),
                                "secrets": dict(secrets or {})}  # a secret not given is empty, as on GitHub
    if not condition_holds(job.get("if"), contexts, failed=False):
        return JobRun(skipped=True)
    for scope in (workflow.get("env") or {}, job.get("env") or {}):
        base_env.update({key: interpolate(value, contexts) for key, value in scope.items()})
    job_run = JobRun(skipped=False)

    def local_action(step: StepResult) -> None:
        action_run = run_action(workspace / step.uses / "action.yml", step.with_, workspace=workspace,
                                runner_temp=runner_temp, github=github, env=base_env, stubs=stubs,
                                step_timeout_s=step_timeout_s)
        job_run.actions[step.id or str(step.index)] = action_run
        step.outputs = dict(action_run.outputs)
        step.log = action_run.log
        step.outcome = "failure" if action_run.failed else "success"

    job_run.steps, job_run.failed = _run_steps(job["steps"], contexts, base_env, runner_temp, workspace,
                                               {"./": local_action, **(stubs or {})}, step_timeout_s,
                                               in_action=False)
    return job_run


def _runner_context(runner_temp: Path) -> dict[str, str]:
    return {"temp": str(runner_temp), "os": "Linux", "arch": "X64"}


def _run_steps(steps: list[dict], contexts: dict, base_env: dict, runner_temp: Path, workspace: Path,
               stubs: Mapping[str, Callable[[StepResult], None]] | None, timeout_s: float,
               in_action: bool) -> tuple[list[StepResult], bool]:
    results: list[StepResult] = []
    failed = False
    for index, step in enumerate(steps):
        result = StepResult(index=index, id=str(step.get("id", "")), name=str(step.get("name", "")),
                            outcome="skipped", uses=str(step.get("uses", "")))
        results.append(result)
        if not condition_holds(step.get("if"), contexts, failed):
            _record(contexts, result)
            continue
        result.env = {key: interpolate(value, contexts) for key, value in (step.get("env") or {}).items()}
        if "uses" in step:
            result.with_ = {key: interpolate(value, contexts) for key, value in (step.get("with") or {}).items()}
            result.outcome = "success"
            for prefix, stub in (stubs or {}).items():
                if result.uses.startswith(prefix):
                    stub(result)
                    break
        else:
            shell = step.get("shell")
            if in_action and shell != "bash":
                raise ActionError(f"step {index}: a composite step needs shell: bash, not {shell!r}")
            if shell not in (None, "bash"):
                raise ActionError(f"step {index}: only bash is supported, not {shell!r}")
            command = BASH if shell == "bash" else DEFAULT_BASH
            _run_bash(step, result, contexts, base_env, runner_temp, workspace, timeout_s, command)
        failed = failed or result.outcome == "failure"
        _record(contexts, result)
    return results, failed


def _record(contexts: dict, result: StepResult) -> None:
    if result.id:
        contexts["steps"][result.id] = {"outputs": result.outputs, "outcome": result.outcome,
                                        "conclusion": result.outcome}


def _run_bash(step: dict, result: StepResult, contexts: dict, base_env: dict, runner_temp: Path,
              workspace: Path, timeout_s: float, command: list[str]) -> None:
    files = runner_temp / "_runner_file_commands"
    files.mkdir(exist_ok=True)
    serial = next(_SERIAL)  # unique across the steps of a job and of the actions it uses
    paths = {name: files / f"{name.lower()}_{serial}" for name in
             ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH", "GITHUB_STEP_SUMMARY")}
    for path in paths.values():
        path.write_text("")
    script = runner_temp / f"step_{serial}.sh"
    script.write_text(str(step["run"]))
    step_env = {**base_env, **result.env, **{name: str(path) for name, path in paths.items()}}
    cwd = workspace / step["working-directory"] if step.get("working-directory") else workspace
    process = subprocess.Popen([*command, str(script)], cwd=cwd, env=step_env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        log, _ = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        log, _ = process.communicate()
        log += f"\n[harness] step killed after {timeout_s} s"
    result.log = log
    result.returncode = process.returncode
    result.outcome = "success" if process.returncode == 0 else "failure"
    result.outputs = read_command_file(paths["GITHUB_OUTPUT"])
    result.summary = paths["GITHUB_STEP_SUMMARY"].read_text(encoding="utf-8")
    base_env.update(read_command_file(paths["GITHUB_ENV"]))
    added = [line for line in paths["GITHUB_PATH"].read_text().splitlines() if line.strip()]
    if added:
        base_env["PATH"] = os.pathsep.join([*reversed(added), base_env.get("PATH", "")])
