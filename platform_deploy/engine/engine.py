"""The deploy engine: the plan, and the deploy that follows it step by step.

It joins the pure layer (steps, decisions, preflight) to the adapters (Cluster, Helm) and
prints progress with timings through the redacting printer. Environment differences come
only from Environment and DeploySettings.
"""

from __future__ import annotations

import copy
import os
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from platform_deploy.config.deploy_settings import DeploySettings
from platform_deploy.config.environments import Environment, Release
from platform_deploy.config.external_secrets import (
    doppler_store,
    external_secrets,
)
from platform_deploy.config.files import Manifest, describe, relative
from platform_deploy.config.inventory import Inventory
from platform_deploy.config.versions import Versions
from platform_deploy.engine.cluster import Cluster
from platform_deploy.engine.generated_secrets import RandomBytes, generate
from platform_deploy.engine.identity import check_identity
from platform_deploy.engine.object_diff import classify, ready_condition
from platform_deploy.engine.preflight import (
    SHADOW_SUFFIX,
    Finding,
    Observations,
    managed_by_external_secrets,
    overwrite_findings,
    parse_config_get,
    preflight,
    stops,
)
from platform_deploy.engine.redaction import Redactor
from platform_deploy.engine.secret_decisions import SecretsDecision, decide_generated, decode_secret
from platform_deploy.engine.steps import Step, deploy_steps, ordered
from platform_deploy.helm.client import HelmPort
from platform_deploy.helm.releases import (
    KubeTarget,
    ReleaseDecision,
    chart_source,
    decide_release,
    manifest_documents,
    rollback_argv,
)
from platform_deploy.helm.values import stored_values

_LABELS = {"app.kubernetes.io/part-of": "ai-platform"}
_AUTH_ABSENT = "no Secret"


def _target_secret(external_secret: Manifest) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": external_secret["spec"]["target"]["name"],
            "namespace": external_secret["metadata"]["namespace"],
        },
    }


class DeployStop(RuntimeError):
    """The preflight or a decision stopped the deploy before it changed anything more."""


class NotConfirmed(RuntimeError):
    """The operator did not confirm."""


