"""The deploy's secrets step: generated Secrets (a test cluster), or External Secrets from
the store (production), with the bootstrap Secrets no store holds and the shadow sync that
guards a running Secret before External Secrets takes it over."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from platform_deploy.config.external_secrets import doppler_store, external_secrets
from platform_deploy.config.files import PART_OF, Manifest
from platform_deploy.engine.generated_secrets import generate
from platform_deploy.engine.object_diff import ready_condition
from platform_deploy.engine.preflight import (
    SHADOW_SUFFIX,
    DeployStop,
    managed_by_external_secrets,
    overwrite_findings,
)
from platform_deploy.engine.secret_decisions import SecretsDecision, decide_generated, decode_secret

if TYPE_CHECKING:
    from platform_deploy.engine.engine import Engine

SYNC_POLL_S = 5


def _target_secret(external_secret: Manifest) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": external_secret["spec"]["target"]["name"],
            "namespace": external_secret["metadata"]["namespace"],
        },
    }


@dataclass
class SecretsStep:
    engine: Engine

    @property
    def name(self) -> str:
        return f"secrets ({self.engine.settings.secrets.source})"

    def _generated(self) -> bool:
        return self.engine.settings.secrets.source == "generated"

    def _external_secrets(self) -> list[Manifest]:
        return external_secrets(self.engine.inventory, self.engine.environment.name)

    def generated_decision(self) -> SecretsDecision:
        engine = self.engine
        observed: dict[tuple[str, str], Mapping[str, str] | None] = {}
        for spec in engine.inventory.in_environment(engine.environment.name):
            for namespace in spec.namespaces_in(engine.environment.name):
                secret = engine.cluster.read_secret(namespace, spec.name)
                values = decode_secret(secret) if secret is not None else None
                for value in (values or {}).values():
                    engine.redactor.register(value)
                observed[(namespace, spec.name)] = values
        fresh = generate(engine.inventory, engine.random_bytes)
        for name in fresh.secrets():
            for key in fresh.keys(name):
                engine.redactor.register(fresh.value(name, key))
        return decide_generated(engine.inventory, observed, fresh)

    # --- the plan -------------------------------------------------------------------------

    def plan(self, namespaces_exist: bool) -> None:
        engine, say = self.engine, self.engine.say
        if self._generated():
            decision = self.generated_decision()
            for ns, name in decision.create:
                say(f"  create    Secret {ns}/{name} (generated)")
            for ns, name in decision.keep:
                say(f"  keep      Secret {ns}/{name}")
            for reason in decision.stop:
                say(f"  STOP      {reason}")
            return
        for bootstrap in engine.settings.secrets.bootstrap:
            exists = engine.cluster.read_secret(bootstrap.namespace, bootstrap.secret) is not None
            action = "keep" if exists else f"create from ${bootstrap.from_env}"
            say(f"  {action:<9} Secret {bootstrap.namespace}/{bootstrap.secret}")
        manifests = self._external_secrets()
        if namespaces_exist:
            for line in engine.diff([doppler_store(engine.inventory), *manifests]):
                say(line)
            for namespace, name in self.takeovers(manifests):
                say(
                    f"  compare   Secret {namespace}/{name} with the store (a shadow sync) "
                    "before External Secrets takes it over"
                )
        say(f"  then wait up to {engine.settings.secrets.sync_timeout_s} s for every sync")

    # --- the deploy -----------------------------------------------------------------------

    def run(self) -> None:
        engine = self.engine
        if self._generated():
            decision = self.generated_decision()
            if decision.stop:
                raise DeployStop("; ".join(decision.stop))
            for secret_id in decision.create:
                created = engine.cluster.create_if_absent(decision.manifest(secret_id))
                engine.say(
                    f"  {'created' if created else 'kept'} Secret {secret_id[0]}/{secret_id[1]}"
                )
            for ns, name in decision.keep:
                engine.say(f"  kept Secret {ns}/{name}")
            return
        self.bootstrap()
        engine.cluster.apply(doppler_store(engine.inventory), dry_run=False)
        manifests = self._external_secrets()
        self.check_takeovers(manifests)
        for manifest in manifests:
            engine.cluster.apply(manifest, dry_run=False)
        self.wait_synced(manifests)
        # Now the store's values are in the cluster: compare what must carry over.
        findings = engine.observe(synced=True)
        engine.report([f for f in findings if f.subject.endswith(("carry-over", "Redis"))])
        engine.stop_on(findings)

    def takeovers(self, manifests: Sequence[Manifest]) -> dict[tuple[str, str], dict[str, str]]:
        """The running Secrets an ExternalSecret would take over: same name, not yet written
        by External Secrets."""
        engine = self.engine
        running: dict[tuple[str, str], dict[str, str]] = {}
        for manifest in manifests:
            namespace = str(manifest["metadata"]["namespace"])
            name = str(manifest["spec"]["target"]["name"])
            live = engine.cluster.read_secret(namespace, name)
            if live is None or managed_by_external_secrets(live):
                continue
            values = decode_secret(live)
            for value in values.values():
                engine.redactor.register(value)
            running[(namespace, name)] = values
        return running

    def check_takeovers(self, manifests: Sequence[Manifest]) -> None:
        """Before External Secrets overwrites a running Secret, have the store deliver the same
        keys into a shadow Secret and compare: a value that would change stops the deploy."""
        engine = self.engine
        running = self.takeovers(manifests)
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
                engine.cluster.apply(shadow, dry_run=False)
            self.wait_synced(shadows)
            for namespace, name in running:
                secret = engine.cluster.read_secret(namespace, name + SHADOW_SUFFIX)
                values = decode_secret(secret) if secret is not None else None
                for value in (values or {}).values():
                    engine.redactor.register(value)
                delivered[(namespace, name)] = values
        finally:
            # Garbage collection removes an owned Secret some time after its owner; delete
            # the copy now rather than leave it for that.
            for shadow in shadows:
                engine.cluster.delete(shadow)
                engine.cluster.delete(_target_secret(shadow))
        findings = overwrite_findings(running, delivered)
        engine.report(findings)
        engine.stop_on(findings)

    def bootstrap(self) -> None:
        """The Secrets no store holds (the store's own token), from the operator's env."""
        engine = self.engine
        for item in engine.settings.secrets.bootstrap:
            if engine.cluster.read_secret(item.namespace, item.secret) is not None:
                engine.say(f"  kept Secret {item.namespace}/{item.secret}")
                continue
            value = engine.env_vars.get(item.from_env)
            if not value:
                raise DeployStop(
                    f"Secret {item.namespace}/{item.secret} is absent: set {item.from_env}"
                )
            engine.redactor.register(value)
            secret: dict[str, Any] = {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {
                    "name": item.secret,
                    "namespace": item.namespace,
                    "labels": dict(PART_OF),
                },
                "type": "Opaque",
                "stringData": {item.key: value},
            }
            engine.cluster.create_if_absent(secret)
            engine.say(f"  created Secret {item.namespace}/{item.secret} from ${item.from_env}")

    def wait_synced(self, manifests: Sequence[Manifest]) -> None:
        engine = self.engine
        deadline = engine.clock() + engine.settings.secrets.sync_timeout_s
        pending = list(manifests)
        while pending:
            waiting = []
            for manifest in pending:
                ready, reason = ready_condition(engine.cluster.get(manifest) or {})
                if not ready:
                    waiting.append((manifest, reason))
            if not waiting:
                return
            if engine.clock() >= deadline:
                names = ", ".join(
                    f"{m['metadata']['namespace']}/{m['metadata']['name']} ({r})"
                    for m, r in waiting
                )
                raise DeployStop(f"ExternalSecrets not synced in time: {names}")
            pending = [m for m, _ in waiting]
            engine.sleep(SYNC_POLL_S)
