"""Command line of the stack: serve, start, stop, wait, users, upstream, bench."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

from stack.accounts import ROLES


def _fail(message: str) -> int:
    print(f"stack: {message}", file=sys.stderr, flush=True)
    return 1


def _apply_data_dir(args) -> None:
    # Options become environment so that uvicorn workers and child processes see the same setting.
    if getattr(args, "data_dir", None):
        os.environ["VOICEASSIST_DATA_DIR"] = str(Path(args.data_dir).resolve())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m stack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    def server_options(sub):
        sub.add_argument("--host", default="127.0.0.1")
        sub.add_argument("--port", type=int, default=8000)
        sub.add_argument("--workers", type=int, default=1)
        sub.add_argument(
            "--data-dir", help="embedded mode's folder (default $VOICEASSIST_DATA_DIR or a temp folder)"
        )
        sub.add_argument(
            "--no-upstream",
            action="store_true",
            help="do not start the model emulator (use OPENAI_BASE_URL, or chat answers BACKEND_ERROR)",
        )
        sub.add_argument("--access-log", action="store_true", help="log every request (costs CPU under load)")

    serve = commands.add_parser("serve", help="run the API in the foreground")
    server_options(serve)

    start = commands.add_parser("start", help="run the API in the background; return once /health answers")
    server_options(start)
    start.add_argument("--log-file", required=True, type=Path)
    start.add_argument("--pid-file", required=True, type=Path)
    start.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for /health")

    stop = commands.add_parser("stop", help="stop a background stack (SIGTERM, then SIGKILL)")
    stop.add_argument("--pid-file", required=True, type=Path)
    stop.add_argument("--grace", type=float, default=10.0, help="seconds between SIGTERM and SIGKILL")

    wait = commands.add_parser("wait", help="wait until URL/health answers 200")
    wait.add_argument("--url", default="http://127.0.0.1:8000")
    wait.add_argument("--timeout", type=float, default=30.0)

    users = commands.add_parser("users", help="bootstrap accounts in the database")
    users_commands = users.add_subparsers(dest="users_command", required=True)
    seed = users_commands.add_parser("seed", help="create or reset the load-test accounts (idempotent)")
    seed.add_argument("--prefix", default="loadtest")
    seed.add_argument("--regular", type=int, default=7)
    seed.add_argument("--power", type=int, default=2)
    seed.add_argument("--viewer", type=int, default=0)
    seed.add_argument("--admin", type=int, default=1)
    seed.add_argument("--password", required=True)
    seed.add_argument("--output", type=Path, help="write the accounts' JSON here instead of stdout")
    seed.add_argument("--data-dir")
    promote = users_commands.add_parser("promote", help="set an account's role")
    promote.add_argument("email")
    promote.add_argument("--role", choices=ROLES, default="admin")
    promote.add_argument("--data-dir")

    upstream = commands.add_parser("upstream", help="run the OpenAI-compatible model emulator")
    upstream.add_argument("--host", default="127.0.0.1")
    upstream.add_argument("--port", type=int, default=8001)
    upstream.add_argument("--first-token-ms", type=float)
    upstream.add_argument("--tokens-per-second", type=float)
    upstream.add_argument("--answer-tokens", type=int)
    upstream.add_argument("--jitter", type=float)
    upstream.add_argument("--seed", type=int)

    bench = commands.add_parser("bench", help="throughput and p50/p95 per endpoint, both modes")
    bench.add_argument("--modes", default="embedded,pg", help="comma-separated: embedded, pg")
    bench.add_argument("--clients", type=int, help="concurrent clients (default 10; 4 with --upstream)")
    bench.add_argument(
        "--requests", type=int, help="requests per endpoint, bounded by --seconds (default 1000; 40 with --upstream)"
    )
    bench.add_argument("--seconds", type=float, default=20.0, help="time cap per endpoint")
    bench.add_argument("--workers", type=int, default=1, help="uvicorn workers of the benched stack")
    bench.add_argument("--upstream", action="store_true",
                       help="measure the model emulator's latency model instead: configured vs measured medians")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _apply_data_dir(args)

    if args.command == "serve":
        from stack.server import serve

        return serve(args.host, args.port, args.workers, not args.no_upstream, args.access_log)

    if args.command == "start":
        from stack.process import ProcessError, start

        serve_args = ["--no-upstream"] if args.no_upstream else []
        serve_args += ["--access-log"] if args.access_log else []
        try:
            print(
                start(
                    args.host, args.port, args.log_file, args.pid_file, args.workers, args.timeout, serve_args
                )
            )
        except ProcessError as exc:
            return _fail(str(exc))
        return 0

    if args.command == "stop":
        from stack.process import stop

        print(f"stack: {stop(args.pid_file, args.grace)}")
        return 0

    if args.command == "wait":
        from stack.process import ProcessError, wait

        try:
            wait(args.url, args.timeout)
        except ProcessError as exc:
            return _fail(str(exc))
        return 0

    if args.command == "users":
        from stack import bootstrap
        from stack.settings import Settings

        settings = Settings.from_env()
        if args.users_command == "seed":
            counts = {
                "regular": args.regular,
                "power": args.power,
                "viewer": args.viewer,
                "admin": args.admin,
            }
            seeded = asyncio.run(bootstrap.seed_accounts(settings, args.prefix, counts, args.password))
            document = json.dumps({"accounts": seeded}, indent=2)
            if args.output:
                args.output.write_text(document + "\n")
                print(f"stack: {len(seeded)} accounts written to {args.output}")
            else:
                print(document)
            return 0
        if not asyncio.run(bootstrap.promote(settings, args.email, args.role)):
            return _fail(f"no account with email {args.email}")
        print(f"stack: {args.email} is now {args.role}")
        return 0

    if args.command == "upstream":
        import uvicorn

        from stack.upstream.latency import LatencyModel
        from stack.upstream.server import create_upstream_app

        model = LatencyModel.from_env(
            first_token_ms=args.first_token_ms,
            tokens_per_second=args.tokens_per_second,
            answer_tokens=args.answer_tokens,
            jitter=args.jitter,
            seed=args.seed,
        )
        uvicorn.run(
            create_upstream_app(model), host=args.host, port=args.port, access_log=False, log_level="warning"
        )
        return 0

    if args.command == "bench" and args.upstream:
        from stack.upstream.bench import run_upstream_bench

        return run_upstream_bench(args.clients or 4, args.requests or 40)
    if args.command == "bench":
        from stack.bench import run_bench

        modes = [mode.strip() for mode in args.modes.split(",") if mode.strip()]
        return run_bench(modes, args.clients or 10, args.requests or 1000, args.seconds, args.workers)
    return 2


if __name__ == "__main__":
    sys.exit(main())
