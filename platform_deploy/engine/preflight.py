"""The preflight: what an upgrade would lose, decided over what the cluster answered.

Adopting a running Langfuse: the chart-owned Secrets Helm deletes when the values switch to
existingSecret; SALT and ENCRYPTION_KEY, which must reach the external store unchanged; the
shared Redis's eviction policy (Langfuse's queues need noeviction); the backups to take; the
command that rolls back. A "stop" finding ends the deploy before any change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from platform_deploy.config.deploy_settings import AdoptionSettings
from platform_deploy.helm.releases import ReleaseState
from platform_deploy.helm.values import value_at

Level = Literal["ok", "info", "stop"]
HELM_RELEASE_ANNOTATION = "meta.helm.sh/release-name"
KEEP_ANNOTATION = "helm.sh/resource-policy"
REQUIRED_REDIS_POLICY = "noeviction"


@dataclass(frozen=True)
class Finding:
    level: Level
    subject: str
    message: str


@dataclass(frozen=True)
class Observations:
    """What the cluster answered; secret values are only held to be compared."""

    release: ReleaseState | None
    # `helm get values -o json` of the running release.
    release_values: Mapping[str, Any] | None
    # The release namespace's Secrets, in the API's JSON shape (metadata and data).
    secrets: Sequence[Mapping[str, Any]] = field(repr=False)
    # secret name -> key -> value, for the Secrets the external store has synced.
    store_values: Mapping[str, Mapping[str, str]] = field(repr=False)
    # CONFIG GET maxmemory-policy of the shared Redis; None: not configured for this
    # environment; an exception text when it could not be read.
    redis_policy: str | None = None
    redis_error: str | None = None
    # Why the Redis check waits (its password arrives with the store's sync), if it does.
    redis_pending: str | None = None
    # Whether the store's Secrets have synced (after the secrets step) or not yet (plan).
    store_synced: bool = False


def _annotations(secret: Mapping[str, Any]) -> Mapping[str, str]:
    return (secret.get("metadata") or {}).get("annotations") or {}


def _name(secret: Mapping[str, Any]) -> str:
    return str((secret.get("metadata") or {}).get("name"))


def _decoded(secrets: Sequence[Mapping[str, Any]], name: str, key: str) -> str | None:
    from platform_deploy.engine.secret_decisions import decode_secret

    for secret in secrets:
        if _name(secret) == name:
            return decode_secret(secret).get(key)
    return None


def live_value(
    values: Mapping[str, Any] | None, path: str, secrets: Sequence[Mapping[str, Any]]
) -> str | None:
    """The value a running release uses at a values path: a plain string, {value: ...}, or
    {secretKeyRef: {name, key}} resolved from the namespace's Secrets."""
    setting = value_at(values, path)
    if isinstance(setting, str):
        return setting or None
    if isinstance(setting, Mapping):
        if setting.get("value"):
            return str(setting["value"])
        ref = setting.get("secretKeyRef")
        if isinstance(ref, Mapping) and ref.get("name") and ref.get("key"):
            return _decoded(secrets, str(ref["name"]), str(ref["key"]))
    return None


def _owned_secrets(
    observed: Observations, adoption: AdoptionSettings, managed: set[str]
) -> list[Finding]:
    findings = []
    for secret in observed.secrets:
        name = _name(secret)
        annotations = _annotations(secret)
        if annotations.get(HELM_RELEASE_ANNOTATION) != adoption.release or name not in managed:
            continue
        if annotations.get(KEEP_ANNOTATION) == "keep":
            findings.append(Finding("ok", f"Secret {name}", "chart-owned, kept on upgrade"))
            continue
        namespace = (secret.get("metadata") or {}).get("namespace", "")
        findings.append(
            Finding(
                "stop",
                f"Secret {name}",
                f"owned by release {adoption.release}: the upgrade to existingSecret makes Helm "
                f"delete it. Carry its values into the store, then keep it: kubectl annotate "
                f"secret {name} -n {namespace} {KEEP_ANNOTATION}=keep",
            )
        )
    return findings


def _carry_over(observed: Observations, adoption: AdoptionSettings) -> list[Finding]:
    findings = []
    for item in adoption.carry_over:
        live = live_value(observed.release_values, item.values_path, observed.secrets)
        stored = (observed.store_values.get(item.secret) or {}).get(item.key)
        subject = f"{item.env} carry-over"
        if live is None:
            findings.append(Finding("ok", subject, "no running value to carry over"))
        elif stored is None and not observed.store_synced:
            findings.append(
                Finding("info", subject, f"compared with the store once {item.secret} has synced")
            )
        elif stored is None:
            findings.append(
                Finding("stop", subject, f"the store has not delivered {item.secret}/{item.key}")
            )
        elif stored != live:
            # Never say what either value is: only that they differ.
            findings.append(
                Finding(
                    "stop",
                    subject,
                    f"the store's {item.secret}/{item.key} differs from the running {item.env}: "
                    "copy the running value into the store; a new one loses data",
                )
            )
        else:
            findings.append(Finding("ok", subject, "the store holds the running value"))
    return findings


