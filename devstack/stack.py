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
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from gateway.clients import Client, client_for_key
from gateway.clients import clients_file as clients_text

from devstack.processes import LOOPBACK, ManagedProcess, StackError, free_port, port_is_open
from devstack.venvs import ensure_litellm_venv
from platform_deploy.config.files import REPO_ROOT

LITELLM_CONFIG = REPO_ROOT / "services" / "litellm" / "config.yaml"
GATEWAY_SOURCE = REPO_ROOT / "services" / "gateway"
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


@dataclass(frozen=True)
class StackPorts:
    redis: int
    emulator: int
    receiver: int
    litellm: int
    gateway: int

    @classmethod
    def documented(cls) -> StackPorts:
        """The ports the documentation and `invoke dev` use."""
        return cls(redis=6379, emulator=8090, receiver=3000, litellm=4000, gateway=8002)

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
    reuse_running_redis: bool = False
    litellm_extra_env: Mapping[str, str] = field(default_factory=dict)
    # Prepended to LiteLLM's command line, e.g. strace to record its connect() calls.
    litellm_argv_prefix: Sequence[str] = ()
    gateway_clients: Sequence[GatewayClient] = (GatewayClient("dev", key=DEV_CLIENT_KEY),)
    gateway_extra_env: Mapping[str, str] = field(default_factory=dict)
    processes: dict[str, ManagedProcess] = field(default_factory=dict)

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

    def gateway_process(self) -> ManagedProcess:
        clients_file = self.run_dir / "gateway-clients.json"
        clients_file.write_text(clients_text(c.file_entry() for c in self.gateway_clients))
        clients_file.chmod(0o600)
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

    def start(self) -> None:
        """Start every process in dependency order; on failure stop what was started."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        litellm_bin = ensure_litellm_venv()
        plan: list[tuple[ManagedProcess, float]] = []
        if not (self.reuse_running_redis and port_is_open(self.ports.redis)):
            plan.append((self.redis_process(), 10))
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
                process.start(ready_timeout=timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            process.stop()

    def restart(self, name: str, ready_timeout: float = 90) -> None:
        process = self.processes[name]
        process.stop()
        process.start(ready_timeout=ready_timeout)


@contextmanager
def running_stack(stack: LocalStack) -> Iterator[LocalStack]:
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()
