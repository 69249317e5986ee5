"""How the deploy engine treats each environment: the `deploy:` part of environments.yaml.

Every behaviour that differs between environments (confirmation, rollback on failure, where
secrets come from, the cluster's identity, timeouts, what verification calls) is a value
here, so the engine has no branch on an environment's name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from platform_deploy.config.durations import parse_duration as _parse_go_duration

if TYPE_CHECKING:  # environments.py loads these settings: no import back at run time
    from platform_deploy.config.environments import EnvironmentName

SecretSource = Literal["generated", "external-secrets"]
# How Helm 4 waits for a release (its --wait): "watcher" follows kstatus, which turns a
# Deployment past its progressDeadlineSeconds (default 600 s) into Failed, and Helm 4.1.4's
# status waiter then stops; "legacy" (Helm 3's readiness polling) waits for every resource
# up to --timeout, whatever a Deployment's progress deadline. Helm's "hookOnly" does not wait
# for readiness at all, so it is not offered.
WaitStrategy = Literal["watcher", "legacy"]
DEFAULT_WAIT: WaitStrategy = "watcher"
# What a Deployment's progressDeadlineSeconds is when its manifest does not set one.
DEFAULT_PROGRESS_DEADLINE_S = 600
# Marks a value the operator must fill in; the identity guard refuses to run on it.
PLACEHOLDER_PREFIX = "REPLACE-ME"


class SettingsError(ValueError):
    """environments.yaml's deploy section is malformed; the message names the key."""


def parse_duration(text: str) -> int:
    """durations.parse_duration, failing as a settings error (the message names the value)."""
    try:
        return _parse_go_duration(text)
    except ValueError as error:
        raise SettingsError(str(error)) from None


@dataclass(frozen=True)
class ClusterIdentity:
    """What the reached cluster must be: its API server URL, or its kube-system UID."""

    api_server: str | None = None
    kube_system_uid: str | None = None


@dataclass(frozen=True)
class BootstrapSecret:
    secret: str
    namespace: str
    key: str
    from_env: str


@dataclass(frozen=True)
class SecretsSettings:
    source: SecretSource
    sync_timeout_s: int = 300
    bootstrap: tuple[BootstrapSecret, ...] = ()


@dataclass(frozen=True)
class ServiceRef:
    namespace: str
    service: str
    port: int


@dataclass(frozen=True)
class SecretKeyRef:
    """A value read from the cluster's Secret, or from the operator's environment."""

    secret: str | None = None
    namespace: str | None = None
    key: str | None = None
    from_env: str | None = None


@dataclass(frozen=True)
class Probe:
    """A short-lived pod with these labels tries host:port; expect 'open' or 'closed'."""

    name: str
    labels: dict[str, str]
    namespace: str
    host: str
    port: int
    expect: Literal["open", "closed"]


@dataclass(frozen=True)
class VerifySettings:
    gateway: ServiceRef
    gateway_key: SecretKeyRef
    langfuse_keys: SecretKeyRef
    model: str
    trace_timeout_s: int
    probe_image: str
    probes: tuple[Probe, ...]
    # Langfuse is reached in-cluster through a port-forward, or at a public URL.
    langfuse_service: ServiceRef | None = None
    langfuse_url: str | None = None
    # How the deliberately failing request fails: a message the test provider answers with
    # an error, or a max_tokens the real provider rejects.
    failing_message: str | None = None
    failing_max_tokens: int | None = None


@dataclass(frozen=True)
class CarryOver:
    """A Langfuse secret whose value must survive adoption (SALT, ENCRYPTION_KEY)."""

    env: str
    secret: str
    key: str
    values_path: str


@dataclass(frozen=True)
class SharedRedis:
    namespace: str
    selector: str
    container: str
    secret: str
    key: str


@dataclass(frozen=True)
class AdoptionSettings:
    release: str | None = None
    carry_over: tuple[CarryOver, ...] = ()
    shared_redis: SharedRedis | None = None
    backups: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeploySettings:
    environment: EnvironmentName
    cluster: ClusterIdentity
    confirm: bool
    rollback_on_failure: bool
    secrets: SecretsSettings
    namespaces: tuple[str, ...]
    timeouts_s: dict[str, int]
    verify: VerifySettings
    adoption: AdoptionSettings = field(default_factory=AdoptionSettings)
    # Releases that Helm waits for otherwise than with the watcher (see WaitStrategy).
    waits: dict[str, WaitStrategy] = field(default_factory=dict)

    def timeout_s(self, release: str) -> int:
        try:
            return self.timeouts_s[release]
        except KeyError:
            raise SettingsError(f"{self.environment}: no timeout for release {release}") from None

    def wait(self, release: str) -> WaitStrategy:
        return self.waits.get(release, DEFAULT_WAIT)


