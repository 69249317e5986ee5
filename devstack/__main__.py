"""`python -m devstack` (`invoke dev`): the local stack in the foreground until Ctrl-C.

Ctrl-C, SIGINT, SIGTERM or SIGHUP stops every process of it within STOP_WITHIN_S seconds.
Ports: the documented ones, moved by --port-offset and set one by one with --ports (or
DEVSTACK_PORT_OFFSET and DEVSTACK_PORTS); each is checked before anything starts.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path

from gateway.mint import LOCAL_CLIENTS_FILE

from devstack import signals
from devstack.banner import banner, clients_table
from devstack.ports import PortSpecError, parse_port_spec
from devstack.processes import StackError
from devstack.stack import (
    LangfuseTarget,
    LocalStack,
    PortsTaken,
    StackPorts,
    StackSecrets,
)
from devstack.venvs import VenvError
from platform_deploy.config.files import REPO_ROOT

# SIGTERM to every process, SIGKILL to what is left after this: within 10 s in all.
STOP_WITHIN_S = 7.0
# Redis's password for this run: generated, unless this variable (its name, not a secret)
# gives the password of a Redis you run yourself on the Redis port, to share it.
REDIS_PASSWORD_VARIABLE = "DEVSTACK_REDIS_PASSWORD"  # noqa: S105  # pragma: allowlist secret


def _parse(argv: list[str]) -> tuple[argparse.Namespace, StackPorts]:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    parser.add_argument(
        "--real-providers",
        action="store_true",
        help="call the real Anthropic and Groq APIs (ANTHROPIC_API_KEY, GROQ_API_KEY) "
        "instead of the provider emulator",
    )
    parser.add_argument(
        "--run-dir",
        type=Path,
        default=Path(os.environ.get("DEVSTACK_RUN_DIR") or REPO_ROOT / ".devstack"),
        help="where logs, the generated master key and the local clients file (clients.json) "
        "go (default: $DEVSTACK_RUN_DIR, else .devstack)",
    )
    parser.add_argument(
        "--ports",
        default=os.environ.get("DEVSTACK_PORTS", ""),
        metavar="NAME=PORT[,...]",
        help=f"set ports one by one; names: {', '.join(StackPorts.names())} "
        "(default: $DEVSTACK_PORTS)",
    )
    parser.add_argument(
        "--port-offset",
        default=os.environ.get("DEVSTACK_PORT_OFFSET", "0"),
        metavar="N",
        help="add N to every documented port, e.g. 100: gateway 8102, LiteLLM 4100 "
        "(default: $DEVSTACK_PORT_OFFSET, else 0)",
    )
    args = parser.parse_args(argv)
    try:
        offset = int(args.port_offset)
    except ValueError:
        parser.error(f"--port-offset: {args.port_offset!r} is not a whole number")
    try:
        ports = StackPorts.chosen(offset, parse_port_spec(args.ports, StackPorts.names()))
    except PortSpecError as error:
        parser.error(str(error))
    return args, ports


def _write_master_key(stack: LocalStack) -> Path:
    """LiteLLM's master key for this run, in a file only its owner can read."""
    path = stack.run_dir / "litellm-master-key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a file left by an older run may have other bits
    with os.fdopen(fd, "w") as handle:
        handle.write(stack.secrets.litellm_master_key + "\n")
    return path


def _mint_hint(stack: LocalStack) -> str:
    hint = "invoke mint-client-key --name demo-limited --models claude-sonnet --rpm 3"
    clients_file = stack.local_clients_file
    if clients_file is not None and clients_file != (Path.cwd() / LOCAL_CLIENTS_FILE).resolve():
        hint += f" --clients-file {clients_file}"
    return hint


def _fingerprint(path: Path | None) -> tuple[int, int, int] | None:
    try:
        status = path.stat() if path is not None else None
    except OSError:
        return None
    return (status.st_ino, status.st_mtime_ns, status.st_size) if status else None


def _reload_clients(stack: LocalStack) -> None:
    """The local clients file changed: the gateway reads its clients when it starts."""
    try:
        stack.write_gateway_clients()
    except StackError as error:
        print(f"devstack: {error}; the gateway keeps the clients it has", file=sys.stderr)
        return
    print(f"{stack.local_clients_file} changed: restarting the gateway")
    stack.restart("gateway", ready_timeout=20)
    print("\n".join(clients_table(stack)))


def _watch(stack: LocalStack) -> int:
    """Until a stop signal: report a process that exits, and serve the local clients file's
    changes. Returns 1 when a process stopped on its own."""
    seen = _fingerprint(stack.local_clients_file)
    while True:
        time.sleep(0.5)
        for process in stack.processes.values():
            if not process.running:
                print(
                    f"{process.name} stopped unexpectedly; see {process.log_path}:\n"
                    f"{process.log_tail()}",
                    file=sys.stderr,
                )
                return 1
        current = _fingerprint(stack.local_clients_file)
        if current != seen:
            seen = current
            _reload_clients(stack)


def _report(error: StackError | VenvError) -> None:
    lines = str(error).splitlines() if isinstance(error, PortsTaken) else [str(error)]
    for line in lines:
        print(f"devstack: {line}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # progress shows as it happens, piped too
    args, ports = _parse(sys.argv[1:] if argv is None else argv)
    run_dir: Path = args.run_dir.resolve()
    secrets = StackSecrets()
    if os.environ.get(REDIS_PASSWORD_VARIABLE):
        secrets = StackSecrets(redis_password=os.environ[REDIS_PASSWORD_VARIABLE])
    stack = LocalStack(
        run_dir=run_dir,
        ports=ports,
        secrets=secrets,
        langfuse=LangfuseTarget.from_environment(os.environ),
        use_real_providers=args.real_providers,
        reuse_running_redis=True,
        local_clients_file=run_dir / LOCAL_CLIENTS_FILE.name,
        progress=print,
    )
    signals.install()
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        stack.check_ports()  # before the key file: a stack already running keeps its key
        key_file = _write_master_key(stack)
        stack.start()
        print(banner(stack, key_file, _mint_hint(stack)))
        return _watch(stack)
    except signals.StopRequested as stop:
        print(f"\n{stop.name}: stopping the local stack ...")
        return 0
    except (StackError, VenvError) as error:
        _report(error)
        return 1
    finally:
        signals.disarm()
        started = bool(stack.processes)
        stack.stop(timeout=STOP_WITHIN_S)
        if started:
            print("Local stack stopped.")


if __name__ == "__main__":
    sys.exit(main())
