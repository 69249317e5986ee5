"""The engine's decisions end to end over the protocol fakes: order, idempotency, the guard,
confirmation, the preflight stop, and that no secret value reaches output."""

from __future__ import annotations

import base64
import dataclasses
import random
from collections.abc import Callable

import pytest

from platform_deploy.config.deploy_settings import ClusterIdentity, DeploySettings
from platform_deploy.config.environments import Environment, EnvironmentName
from platform_deploy.config.inventory import load_inventory
from platform_deploy.config.versions import Versions
from platform_deploy.engine.engine import Engine, NotConfirmed
from platform_deploy.engine.identity import IdentityError
from platform_deploy.engine.preflight import DeployStop
from platform_deploy.engine.redaction import Redactor
from tests.unit.platform_deploy.engine.fakes import FakeCluster, FakeHelm

PROD_UID = "6c1f9a0e-2b7d-4c55-9d0e-3f1b8a7c2e11"


class RecordingEngine(Engine):
    """Verification is its own module's (and the e2e test's) concern; here it is a step."""

    def verify(self) -> int:
        self.helm.calls.append("verify")  # type: ignore[attr-defined]
        return 0


def _random(seed: int) -> Callable[[int], bytes]:
    rng = random.Random(seed)  # noqa: S311  (reproducible test input, not a secret)
    return lambda n: bytes(rng.getrandbits(8) for _ in range(n))


@dataclasses.dataclass
class Run:
    engine: RecordingEngine
    cluster: FakeCluster
    helm: FakeHelm
    output: list[str]


def _engine(
    environment: Environment,
    settings: DeploySettings,
    versions: Versions,
    cluster: FakeCluster | None = None,
    helm: FakeHelm | None = None,
    seed: int = 1,
) -> Run:
    cluster = cluster or FakeCluster()
    helm = helm or FakeHelm()
    helm.calls = cluster.writes  # one log of everything, in order
    output: list[str] = []
    redactor = Redactor()
    engine = RecordingEngine(
        environment=dataclasses.replace(environment, deploy=settings),
        inventory=load_inventory(),
        versions=versions,
        cluster=cluster,
        helm=helm,
        redactor=redactor,
        say=lambda line: output.append(redactor.redact(line)),
        random_bytes=_random(seed),
        env_vars={"DOPPLER_TOKEN": "dp.st.prd.FakeTokenForUnitTests0123456789"},
        sleep=lambda _s: None,
    )
    return Run(engine, cluster, helm, output)


def _first(log: list[str], prefix: str) -> int:
    return next(i for i, entry in enumerate(log) if entry.startswith(prefix))


def _last(log: list[str], prefix: str) -> int:
    return max(i for i, entry in enumerate(log) if entry.startswith(prefix))


def test_fresh_ci_deploy_runs_every_step_in_order(
    environments: dict[EnvironmentName, Environment],
    settings: dict[EnvironmentName, DeploySettings],
    versions: Versions,
) -> None:
    run = _engine(environments["ci"], settings["ci"], versions)
    run.engine.deploy(lambda _p: False, assume_yes=True)  # ci asks nothing: confirm is data
    log = run.cluster.writes
    assert _last(log, "apply Namespace") < _first(log, "create Secret")
    assert _last(log, "create Secret") < log.index("install redis")
    assert (
        log.index("install redis") < log.index("install langfuse") < log.index("install platform")
    )
    assert log.index("install platform") < _first(log, "apply NetworkPolicy")
    assert log[-1] == "verify"
    assert any(line.startswith("[8/8] verify done in") for line in run.output)


def test_second_run_changes_nothing(
    environments: dict[EnvironmentName, Environment],
    settings: dict[EnvironmentName, DeploySettings],
    versions: Versions,
) -> None:
    first = _engine(environments["ci"], settings["ci"], versions)
    first.engine.deploy(lambda _p: False, assume_yes=True)
    secrets_before = {k: v for k, v in first.cluster.objects.items() if k[0] == "Secret"}
    first.cluster.writes.clear()
    again = _engine(environments["ci"], settings["ci"], versions, first.cluster, first.helm, seed=2)
    again.engine.deploy(lambda _p: False, assume_yes=True)
    changes = [e for e in again.cluster.writes if not e.startswith(("dry-run", "verify"))]
    assert changes == []
    # A new seed would generate new values: none was written, nothing rotated.
    assert {k: v for k, v in again.cluster.objects.items() if k[0] == "Secret"} == secrets_before
    assert any("unchanged default/platform" in line for line in again.output)


