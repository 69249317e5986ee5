"""The local stack: Redis, the provider emulator, a Langfuse target and the real LiteLLM proxy.

`invoke dev` runs it in the foreground; the integration tests start it once per run on
free ports. Every secret is generated for the run and handed to the processes through
their environment (never argv, so `ps` does not show them) or a 0600 file.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from gateway.clients import Client, ClientRegistry, ClientsFileError, client_for_key
from gateway.clients import clients_file as clients_text
from pydantic import ValidationError

from devstack import signals
from devstack.ports import PortSpecError, can_bind, describe_holder, duplicates, valid_port
from devstack.processes import (
    LOOPBACK,
    ManagedProcess,
    Progress,
    StackError,
    free_port,
    http_json,
    redis_accepts,
)
from devstack.venvs import ensure_litellm_venv
from platform_deploy.config.files import REPO_ROOT

LITELLM_CONFIG = REPO_ROOT / "services" / "litellm" / "config.yaml"
# How LiteLLM is served, here as in its image (services/litellm/Dockerfile): its default,
# uvicorn with one worker. In repeated bench runs Granian held the same 45-60 requests/s
# with p99 < 50 ms on this machine for ~330 MB more; two workers no more per core.
LITELLM_SERVER_ARGS: tuple[str, ...] = ()
MODELS = ("claude-sonnet", "groq-llama")

# The development client of `invoke dev`: a documented, low-entropy key that only the
# local stack accepts (its file is generated at start-up, never mounted anywhere else).
DEV_CLIENT_KEY = "sk-gw-dev-local-only"  # pragma: allowlist secret

REAL_ANTHROPIC_API_BASE = "https://api.anthropic.com"
REAL_GROQ_API_BASE = "https://api.groq.com/openai/v1"

# What a child process may inherit from the caller's environment. Everything else is
# set explicitly, so a developer's real provider keys never reach a test by accident.
INHERITED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")


def _token(prefix: str, nbytes: int = 24) -> str:
    return f"{prefix}{secrets.token_hex(nbytes)}"


@dataclass(frozen=True)
class StackSecrets:
    """Credentials generated for one run of the local stack."""

    litellm_master_key: str = field(default_factory=lambda: _token("sk-"))
    anthropic_api_key: str = field(default_factory=lambda: _token("sk-ant-emulated-"))
    groq_api_key: str = field(default_factory=lambda: _token("gsk_emulated_"))
    langfuse_public_key: str = field(default_factory=lambda: _token("pk-lf-", 16))
    langfuse_secret_key: str = field(default_factory=lambda: _token("sk-lf-", 16))
    redis_password: str = field(default_factory=lambda: secrets.token_hex(24))

    def __repr__(self) -> str:
        return "StackSecrets(<redacted>)"


@dataclass(frozen=True)
class LangfuseTarget:
    """Where LiteLLM sends traces: a real Langfuse, or the local receiver when `local`."""

    host: str
    public_key: str
    secret_key: str
    local: bool

    def __repr__(self) -> str:
        return f"LangfuseTarget(host={self.host!r}, local={self.local})"

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> LangfuseTarget | None:
        """A real Langfuse when LANGFUSE_HOST and both keys are set, else None."""
        names = ("LANGFUSE_HOST", "LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY")
        values = [environ.get(name, "").strip() for name in names]
        if not all(values):
            return None
        return cls(host=values[0], public_key=values[1], secret_key=values[2], local=False)


@dataclass(frozen=True)
class Providers:
    """The upstream APIs LiteLLM calls: the emulator (default) or the real ones."""

    anthropic_api_base: str
    groq_api_base: str
    anthropic_api_key: str
    groq_api_key: str
    emulated: bool

    def __repr__(self) -> str:
        return f"Providers(anthropic={self.anthropic_api_base!r}, groq={self.groq_api_base!r})"

    @classmethod
    def real(cls, environ: Mapping[str, str]) -> Providers:
        missing = [n for n in ("ANTHROPIC_API_KEY", "GROQ_API_KEY") if not environ.get(n)]
        if missing:
            raise StackError(f"real providers need {' and '.join(missing)} in the environment")
        return cls(
            anthropic_api_base=REAL_ANTHROPIC_API_BASE,
            groq_api_base=REAL_GROQ_API_BASE,
            anthropic_api_key=environ["ANTHROPIC_API_KEY"],
            groq_api_key=environ["GROQ_API_KEY"],
            emulated=False,
        )


@dataclass(frozen=True)
class GatewayClient:
    """A client of the gateway for this run: its key, models and limits."""

    name: str
    key: str = field(default_factory=lambda: _token("sk-gw-", 32), repr=False)
    models: tuple[str, ...] = MODELS
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None

    def file_entry(self) -> Client:
        return client_for_key(
            self.name, self.key, self.models, self.requests_per_minute, self.tokens_per_minute
        )


class PortsTaken(StackError):
    """Ports the stack needs are taken; the message has one line for each."""


@dataclass(frozen=True)
class StackPorts:
    redis: int
    emulator: int
    receiver: int
    litellm: int
    gateway: int

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The names `--ports` takes: gateway, litellm, redis, emulator, receiver."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def documented(cls) -> StackPorts:
        """The ports the documentation and `invoke dev` use."""
        return cls(redis=6379, emulator=8090, receiver=3000, litellm=4000, gateway=8002)

    @classmethod
    def chosen(cls, offset: int = 0, overrides: Mapping[str, int] | None = None) -> StackPorts:
        """The documented ports moved by `offset`, then the ones named in `overrides`;
        PortSpecError if one is out of range or two processes would share one."""
        overrides = dict(overrides or {})
        ports = {name: port + offset for name, port in dataclasses.asdict(cls.documented()).items()}
        for name in ports.keys() - overrides.keys():
            valid_port(ports[name], f"{name} ({ports[name] - offset} + offset {offset})")
        ports |= overrides
        clashes = duplicates(ports)
        if clashes:
            raise PortSpecError(f"one port for two processes: {'; '.join(clashes)}")
        return cls(**ports)

    @classmethod
    def free(cls) -> StackPorts:
        return cls(
            redis=free_port(), emulator=free_port(), receiver=free_port(),
            litellm=free_port(), gateway=free_port(),
        )  # fmt: skip


@dataclass
class LocalStack:
    """The processes of the local stack, started in dependency order and stopped in reverse."""

    run_dir: Path
    ports: StackPorts
    secrets: StackSecrets = field(default_factory=StackSecrets)
    langfuse: LangfuseTarget | None = None
    use_real_providers: bool = False
    # Share a Redis already on ports.redis, if it takes secrets.redis_password (else the
    # stack starts its own on a free port and says why in redis_origin).
    reuse_running_redis: bool = False
    litellm_extra_env: Mapping[str, str] = field(default_factory=dict)
    # Prepended to LiteLLM's command line, e.g. strace to record its connect() calls.
    litellm_argv_prefix: Sequence[str] = ()
    gateway_clients: Sequence[GatewayClient] = (GatewayClient("dev", key=DEV_CLIENT_KEY),)
    # Clients kept across runs (`invoke mint-client-key` adds to it), served beside
    # gateway_clients; `invoke dev` passes <run dir>/clients.json. Only key hashes are in it.
    local_clients_file: Path | None = None
    gateway_extra_env: Mapping[str, str] = field(default_factory=dict)
    # Hears what the start is waiting for (`invoke dev` prints it); tests leave it silent.
    progress: Progress | None = None
    processes: dict[str, ManagedProcess] = field(default_factory=dict)
    # Filled in by start(): where Redis came from, the local clients served, and what the
    # gateway's /readyz said about its dependencies once the stack was up.
    redis_origin: str = field(default="", init=False)
    local_clients: tuple[Client, ...] = field(default=(), init=False)
    gateway_dependencies: dict[str, str] = field(default_factory=dict, init=False)

    @property
    def litellm_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ports.litellm}"

    @property
    def gateway_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ports.gateway}"

    @property
    def emulator_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ports.emulator}"

    @property
    def receiver_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ports.receiver}"

    @property
    def langfuse_target(self) -> LangfuseTarget:
        """The Langfuse given, else this run's local OTLP receiver with its own key pair."""
        if self.langfuse is not None:
            return self.langfuse
        return LangfuseTarget(
            host=self.receiver_url,
            public_key=self.secrets.langfuse_public_key,
            secret_key=self.secrets.langfuse_secret_key,
            local=True,
        )

    def providers(self) -> Providers:
        if self.use_real_providers:
            return Providers.real(os.environ)
        return Providers(
            anthropic_api_base=self.emulator_url,
            groq_api_base=f"{self.emulator_url}/openai/v1",
            anthropic_api_key=self.secrets.anthropic_api_key,
            groq_api_key=self.secrets.groq_api_key,
            emulated=True,
        )

    # -- process definitions ------------------------------------------------------------

    def _base_env(self) -> dict[str, str]:
        return {name: os.environ[name] for name in INHERITED_ENV if name in os.environ}

    def redis_process(self) -> ManagedProcess:
        conf = self.run_dir / "redis.conf"
        conf.write_text(
            f"bind {LOOPBACK}\nport {self.ports.redis}\nprotected-mode yes\n"
            f'save ""\nappendonly no\nrequirepass {self.secrets.redis_password}\n'
            # Langfuse requires noeviction on the Redis it shares (its queues live there).
            "maxmemory-policy noeviction\n"
        )
        conf.chmod(0o600)
        return ManagedProcess(
            name="redis",
            argv=["redis-server", str(conf)],
            env=self._base_env(),
            log_path=self.run_dir / "redis.log",
            ready_port=self.ports.redis,
        )

    def emulator_process(self) -> ManagedProcess:
        env = self._base_env() | {
            "EMULATOR_ANTHROPIC_API_KEYS": self.secrets.anthropic_api_key,
            "EMULATOR_GROQ_API_KEYS": self.secrets.groq_api_key,
        }
        return ManagedProcess(
            name="provider-emulator",
            argv=[
                sys.executable,
                "-m",
                "provider_emulator",
                "--host",
                LOOPBACK,
                "--port",
                str(self.ports.emulator),
            ],
            env=env,
            log_path=self.run_dir / "provider-emulator.log",
            ready_url=f"{self.emulator_url}/healthz",
        )

    def receiver_process(self) -> ManagedProcess:
        env = self._base_env() | {
            "LANGFUSE_PUBLIC_KEY": self.secrets.langfuse_public_key,
            "LANGFUSE_SECRET_KEY": self.secrets.langfuse_secret_key,
        }
        return ManagedProcess(
            name="langfuse-receiver",
            argv=[
                sys.executable,
                "-m",
                "devstack.langfuse_receiver",
                "--host",
                LOOPBACK,
                "--port",
                str(self.ports.receiver),
            ],
            env=env,
            log_path=self.run_dir / "langfuse-receiver.log",
            ready_url=f"{self.receiver_url}/healthz",
        )

    def litellm_env(self) -> dict[str, str]:
        providers = self.providers()
        langfuse = self.langfuse_target
        return (
            self._base_env()
            | {
                "LITELLM_MASTER_KEY": self.secrets.litellm_master_key,
                "ANTHROPIC_API_KEY": providers.anthropic_api_key,
                "ANTHROPIC_API_BASE": providers.anthropic_api_base,
                "GROQ_API_KEY": providers.groq_api_key,
                "GROQ_API_BASE": providers.groq_api_base,
                "LANGFUSE_HOST": langfuse.host,
                "LANGFUSE_PUBLIC_KEY": langfuse.public_key,
                "LANGFUSE_SECRET_KEY": langfuse.secret_key,
                # Langfuse's environment and release, as the chart sets them for ci and
                # prod (deploy/charts/platform/templates/litellm/deployment.yaml), so local
                # traces are never mistaken for a deployment's.
                "LANGFUSE_TRACING_ENVIRONMENT": "dev",
                "LANGFUSE_RELEASE": "local",
                # Nothing fetched at run time: no remote cost map, no tokenizer download.
                "LITELLM_OFFLINE_MODE": "true",
                "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                "HF_HUB_OFFLINE": "1",
                "PYTHONUNBUFFERED": "1",
            }
            | dict(self.litellm_extra_env)
        )

    def litellm_process(self, litellm_bin: Path) -> ManagedProcess:
        return ManagedProcess(
            name="litellm",
            argv=[
                *self.litellm_argv_prefix,
                str(litellm_bin),
                "--config",
                str(LITELLM_CONFIG),
                "--host",
                LOOPBACK,
                "--port",
                str(self.ports.litellm),
                *LITELLM_SERVER_ARGS,
            ],
            env=self.litellm_env(),
            log_path=self.run_dir / "litellm.log",
            ready_url=f"{self.litellm_url}/health/readiness",
        )

    @property
    def gateway_clients_file(self) -> Path:
        """The file the gateway reads: gateway_clients, then the local clients file's."""
        return self.run_dir / "gateway-clients.json"

    def read_local_clients(self) -> tuple[Client, ...]:
        """The local clients file's entries (none when there is no such file)."""
        path = self.local_clients_file
        if path is None or not path.exists():
            return ()
        try:
            return ClientRegistry.load(path).clients
        except ClientsFileError as error:
            raise StackError(str(error)) from None

    def write_gateway_clients(self) -> None:
        """(Re)write the gateway's clients file; the gateway reads it when it starts."""
        local = self.read_local_clients()
        try:
            text = clients_text([*(c.file_entry() for c in self.gateway_clients), *local])
        except ValidationError as error:
            problems = "; ".join(e["msg"] for e in error.errors(include_input=False))
            raise StackError(
                f"{self.local_clients_file} cannot be served beside the development client "
                f"({', '.join(c.name for c in self.gateway_clients)}): {problems}"
            ) from None
        path = self.gateway_clients_file
        path.touch(mode=0o600)
        path.chmod(0o600)
        path.write_text(text)
        self.local_clients = local

    def gateway_process(self) -> ManagedProcess:
        self.write_gateway_clients()
        clients_file = self.gateway_clients_file
        env = (
            self._base_env()
            | {
                "GATEWAY_HOST": LOOPBACK,
                "GATEWAY_PORT": str(self.ports.gateway),
                "GATEWAY_LITELLM_URL": self.litellm_url,
                "GATEWAY_LITELLM_MASTER_KEY": self.secrets.litellm_master_key,
                "GATEWAY_CLIENTS_FILE": str(clients_file),
                "GATEWAY_REDIS_URL": f"redis://{LOOPBACK}:{self.ports.redis}/0",
                "GATEWAY_REDIS_PASSWORD": self.secrets.redis_password,
            }
            | dict(self.gateway_extra_env)
        )
        return ManagedProcess(
            name="gateway",
            argv=[sys.executable, "-m", "gateway"],
            env=env,
            log_path=self.run_dir / "gateway.log",
            ready_url=f"{self.gateway_url}/readyz",
        )

    def spare_gateway_process(
        self, name: str | None = None, **env: str
    ) -> tuple[ManagedProcess, int]:
        """A second gateway beside the stack's, on a free port, with settings changed; named
        (and its log file) after its port unless a name is given."""
        port = free_port()
        name = name or f"gateway-{port}"
        base = self.gateway_process()
        process = dataclasses.replace(
            base,
            name=name,
            env={**base.env, "GATEWAY_PORT": str(port), **env},
            log_path=self.run_dir / f"{name}.log",
            ready_url=f"http://{LOOPBACK}:{port}/readyz",
        )
        return process, port

    # -- lifecycle ----------------------------------------------------------------------

    def bound_ports(self) -> dict[str, int]:
        """The ports this stack's own servers will listen on, by `--ports` name (Redis's is
        decided on its own: a taken one may be reused, or replaced by a free one)."""
        ports = {"gateway": self.ports.gateway, "litellm": self.ports.litellm}
        if not self.use_real_providers:
            ports["emulator"] = self.ports.emulator
        if self.langfuse_target.local:
            ports["receiver"] = self.ports.receiver
        return ports

    def check_ports(self) -> None:
        """Raise PortsTaken, one line per taken port naming its process, before anything
        starts: a server that cannot bind would only say so in its log."""
        taken = [
            f"port {port} ({name}) is taken by {describe_holder(port)}; choose another with "
            f"--ports {name}=PORT, or move every port with --port-offset N"
            for name, port in self.bound_ports().items()
            if not can_bind(port)
        ]
        if taken:
            raise PortsTaken("\n".join(taken))

    def _plan_redis(self) -> ManagedProcess | None:
        """Our own Redis, or None to reuse the one on the port: only if it accepts this
        run's password (a Redis without one, or with another, is never shared)."""
        port = self.ports.redis
        if can_bind(port):
            self.redis_origin = "started for this run"
            return self.redis_process()
        holder = describe_holder(port)
        if self.reuse_running_redis and redis_accepts(port, self.secrets.redis_password):
            self.redis_origin = f"reused: {holder} accepts this run's password"
            return None
        self.ports = dataclasses.replace(self.ports, redis=free_port())
        self.redis_origin = (
            f"started for this run on a free port: {port} is held by {holder}, which does "
            "not accept this run's password"
        )
        return self.redis_process()

    def _await_gateway_dependencies(self, timeout: float = 10.0) -> None:
        """Wait for the gateway's /readyz to report its first probe of LiteLLM and Redis,
        and fail if either is down: without Redis it would serve with rate limits off
        (fail-open), and say so only in its log."""
        deadline = time.monotonic() + timeout
        state: dict[str, str] = {}
        while time.monotonic() < deadline:
            answer = http_json(f"{self.gateway_url}/readyz")
            state = {name: str(answer.get(name, "unknown")) for name in ("litellm", "redis")}
            if "unknown" not in state.values():
                break
            time.sleep(0.1)
        self.gateway_dependencies = state
        down = []
        if state.get("redis") != "up":
            down.append(
                f"Redis {LOOPBACK}:{self.ports.redis} ({self.redis_origin}) is "
                f"{state.get('redis')}: the gateway would serve with rate limits off (fail-open)"
            )
        if state.get("litellm") != "up":
            down.append(f"LiteLLM {self.litellm_url} is {state.get('litellm')}: calls would fail")
        if down:
            raise StackError(
                f"the gateway's /readyz says {'; '.join(down)}; see {self.run_dir / 'gateway.log'}"
            )

    def start(self) -> None:
        """Start every process in dependency order; on failure stop what was started."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.check_ports()
        litellm_bin = ensure_litellm_venv()
        plan: list[tuple[ManagedProcess, float]] = []
        redis = self._plan_redis()
        if redis is not None:
            plan.append((redis, 10))
        if not self.use_real_providers:
            plan.append((self.emulator_process(), 20))
        if self.langfuse_target.local:
            plan.append((self.receiver_process(), 20))
        # LiteLLM needs 8-15 s to import and start on a 2-core machine.
        plan.append((self.litellm_process(litellm_bin), 90))
        plan.append((self.gateway_process(), 20))
        try:
            for process, timeout in plan:
                self.processes[process.name] = process
                process.start(ready_timeout=timeout, progress=self.progress)
            self._await_gateway_dependencies()
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float | None = None) -> None:
        """Stop every process, the last started first; within `timeout` seconds in all when
        given (then SIGKILL), else each within its own bound."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with signals.deferred():
            for process in reversed(list(self.processes.values())):
                if deadline is None:
                    process.stop()
                else:
                    process.stop(timeout=max(0.5, deadline - time.monotonic()))

    def pids(self) -> dict[str, int]:
        """Each running process's PID (every one leads its own process group)."""
        return {
            name: p.pid for name, p in self.processes.items() if p.pid is not None and p.running
        }

    def restart(self, name: str, ready_timeout: float = 90) -> None:
        process = self.processes[name]
        process.stop()
        process.start(ready_timeout=ready_timeout, progress=self.progress)


@contextmanager
def running_stack(stack: LocalStack) -> Iterator[LocalStack]:
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()