def _redis(observed: Observations) -> list[Finding]:
    if observed.redis_pending is not None:
        return [Finding("info", "shared Redis", observed.redis_pending)]
    if observed.redis_error is not None:
        return [
            Finding(
                "stop",
                "shared Redis",
                f"could not read maxmemory-policy ({observed.redis_error}); Langfuse needs "
                f"{REQUIRED_REDIS_POLICY}",
            )
        ]
    if observed.redis_policy is None:
        return []
    if observed.redis_policy != REQUIRED_REDIS_POLICY:
        return [
            Finding(
                "stop",
                "shared Redis",
                f"maxmemory-policy is {observed.redis_policy}: evictions drop Langfuse's queued "
                f"events; set {REQUIRED_REDIS_POLICY} first",
            )
        ]
    return [Finding("ok", "shared Redis", f"maxmemory-policy {REQUIRED_REDIS_POLICY}")]


def preflight(
    observed: Observations,
    adoption: AdoptionSettings,
    managed_secrets: set[str],
    rollback_command: str | None,
) -> list[Finding]:
    """managed_secrets: the Secret names the environment's store or generation provides in
    the release's namespace (a chart-owned Secret of that name is the one Helm would delete).
    """
    findings: list[Finding] = []
    if adoption.release is not None:
        if observed.release is None:
            findings.append(Finding("info", "release", f"no {adoption.release} release to adopt"))
        else:
            state = observed.release
            findings.append(
                Finding(
                    "info",
                    "release",
                    f"adopting {state.namespace}/{state.name} revision {state.revision} "
                    f"({state.chart}, {state.status})",
                )
            )
            findings += _owned_secrets(observed, adoption, managed_secrets)
            findings += _carry_over(observed, adoption)
            if rollback_command is not None:
                findings.append(Finding("info", "rollback", rollback_command))
    findings += _redis(observed)
    findings += [Finding("info", "backup first", backup) for backup in adoption.backups]
    return findings


class DeployStop(RuntimeError):
    """The preflight or a decision stopped the deploy before it changed anything more."""


def stops(findings: Sequence[Finding]) -> list[Finding]:
    return [finding for finding in findings if finding.level == "stop"]


def parse_config_get(output: str) -> str:
    """`redis-cli CONFIG GET maxmemory-policy` prints the name, then the value."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    if len(lines) != 2 or lines[0] != "maxmemory-policy":
        raise ValueError(f"unexpected CONFIG GET answer ({len(lines)} lines)")
    return lines[1]


SHADOW_SUFFIX = "-adopt-check"
# External Secrets (2.9.0) labels every Secret it writes with this, whatever the creation
# policy; with creationPolicy Orphan (external_secrets.CREATION_POLICY) there is no
# ownerReference to recognise its Secrets by.
ESO_MANAGED_LABEL = "reconcile.external-secrets.io/managed"


def managed_by_external_secrets(secret: Mapping[str, Any]) -> bool:
    """Whether External Secrets already writes this Secret: applying its ExternalSecret
    again takes nothing over."""
    labels = (secret.get("metadata") or {}).get("labels") or {}
    return labels.get(ESO_MANAGED_LABEL) == "true"


def overwrite_findings(
    running: Mapping[tuple[str, str], Mapping[str, str]],
    delivered: Mapping[tuple[str, str], Mapping[str, str] | None],
) -> list[Finding]:
    """External Secrets takes over a same-named Secret it does not own and overwrites it with
    the store's values. running: (namespace, name) -> the values such a Secret holds now;
    delivered: what the store delivered for it into a shadow Secret (None: nothing). A key
    whose value would change is data lost (a database password, a session secret): stop."""
    findings = []
    for (namespace, name), values in sorted(running.items()):
        subject = f"Secret {namespace}/{name}"
        store = delivered.get((namespace, name))
        if store is None:
            findings.append(
                Finding("stop", subject, "the store delivered nothing to compare it with")
            )
            continue
        changed = sorted(key for key, value in store.items() if values.get(key) != value)
        if changed:
            findings.append(
                Finding(
                    "stop",
                    subject,
                    f"the store's value of {', '.join(changed)} differs from the running one; "
                    "External Secrets would overwrite it: copy the running value into the store",
                )
            )
        else:
            findings.append(Finding("ok", subject, "the store holds the running values"))
    return findings