def test_plan_changes_nothing(
    environments: dict[EnvironmentName, Environment],
    settings: dict[EnvironmentName, DeploySettings],
    versions: Versions,
) -> None:
    run = _engine(environments["ci"], settings["ci"], versions)
    run.engine.plan()
    assert [e for e in run.cluster.writes if not e.startswith("dry-run")] == []
    text = "\n".join(run.output)
    assert "create    Namespace langfuse (absent)" in text
    assert "create    Secret langfuse/langfuse-salt (generated)" in text
    assert "install   langfuse/langfuse: namespace created first" in text


def test_wrong_cluster_is_refused_before_any_change(
    environments: dict[EnvironmentName, Environment],
    settings: dict[EnvironmentName, DeploySettings],
    versions: Versions,
) -> None:
    run = _engine(
        environments["ci"], settings["ci"], versions, FakeCluster("https://10.0.0.5:6443")
    )
    with pytest.raises(IdentityError, match="wrong cluster"):
        run.engine.deploy(lambda _p: True, assume_yes=True)
    assert run.cluster.writes == []


def _prod(settings: dict[EnvironmentName, DeploySettings]) -> DeploySettings:
    return dataclasses.replace(settings["prod"], cluster=ClusterIdentity(kube_system_uid=PROD_UID))


def test_prod_placeholder_identity_refuses(
    environments: dict[EnvironmentName, Environment],
    settings: dict[EnvironmentName, DeploySettings],
    versions: Versions,
) -> None:
    run = _engine(environments["prod"], settings["prod"], versions, FakeCluster(uid=PROD_UID))
    with pytest.raises(IdentityError, match="placeholder"):
        run.engine.plan()
    assert run.cluster.writes == []


def test_prod_asks_and_a_no_changes_nothing(
    environments: dict[EnvironmentName, Environment],
    settings: dict[EnvironmentName, DeploySettings],
    versions: Versions,
) -> None:
    prompts: list[str] = []

    def answer_no(prompt: str) -> bool:
        prompts.append(prompt)
        return False

    run = _engine(environments["prod"], _prod(settings), versions, FakeCluster(uid=PROD_UID))
    with pytest.raises(NotConfirmed):
        run.engine.deploy(answer_no, assume_yes=False)
    assert prompts == ["deploy to prod? type the environment's name: "]
    assert [e for e in run.cluster.writes if not e.startswith("dry-run")] == []
    text = "\n".join(run.output)
    assert "the plan:" in text
    assert "INFO backup first" in text


def test_preflight_stop_ends_the_deploy_before_any_change(
    environments: dict[EnvironmentName, Environment],
    settings: dict[EnvironmentName, DeploySettings],
    versions: Versions,
) -> None:
    cluster = FakeCluster(uid=PROD_UID)
    cluster.redis_output = "maxmemory-policy\nallkeys-lru\n"
    cluster.create_if_absent(
        {
            "kind": "Secret",
            "metadata": {"name": "redis-secrets", "namespace": "default"},
            "data": {"redis-password": base64.b64encode(b"SharedRedisPassw0rd").decode()},
        }
    )
    cluster.writes.clear()
    run = _engine(environments["prod"], _prod(settings), versions, cluster)
    with pytest.raises(DeployStop, match="allkeys-lru"):
        run.engine.deploy(lambda _p: True, assume_yes=True)
    assert run.cluster.writes == []


def test_external_secrets_that_never_sync_stop_the_deploy(
    environments: dict[EnvironmentName, Environment],
    settings: dict[EnvironmentName, DeploySettings],
    versions: Versions,
) -> None:
    cluster = FakeCluster(uid=PROD_UID)
    cluster.redis_output = "maxmemory-policy\nnoeviction\n"
    cluster.create_if_absent(
        {
            "kind": "Secret",
            "metadata": {"name": "redis-secrets", "namespace": "default"},
            "data": {"redis-password": base64.b64encode(b"SharedRedisPassw0rd").decode()},
        }
    )
    run = _engine(environments["prod"], _prod(settings), versions, cluster)
    ticks = iter(range(0, 100000, 60))
    run.engine.clock = lambda: float(next(ticks))
    with pytest.raises(DeployStop, match="not synced in time"):
        run.engine.deploy(lambda _p: True, assume_yes=True)
    assert "install langfuse" not in run.cluster.writes
    # The Doppler token came from the operator's environment and was never printed.
    assert not any("FakeTokenForUnitTests" in line for line in run.output)


def test_no_secret_value_reaches_output(
    environments: dict[EnvironmentName, Environment],
    settings: dict[EnvironmentName, DeploySettings],
    versions: Versions,
) -> None:
    run = _engine(environments["ci"], settings["ci"], versions)
    run.engine.deploy(lambda _p: False, assume_yes=True)
    values = [
        base64.b64decode(value).decode()
        for (kind, _, _), obj in run.cluster.objects.items()
        if kind == "Secret"
        for value in obj["data"].values()
    ]
    assert len(values) > 10
    text = "\n".join(run.output)
    assert not any(value in text for value in values)
    # An error that quotes a value (a failing Helm, an API answer) is redacted too.
    error = RuntimeError(f"helm upgrade failed: password {values[0]} rejected")
    assert values[0] not in run.engine.redactor.error_message(error)