@dataclass
class Engine:
    environment: Environment
    inventory: Inventory
    versions: Versions
    cluster: Cluster
    helm: HelmPort
    redactor: Redactor
    say: Callable[[str], None]
    target: KubeTarget = field(default_factory=KubeTarget)
    extra_values: Mapping[str, Sequence[Path]] = field(default_factory=dict)
    random_bytes: RandomBytes = secrets.token_bytes
    env_vars: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    @property
    def settings(self) -> DeploySettings:
        """How this environment is deployed: its `deploy:` entry in environments.yaml."""
        return self.environment.deploy

    # --- what the cluster is and holds -------------------------------------------------

    def guard(self) -> None:
        self.say(
            check_identity(self.environment.name, self.settings.cluster, self.cluster.identity())
        )

    def _values(self, release: Release) -> list[Path]:
        return [*release.values, *self.extra_values.get(release.name, ())]

    def _namespaces(self) -> list[Manifest]:
        return [
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": ns, "labels": dict(_LABELS)},
            }
            for ns in self.settings.namespaces
        ]

    def policy_manifests(self) -> list[Manifest]:
        return self.environment.policy_manifests()

    def _store(self) -> Manifest:
        """The ClusterSecretStore the ExternalSecrets read (the inventory's Doppler store)."""
        return doppler_store(self.inventory)

    def _generated_decision(self) -> SecretsDecision:
        observed: dict[tuple[str, str], Mapping[str, str] | None] = {}
        for spec in self.inventory.in_environment(self.environment.name):
            for namespace in spec.namespaces_in(self.environment.name):
                secret = self.cluster.read_secret(namespace, spec.name)
                values = decode_secret(secret) if secret is not None else None
                for value in (values or {}).values():
                    self.redactor.register(value)
                observed[(namespace, spec.name)] = values
        fresh = generate(self.inventory, self.random_bytes)
        for name in fresh.secrets():
            for key in fresh.keys(name):
                self.redactor.register(fresh.value(name, key))
        return decide_generated(self.inventory, observed, fresh)

    def release_decision(self, release: Release) -> tuple[ReleaseDecision, bool]:
        """The decision, and whether the release's namespace exists (a server dry run of a
        release whose namespace is still to be created cannot run)."""
        namespace = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": release.namespace},
        }
        if self.cluster.get(namespace) is None:
            return ReleaseDecision("install", "namespace created first"), False
        state = self.helm.state(release)
        source = chart_source(release, self.versions)
        desired_chart = f"{source.chart}-{source.version}" if source.repository else None
        values = stored_values(self._values(release))
        deployed_values = self.helm.deployed_values(release) if state else None
        equal: bool | None = None
        if state is not None and state.status == "deployed" and deployed_values == values:
            # Same values: whether anything changes is the rendered manifests' question.
            dry = self.helm.dry_run("upgrade", release, source, self._values(release))
            live = self.helm.deployed_manifest(release)
            equal = manifest_documents(dry) == manifest_documents(live)
        return decide_release(state, desired_chart, values, deployed_values, equal), True

    def observe(self, synced: bool) -> list[Finding]:
        adoption = self.settings.adoption
        release = (
            self.environment.release(adoption.release)
            if adoption.release and self.environment.has_release(adoption.release)
            else None
        )
        state = self.helm.state(release) if release else None
        namespace_secrets = self.cluster.list_secrets(release.namespace) if release else []
        for secret in namespace_secrets:
            for value in decode_secret(secret).values():
                self.redactor.register(value)
        store_values: dict[str, dict[str, str]] = {}
        for item in adoption.carry_over:
            for secret in namespace_secrets:
                if (secret.get("metadata") or {}).get("name") == item.secret:
                    store_values[item.secret] = decode_secret(secret)
        redis_policy, redis_error = self._redis_policy()
        redis_pending = None
        if redis_error is not None and redis_error.startswith(_AUTH_ABSENT) and not synced:
            redis_pending = "maxmemory-policy is read once the store has synced its password"
            redis_error = None
        observed = Observations(
            release=state,
            release_values=self.helm.deployed_values(release) if release and state else None,
            secrets=namespace_secrets,
            store_values=store_values,
            redis_policy=redis_policy,
            redis_error=redis_error,
            redis_pending=redis_pending,
            store_synced=synced,
        )
        managed = (
            {
                name
                for (ns, name) in self.inventory.declared(self.environment.name)
                if ns == release.namespace
            }
            if release
            else set()
        )
        rollback = (
            " ".join(["helm", *rollback_argv(state, self.settings, self.target)])
            if state is not None
            else None
        )
        return [*self._half_finished(), *preflight(observed, adoption, managed, rollback)]

    def _half_finished(self) -> list[Finding]:
        """A release Helm left pending (or whose first install failed) stops the deploy at
        the preflight, before namespaces or secrets change, not when its step comes."""
        findings = []
        for release in self.environment.releases:
            namespace = {"apiVersion": "v1", "kind": "Namespace"}
            if self.cluster.get({**namespace, "metadata": {"name": release.namespace}}) is None:
                continue
            decision = decide_release(self.helm.state(release), None, {}, {}, None)
            if decision.action == "stop":
                findings.append(Finding("stop", f"release {release.name}", decision.reason))
        return findings

    def _redis_policy(self) -> tuple[str | None, str | None]:
        redis = self.settings.adoption.shared_redis
        if redis is None:
            return None, None
        secret = self.cluster.read_secret(redis.namespace, redis.secret)
        password = decode_secret(secret).get(redis.key) if secret else None
        if password is None:
            return None, f"{_AUTH_ABSENT} {redis.secret}/{redis.key} to authenticate with"
        self.redactor.register(password)
        # The password goes in on stdin: never in an argv the pod's process list shows.
        command = [
            "sh",
            "-c",
            "read -r REDISCLI_AUTH; export REDISCLI_AUTH; exec redis-cli --no-auth-warning "
            "CONFIG GET maxmemory-policy",
        ]
        try:
            output = self.cluster.exec_in_pod(
                redis.namespace, redis.selector, redis.container, command, password + "\n"
            )
            return parse_config_get(output), None
        # Any failure to read it is a finding (stop), not a crash.
        except Exception as error:
            return None, self.redactor.error_message(error)

    # --- the plan -------------------------------------------------------------------------

    def _diff(self, manifests: Sequence[Manifest]) -> list[str]:
        lines = []
        for manifest in manifests:
            live = self.cluster.get(manifest)
            change, detail = classify(live, self.cluster.apply(manifest, dry_run=True))
            lines.append(f"  {change:<9} {describe(manifest)}" + (f" ({detail})" if detail else ""))
        return lines

    def _report(self, findings: Sequence[Finding]) -> None:
        for finding in findings:
            self.say(f"  {finding.level.upper():<4} {finding.subject}: {finding.message}")

    def plan(self) -> list[Finding]:
        """What a deploy would change; changes nothing (dry runs only)."""
        self.guard()
        steps = ordered(deploy_steps(self.environment, self.settings))
        findings: list[Finding] = []
        namespaces_exist = True
        for step in steps:
            self.say(f"{step.name}:")
            if step.kind == "preflight":
                findings = self.observe(synced=False)
                self._report(findings)
            elif step.kind == "namespaces":
                lines = self._diff(self._namespaces())
                namespaces_exist = not any(line.strip().startswith("create") for line in lines)
                for line in lines:
                    self.say(line)
            elif step.kind == "secrets":
                self._plan_secrets(namespaces_exist)
            elif step.kind == "release" and step.release is not None:
                self._plan_release(self.environment.release(step.release))
            elif step.kind == "policies":
                for line in self._diff(self.policy_manifests()) if namespaces_exist else []:
                    self.say(line)
                if not namespaces_exist:
                    self.say("  apply every policy (namespaces created first)")
            elif step.kind == "verify":
                self.say("  run verify")
        return findings

    def _plan_secrets(self, namespaces_exist: bool) -> None:
        if self.settings.secrets.source == "generated":
            decision = self._generated_decision()
            for ns, name in decision.create:
                self.say(f"  create    Secret {ns}/{name} (generated)")
            for ns, name in decision.keep:
                self.say(f"  keep      Secret {ns}/{name}")
            for reason in decision.stop:
                self.say(f"  STOP      {reason}")
            return
        for bootstrap in self.settings.secrets.bootstrap:
            exists = self.cluster.read_secret(bootstrap.namespace, bootstrap.secret) is not None
            action = "keep" if exists else f"create from ${bootstrap.from_env}"
            self.say(f"  {action:<9} Secret {bootstrap.namespace}/{bootstrap.secret}")
        manifests = [self._store(), *external_secrets(self.inventory, self.environment.name)]
        if namespaces_exist:
            for line in self._diff(manifests):
                self.say(line)
            for namespace, name in self._takeovers(manifests[1:]):
                self.say(
                    f"  compare   Secret {namespace}/{name} with the store (a shadow sync) "
                    "before External Secrets takes it over"
                )
        self.say(f"  then wait up to {self.settings.secrets.sync_timeout_s} s for every sync")

    def _plan_release(self, release: Release) -> None:
        decision, namespace_exists = self.release_decision(release)
        self.say(f"  {decision.action:<9} {release.namespace}/{release.name}: {decision.reason}")
        self.say(f"  values   {', '.join(relative(p) for p in self._values(release))}")
        if decision.action in ("install", "upgrade") and namespace_exists:
            source = chart_source(release, self.versions)
            action: Literal["install", "upgrade"] = decision.action
            manifest = self.helm.dry_run(action, release, source, self._values(release))
            kinds: dict[str, int] = {}
            for document in manifest_documents(manifest):
                kinds[str(document.get("kind"))] = kinds.get(str(document.get("kind")), 0) + 1
            summary = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()))
            self.say(f"  server dry run renders {summary or 'nothing'}")

    # --- the deploy -----------------------------------------------------------------------

    def deploy(self, confirm: Callable[[str], bool], assume_yes: bool, verify: bool = True) -> None:
        self.guard()
        steps = ordered(deploy_steps(self.environment, self.settings, verify))
        if self.settings.confirm and not assume_yes:
            self.say("the plan:")
            findings = self.plan()
            if stops(findings):
                raise DeployStop(self._stop_message(findings))
            if not confirm(f"deploy to {self.environment.name}? type the environment's name: "):
                raise NotConfirmed("not confirmed; nothing was changed")
        started = self.clock()
        for index, step in enumerate(steps, start=1):
            self.say(f"[{index}/{len(steps)}] {step.name} ...")
            step_started = self.clock()
            self.run_step(step)
            self.say(
                f"[{index}/{len(steps)}] {step.name} done in {self.clock() - step_started:.1f} s"
            )
        self.say(f"deployed {self.environment.name} in {self.clock() - started:.1f} s")

    def _stop_message(self, findings: Sequence[Finding]) -> str:
        return "preflight stopped the deploy: " + "; ".join(
            f"{f.subject}: {f.message}" for f in stops(findings)
        )

    def run_step(self, step: Step) -> None:
        if step.kind == "preflight":
            findings = self.observe(synced=False)
            self._report(findings)
            if stops(findings):
                raise DeployStop(self._stop_message(findings))
        elif step.kind == "namespaces":
            for manifest in self._namespaces():
                self.cluster.apply(manifest, dry_run=False)
        elif step.kind == "secrets":
            self._secrets()
        elif step.kind == "release" and step.release is not None:
            self._release(self.environment.release(step.release))
        elif step.kind == "policies":
            for manifest in self.policy_manifests():
                self.cluster.apply(manifest, dry_run=False)
        elif step.kind == "verify":
            self.verify()

    def _secrets(self) -> None:
        if self.settings.secrets.source == "generated":
            decision = self._generated_decision()
            if decision.stop:
                raise DeployStop("; ".join(decision.stop))
            for secret_id in decision.create:
                created = self.cluster.create_if_absent(decision.manifest(secret_id))
                self.say(
                    f"  {'created' if created else 'kept'} Secret {secret_id[0]}/{secret_id[1]}"
                )
            for ns, name in decision.keep:
                self.say(f"  kept Secret {ns}/{name}")
            return
        self._bootstrap()
        self.cluster.apply(self._store(), dry_run=False)
        manifests = external_secrets(self.inventory, self.environment.name)
        self._check_takeovers(manifests)
        for manifest in manifests:
            self.cluster.apply(manifest, dry_run=False)
        self._wait_synced(manifests)
        # Now the store's values are in the cluster: compare what must carry over.
        findings = self.observe(synced=True)
        self._report([f for f in findings if f.subject.endswith(("carry-over", "Redis"))])
        if stops(findings):
            raise DeployStop(self._stop_message(findings))

    def _takeovers(self, manifests: Sequence[Manifest]) -> dict[tuple[str, str], dict[str, str]]:
        """The running Secrets an ExternalSecret would take over: same name, not yet written
        by External Secrets."""
        running: dict[tuple[str, str], dict[str, str]] = {}
        for manifest in manifests:
            namespace = str(manifest["metadata"]["namespace"])
            name = str(manifest["spec"]["target"]["name"])
            live = self.cluster.read_secret(namespace, name)
            if live is None or managed_by_external_secrets(live):
                continue
            values = decode_secret(live)
            for value in values.values():
                self.redactor.register(value)
            running[(namespace, name)] = values
        return running

    def _check_takeovers(self, manifests: Sequence[Manifest]) -> None:
        """Before External Secrets overwrites a running Secret, have the store deliver the same
        keys into a shadow Secret and compare: a value that would change stops the deploy."""
        running = self._takeovers(manifests)
        if not running:
            return
        shadows = []
        for manifest in manifests:
            key = (str(manifest["metadata"]["namespace"]), str(manifest["spec"]["target"]["name"]))
            if key in running:
                shadow = copy.deepcopy(manifest)
                shadow["metadata"]["name"] += SHADOW_SUFFIX
                shadow["spec"]["target"]["name"] += SHADOW_SUFFIX
                # Unlike the real ones, a shadow's Secret (a copy of production credentials)
                # must go with it: owned, so garbage collection removes it too.
                shadow["spec"]["target"]["creationPolicy"] = "Owner"
                shadows.append(shadow)
        delivered: dict[tuple[str, str], Mapping[str, str] | None] = {}
        try:
            for shadow in shadows:
                self.cluster.apply(shadow, dry_run=False)
            self._wait_synced(shadows)
            for namespace, name in running:
                secret = self.cluster.read_secret(namespace, name + SHADOW_SUFFIX)
                values = decode_secret(secret) if secret is not None else None
                for value in (values or {}).values():
                    self.redactor.register(value)
                delivered[(namespace, name)] = values
        finally:
            # Garbage collection removes an owned Secret some time after its owner; delete
            # the copy now rather than leave it for that.
            for shadow in shadows:
                self.cluster.delete(shadow)
                self.cluster.delete(_target_secret(shadow))
        findings = overwrite_findings(running, delivered)
        self._report(findings)
        if stops(findings):
            raise DeployStop(self._stop_message(findings))

    def _bootstrap(self) -> None:
        for item in self.settings.secrets.bootstrap:
            if self.cluster.read_secret(item.namespace, item.secret) is not None:
                self.say(f"  kept Secret {item.namespace}/{item.secret}")
                continue
            value = self.env_vars.get(item.from_env)
            if not value:
                raise DeployStop(
                    f"Secret {item.namespace}/{item.secret} is absent: set {item.from_env}"
                )
            self.redactor.register(value)
            secret: dict[str, Any] = {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {
                    "name": item.secret,
                    "namespace": item.namespace,
                    "labels": dict(_LABELS),
                },
                "type": "Opaque",
                "stringData": {item.key: value},
            }
            self.cluster.create_if_absent(secret)
            self.say(f"  created Secret {item.namespace}/{item.secret} from ${item.from_env}")

    def _wait_synced(self, manifests: Sequence[Manifest]) -> None:
        deadline = self.clock() + self.settings.secrets.sync_timeout_s
        pending = list(manifests)
        while pending:
            waiting = []
            for manifest in pending:
                ready, reason = ready_condition(self.cluster.get(manifest) or {})
                if not ready:
                    waiting.append((manifest, reason))
            if not waiting:
                return
            if self.clock() >= deadline:
                names = ", ".join(
                    f"{m['metadata']['namespace']}/{m['metadata']['name']} ({r})"
                    for m, r in waiting
                )
                raise DeployStop(f"ExternalSecrets not synced in time: {names}")
            pending = [m for m, _ in waiting]
            self.sleep(5)

    def _release(self, release: Release) -> None:
        decision, _ = self.release_decision(release)
        self.say(f"  {decision.action} {release.namespace}/{release.name}: {decision.reason}")
        if decision.action == "stop":
            raise DeployStop(decision.reason)
        if decision.action == "unchanged":
            return
        action: Literal["install", "upgrade"] = decision.action
        self.helm.apply(
            action,
            release,
            chart_source(release, self.versions),
            self._values(release),
            self.settings,
        )

    def verify(self) -> int:
        """Run verification, print its table; the exit code (0: every check passed)."""
        from platform_deploy.engine.verification import exit_code, render_table
        from platform_deploy.engine.verify import Verifier, at_url, through_cluster

        verify = self.settings.verify
        langfuse = (
            through_cluster(self.cluster, verify.langfuse_service)
            if verify.langfuse_service is not None
            else at_url(str(verify.langfuse_url))
        )
        checks = Verifier(self.settings, self.cluster, langfuse, self.redactor, self.say).run()
        for line in render_table(checks):
            self.say(line)
        code = exit_code(checks)
        if code:
            raise DeployStop(f"verification failed: {sum(not c.ok for c in checks)} check(s)")
        return code
