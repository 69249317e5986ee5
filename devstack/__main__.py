"""`python -m devstack` (`invoke dev`): the local stack in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from devstack.processes import StackError
from devstack.stack import DEV_CLIENT_KEY, LangfuseTarget, LocalStack, StackPorts
from devstack.venvs import VenvError
from platform_deploy.config.files import REPO_ROOT


class _Stop(Exception):
    """Raised from the signal handler to leave the wait loop."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def _parse(argv: list[str]) -> argparse.Namespace:
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
        default=REPO_ROOT / ".devstack",
        help="where logs, Redis's config and the generated master key go (default: .devstack)",
    )
    return parser.parse_args(argv)


def _describe(stack: LocalStack, key_file: Path) -> str:
    langfuse = stack.langfuse_target
    providers = stack.providers()
    lines = [
        "Local stack is up (Ctrl-C stops it):",
        f"  Shared AI Gateway  {stack.gateway_url}   (development client key: {DEV_CLIENT_KEY})",
        f"  LiteLLM proxy      {stack.litellm_url}",
        f"  Redis              127.0.0.1:{stack.ports.redis}"
        + ("" if "redis" in stack.processes else " (already running; reused)"),
        f"  Anthropic API      {providers.anthropic_api_base}"
        + (" (provider emulator)" if providers.emulated else " (real)"),
        f"  Groq API           {providers.groq_api_base}"
        + (" (provider emulator)" if providers.emulated else " (real)"),
        f"  Langfuse           {langfuse.host}"
        + (" (local OTLP receiver: see /_receiver/spans)" if langfuse.local else ""),
        f"  Logs               {stack.run_dir}/*.log",
        "",
        'Call the gateway (add "stream": true to stream; model groq-llama for Groq):',
        f"  curl -s {stack.gateway_url}/v1/chat/completions \\",
        f"    -H 'Authorization: Bearer {DEV_CLIENT_KEY}' -H 'X-Session-Id: demo-1' \\",
        "    -H 'Content-Type: application/json' \\",
        '    -d \'{"model": "claude-sonnet", "messages": [{"role": "user", "content": "Hello"}]}\'',
        "",
        "LiteLLM directly (its master key was generated for this run and is not printed):",
        f'  curl -s {stack.litellm_url}/v1/models -H "Authorization: Bearer $(cat {key_file})"',
    ]
    if langfuse.local:
        lines += ["", f"Spans LiteLLM sent: curl -s {stack.receiver_url}/_receiver/spans"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    stack = LocalStack(
        run_dir=args.run_dir.resolve(),
        ports=StackPorts.documented(),
        langfuse=LangfuseTarget.from_environment(os.environ),
        use_real_providers=args.real_providers,
        reuse_running_redis=True,
    )
    # Explicit handlers: a shell starts background jobs with SIGINT ignored, and Python
    # then never raises KeyboardInterrupt; the stack must stop its children either way.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _raise_stop)
    try:
        stack.run_dir.mkdir(parents=True, exist_ok=True)
        key_file = stack.run_dir / "litellm-master-key"
        key_file.touch(mode=0o600)
        key_file.write_text(stack.secrets.litellm_master_key + "\n")
        stack.start()
        print(_describe(stack, key_file), flush=True)
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
    except (StackError, VenvError) as error:
        print(f"devstack: {error}", file=sys.stderr)
        return 1
    except _Stop:
        print("\nStopping the local stack ...", flush=True)
        return 0
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