def test_prod_plan_over_a_running_langfuse(
    environments: dict[EnvironmentName, Environment],
    settings: dict[EnvironmentName, DeploySettings],
    versions: Versions,
) -> None:
    import json
    from pathlib import Path

    from platform_deploy.helm.releases import parse_list

    recorded = Path(__file__).parent / "recorded"
    cluster = FakeCluster(uid=PROD_UID)
    for namespace in ("default", "langfuse", "external-secrets"):
        cluster.objects[("Namespace", "", namespace)] = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": namespace, "labels": {"app.kubernetes.io/part-of": "ai-platform"}},
        }
    for secret in json.loads((recorded / "langfuse_namespace_secrets.json").read_text())["items"]:
        cluster.objects[("Secret", "langfuse", secret["metadata"]["name"])] = secret
    helm = FakeHelm()
    state = parse_list((recorded / "helm_list_langfuse_deployed.json").read_text())[0]
    values = json.loads((recorded / "helm_get_values_langfuse.json").read_text())
    helm.releases["langfuse"] = (state, values, "")
    run = _engine(environments["prod"], _prod(settings), versions, cluster, helm)
    findings = run.engine.plan()
    text = "\n".join(run.output)
    assert [e for e in run.cluster.writes if not e.startswith("dry-run")] == []
    assert "upgrade   langfuse/langfuse: chart langfuse-1.2.17 -> langfuse-1.5.41" in text
    assert "STOP Secret langfuse-postgresql" in text
    assert "INFO rollback: helm rollback langfuse 7 --namespace langfuse --wait=legacy" in text
    assert "INFO SALT carry-over: compared with the store once langfuse-salt has synced" in text
    assert "create from $DOPPLER_TOKEN Secret external-secrets/doppler-token" in text
    assert "create    ExternalSecret langfuse/langfuse-salt (absent)" in text
    assert "install   default/platform: not installed" in text
    assert "dry-run upgrade langfuse" in run.cluster.writes
    assert sum(f.level == "stop" for f in findings) == 1
    # The running SALT, read to be compared, is never shown.
    assert "c2FsdC1vZi10aGUtcnVubmluZy1sYW5nZnVzZQ==" not in text


def _store_values(seed: int) -> dict[str, str]:
    from platform_deploy.engine.generated_secrets import generate

    inventory = load_inventory()
    values = generate(inventory, _random(seed))
    return {
        key.remote_key: values.value(spec.name, key.name)
        for spec in inventory.in_environment("ci")
        for key in spec.keys
        if key.remote_key is not None
    }


def _running_redis(cluster: FakeCluster, password: str) -> None:
    cluster.objects[("Secret", "default", "redis-secrets")] = {
        "kind": "Secret",
        "metadata": {"name": "redis-secrets", "namespace": "default"},
        "data": {"redis-password": base64.b64encode(password.encode()).decode()},
    }


def test_a_takeover_that_would_change_a_running_secret_stops(
    environments: dict[EnvironmentName, Environment],
    settings: dict[EnvironmentName, DeploySettings],
    versions: Versions,
) -> None:
    from tests.unit.platform_deploy.engine.fakes import SyncingCluster

    store = _store_values(5)
    cluster = SyncingCluster(store, uid=PROD_UID)
    _running_redis(cluster, "TheRunningRedisPassw0rd")
    run = _engine(environments["prod"], _prod(settings), versions, cluster)
    with pytest.raises(DeployStop, match="redis-secrets: the store's value of redis-password"):
        run.engine.deploy(lambda _p: True, assume_yes=True)
    # The real ExternalSecret never ran: the running password is still there; the shadow
    # ExternalSecret was cleaned up.
    live = run.cluster.read_secret("default", "redis-secrets")
    assert live is not None
    assert base64.b64decode(live["data"]["redis-password"]) == b"TheRunningRedisPassw0rd"
    assert ("ExternalSecret", "default", "redis-secrets") not in run.cluster.objects
    assert ("ExternalSecret", "default", "redis-secrets-adopt-check") not in run.cluster.objects
    assert not any("TheRunningRedisPassw0rd" in line for line in run.output)