def _secret_ref(raw: dict[str, Any]) -> SecretKeyRef:
    return SecretKeyRef(
        secret=raw.get("secret"),
        namespace=raw.get("namespace"),
        key=raw.get("key"),
        from_env=raw.get("fromEnv"),
    )


def _service(raw: dict[str, Any]) -> ServiceRef:
    return ServiceRef(str(raw["namespace"]), str(raw["service"]), int(raw["port"]))


def _probe(raw: dict[str, Any]) -> Probe:
    expect = raw["expect"]
    if expect not in ("open", "closed"):
        raise SettingsError(f"probe {raw.get('name')}: expect is open or closed")
    return Probe(
        name=str(raw["name"]),
        labels={str(k): str(v) for k, v in (raw.get("labels") or {}).items()},
        namespace=str(raw["namespace"]),
        host=str(raw["host"]),
        port=int(raw["port"]),
        expect="open" if expect == "open" else "closed",
    )


def _verify(raw: dict[str, Any]) -> VerifySettings:
    langfuse = raw["langfuse"]
    return VerifySettings(
        gateway=_service(raw["gateway"]),
        gateway_key=_secret_ref(raw["gatewayKey"]),
        langfuse_keys=_secret_ref(raw["langfuseKeys"]),
        model=str(raw["model"]),
        trace_timeout_s=parse_duration(str(raw["traceTimeout"])),
        probe_image=str(raw["probeImage"]),
        probes=tuple(_probe(probe) for probe in raw.get("probes") or ()),
        langfuse_service=_service(langfuse) if "service" in langfuse else None,
        langfuse_url=langfuse.get("url"),
        failing_message=raw.get("failingMessage"),
        failing_max_tokens=raw.get("failingMaxTokens"),
    )


def _secrets(raw: dict[str, Any]) -> SecretsSettings:
    source = raw["source"]
    if source not in ("generated", "external-secrets"):
        raise SettingsError(f"secrets.source {source!r}: generated or external-secrets")
    return SecretsSettings(
        source="generated" if source == "generated" else "external-secrets",
        sync_timeout_s=parse_duration(str(raw.get("syncTimeout", "5m"))),
        bootstrap=tuple(
            BootstrapSecret(str(b["secret"]), str(b["namespace"]), str(b["key"]), str(b["fromEnv"]))
            for b in raw.get("bootstrap") or ()
        ),
    )


def _waits(raw: dict[str, Any], where: str) -> dict[str, WaitStrategy]:
    waits: dict[str, WaitStrategy] = {}
    for release, strategy in raw.items():
        if strategy == "watcher":
            waits[str(release)] = "watcher"
        elif strategy == "legacy":
            waits[str(release)] = "legacy"
        else:
            raise SettingsError(f"{where}.waits.{release}: {strategy!r} is watcher or legacy")
    return waits


def _adoption(raw: dict[str, Any]) -> AdoptionSettings:
    redis = raw.get("sharedRedis")
    return AdoptionSettings(
        release=raw.get("release"),
        carry_over=tuple(
            CarryOver(str(c["env"]), str(c["secret"]), str(c["key"]), str(c["valuesPath"]))
            for c in raw.get("carryOver") or ()
        ),
        shared_redis=SharedRedis(
            str(redis["namespace"]),
            str(redis["selector"]),
            str(redis["container"]),
            str(redis["secret"]),
            str(redis["key"]),
        )
        if redis
        else None,
        backups=tuple(str(b) for b in raw.get("backups") or ()),
    )


def _cluster(raw: dict[str, Any], where: str) -> ClusterIdentity:
    identity = ClusterIdentity(
        api_server=raw.get("apiServer"), kube_system_uid=raw.get("kubeSystemUid")
    )
    if (identity.api_server is None) == (identity.kube_system_uid is None):
        raise SettingsError(f"{where}.cluster: give exactly one of apiServer and kubeSystemUid")
    return identity


def parse_deploy_settings(name: EnvironmentName, raw: dict[str, Any]) -> DeploySettings:
    """One environment's `deploy:` entry (environments.yaml), as environments.py loads it."""
    try:
        return DeploySettings(
            environment=name,
            cluster=_cluster(raw["cluster"], f"deploy.{name}"),
            confirm=bool(raw["confirm"]),
            rollback_on_failure=bool(raw["rollbackOnFailure"]),
            secrets=_secrets(raw["secrets"]),
            namespaces=tuple(str(ns) for ns in raw["namespaces"]),
            timeouts_s={str(k): parse_duration(str(v)) for k, v in raw["timeouts"].items()},
            verify=_verify(raw["verify"]),
            adoption=_adoption(raw.get("adoption") or {}),
            waits=_waits(raw.get("waits") or {}, f"deploy.{name}"),
        )
    except KeyError as missing:
        raise SettingsError(f"deploy.{name}: missing key {missing}") from None
