"""The deploy engine: the plan, and the deploy that follows it step by step.

A deploy is a plain list of steps (`Engine.steps`), each able to say what it would change
(the plan) or do it; the secrets step is in secrets.py. The engine joins the pure layer
(decisions, preflight) to the adapters (Cluster, Helm) and prints progress with timings
through the redacting printer. Environment differences come only from the Environment.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Literal

from platform_deploy.config.deploy_settings import DeploySettings
from platform_deploy.config.environments import Environment, Release
from platform_deploy.config.files import PART_OF, Manifest, describe, relative
from platform_deploy.config.inventory import Inventory
from platform_deploy.config.versions import Versions
from platform_deploy.engine.cluster import Cluster
from platform_deploy.engine.generated_secrets import RandomBytes
from platform_deploy.engine.identity import check_identity
from platform_deploy.engine.object_diff import classify
from platform_deploy.engine.preflight import (
    DeployStop,
    Finding,
    Observations,
    parse_config_get,
    preflight,
    stops,
)
from platform_deploy.engine.redaction import Redactor
from platform_deploy.engine.secret_decisions import decode_secret
from platform_deploy.engine.secrets import SecretsStep
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

_AUTH_ABSENT = "no Secret"


class NotConfirmed(RuntimeError):
    """The operator did not confirm."""


@dataclass
class Plan:
    """What the plan's steps learn on the way: the preflight's findings, and whether the
    namespaces exist yet (server-side diffs need them)."""

    findings: list[Finding] = field(default_factory=list)
    namespaces_exist: bool = True


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[], None]
    plan: Callable[[Plan], None]


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
                "metadata": {"name": ns, "labels": dict(PART_OF)},
            }
            for ns in self.settings.namespaces
        ]

    def policy_manifests(self) -> list[Manifest]:
        return self.environment.policy_manifests()

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

    def diff(self, manifests: Sequence[Manifest]) -> list[str]:
        lines = []
        for manifest in manifests:
            live = self.cluster.get(manifest)
            change, detail = classify(live, self.cluster.apply(manifest, dry_run=True))
            lines.append(f"  {change:<9} {describe(manifest)}" + (f" ({detail})" if detail else ""))
        return lines

    def report(self, findings: Sequence[Finding]) -> None:
        for finding in findings:
            self.say(f"  {finding.level.upper():<4} {finding.subject}: {finding.message}")

    def stop_on(self, findings: Sequence[Finding]) -> None:
        """Stop the deploy, in one message, if any finding says so."""
        if stops(findings):
            raise DeployStop(
                "preflight stopped the deploy: "
                + "; ".join(f"{f.subject}: {f.message}" for f in stops(findings))
            )

    # --- the steps, in the order they run: each can say what it would change, or do it --

    def steps(self, verify: bool = True) -> list[Step]:
        """Preflight, namespaces, secrets, each release in environments.yaml's order (Langfuse
        needs the Redis before it; the platform needs Langfuse), policies, and verification
        unless the caller verifies on its own (the pipeline does, in a stage of its own)."""
        secrets = SecretsStep(self)
        steps = [
            Step("preflight", self._run_preflight, self._plan_preflight),
            Step("namespaces", self._apply_namespaces, self._plan_namespaces),
            Step(secrets.name, secrets.run, lambda plan: secrets.plan(plan.namespaces_exist)),
        ]
        for release in self.environment.releases:
            steps.append(
                Step(
                    f"release {release.name}",
                    partial(self._release, release),
                    partial(self._plan_release, release),
                )
            )
        steps.append(Step("policies", self._apply_policies, self._plan_policies))
        if verify:
            steps.append(Step("verify", self._run_verify, lambda _plan: self.say("  run verify")))
        return steps

    def step(self, name: str) -> Step:
        return next(step for step in self.steps() if step.name == name)

    def _run_preflight(self) -> None:
        findings = self.observe(synced=False)
        self.report(findings)
        self.stop_on(findings)

    def _plan_preflight(self, plan: Plan) -> None:
        plan.findings = self.observe(synced=False)
        self.report(plan.findings)

    def _apply_namespaces(self) -> None:
        for manifest in self._namespaces():
            self.cluster.apply(manifest, dry_run=False)

    def _plan_namespaces(self, plan: Plan) -> None:
        lines = self.diff(self._namespaces())
        plan.namespaces_exist = not any(line.strip().startswith("create") for line in lines)
        for line in lines:
            self.say(line)

    def _apply_policies(self) -> None:
        for manifest in self.policy_manifests():
            self.cluster.apply(manifest, dry_run=False)

    def _plan_policies(self, plan: Plan) -> None:
        if not plan.namespaces_exist:
            self.say("  apply every policy (namespaces created first)")
            return
        for line in self.diff(self.policy_manifests()):
            self.say(line)

    def _run_verify(self) -> None:
        self.verify()

    # --- the plan and the deploy ------------------------------------------------------------

    def plan(self) -> list[Finding]:
        """What a deploy would change; changes nothing (dry runs only)."""
        self.guard()
        plan = Plan()
        for step in self.steps():
            self.say(f"{step.name}:")
            step.plan(plan)
        return plan.findings

    def deploy(self, confirm: Callable[[str], bool], assume_yes: bool, verify: bool = True) -> None:
        self.guard()
        steps = self.steps(verify)
        if self.settings.confirm and not assume_yes:
            self.say("the plan:")
            self.stop_on(self.plan())
            if not confirm(f"deploy to {self.environment.name}? type the environment's name: "):
                raise NotConfirmed("not confirmed; nothing was changed")
        started = self.clock()
        for index, step in enumerate(steps, start=1):
            self.say(f"[{index}/{len(steps)}] {step.name} ...")
            step_started = self.clock()
            step.run()
            self.say(
                f"[{index}/{len(steps)}] {step.name} done in {self.clock() - step_started:.1f} s"
            )
        self.say(f"deployed {self.environment.name} in {self.clock() - started:.1f} s")

    def _plan_release(self, release: Release, _plan: Plan) -> None:
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