def test_a_takeover_of_the_same_values_proceeds(
    environments: dict[EnvironmentName, Environment],
    settings: dict[EnvironmentName, DeploySettings],
    versions: Versions,
) -> None:
    from tests.unit.platform_deploy.engine.fakes import SyncingCluster

    store = _store_values(5)
    cluster = SyncingCluster(store, uid=PROD_UID)
    _running_redis(cluster, store["REDIS_PASSWORD"])
    run = _engine(environments["prod"], _prod(settings), versions, cluster)
    run.engine.deploy(lambda _p: True, assume_yes=True)
    log = run.cluster.writes
    assert log.index("install langfuse") < log.index("install platform")
    assert "apply ExternalSecret default redis-secrets" in log
    assert any("OK   Secret default/redis-secrets" in line for line in run.output)
    # The shadow sync's copy of the running credentials is gone with its ExternalSecret.
    assert "apply ExternalSecret default redis-secrets-adopt-check" in log
    assert ("Secret", "default", "redis-secrets-adopt-check") not in run.cluster.objects


def test_deleting_a_production_external_secret_keeps_its_secret(
    environments: dict[EnvironmentName, Environment],
    settings: dict[EnvironmentName, DeploySettings],
    versions: Versions,
) -> None:
    """creationPolicy Orphan: no ownerReference, so garbage collection (the fake deletes an
    owned target with its ExternalSecret, as Kubernetes does) leaves the credential under
    the running pods."""
    from tests.unit.platform_deploy.engine.fakes import SyncingCluster

    run = _engine(
        environments["prod"],
        _prod(settings),
        versions,
        SyncingCluster(_store_values(5), uid=PROD_UID),
    )
    run.engine.deploy(lambda _p: True, assume_yes=True)
    applied = [o for k, o in run.cluster.objects.items() if k[0] == "ExternalSecret"]
    assert applied
    for external_secret in applied:
        namespace = external_secret["metadata"]["namespace"]
        target = external_secret["spec"]["target"]["name"]
        run.cluster.delete(external_secret)
        secret = run.cluster.read_secret(namespace, target)
        assert secret is not None, f"{namespace}/{target} went with its ExternalSecret"
        assert secret["data"]


def test_a_rerun_takes_over_nothing_external_secrets_already_writes(
    environments: dict[EnvironmentName, Environment],
    settings: dict[EnvironmentName, DeploySettings],
    versions: Versions,
) -> None:
    """Without an ownerReference (Orphan) the Secrets are recognised by External Secrets'
    managed label: a rerun runs no shadow sync and compares nothing."""
    from tests.unit.platform_deploy.engine.fakes import SyncingCluster

    cluster = SyncingCluster(_store_values(5), uid=PROD_UID)
    _engine(environments["prod"], _prod(settings), versions, cluster).engine.deploy(
        lambda _p: True, assume_yes=True
    )
    assert not any(
        (o.get("metadata") or {}).get("ownerReferences")
        for k, o in cluster.objects.items()
        if k[0] == "Secret"
    )
    cluster.writes.clear()
    again = _engine(environments["prod"], _prod(settings), versions, cluster)
    again.engine.plan()
    assert not any("compare   Secret" in line for line in again.output)
    again.engine.deploy(lambda _p: True, assume_yes=True)
    assert not any("adopt-check" in entry for entry in cluster.writes)


def test_a_half_finished_release_stops_at_the_preflight(
    environments: dict[EnvironmentName, Environment],
    settings: dict[EnvironmentName, DeploySettings],
    versions: Versions,
) -> None:
    from platform_deploy.helm.releases import ReleaseState

    cluster = FakeCluster()
    cluster.objects[("Namespace", "", "default")] = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "default"},
    }
    helm = FakeHelm()
    pending = ReleaseState("platform", "default", 4, "pending-upgrade", "platform-0.1.0")
    helm.releases["platform"] = (pending, {}, "")
    run = _engine(environments["ci"], settings["ci"], versions, cluster, helm)
    with pytest.raises(DeployStop, match=r"release platform: .*pending-upgrade"):
        run.engine.deploy(lambda _p: True, assume_yes=True)
    assert run.cluster.writes == []


def test_the_steps_are_a_plain_list_in_the_documented_order(
    environments: dict[EnvironmentName, Environment],
    settings: dict[EnvironmentName, DeploySettings],
    versions: Versions,
) -> None:
    ci = _engine(environments["ci"], settings["ci"], versions).engine
    assert [step.name for step in ci.steps()] == [
        "preflight",
        "namespaces",
        "secrets (generated)",
        "release redis",
        "release langfuse",
        "release platform",
        "policies",
        "verify",
    ]
    prod = _engine(environments["prod"], _prod(settings), versions).engine
    assert [step.name for step in prod.steps(verify=False)] == [
        "preflight",
        "namespaces",
        "secrets (external-secrets)",
        "release langfuse",
        "release platform",
        "policies",
    ]
