"""One pipeline run: each stage's action on the Dagger objects, and the run itself.

Stages and their order are in stages.py; the containers in containers.py; how the run is
told (progress, one-line errors, the summary files) in report.py. The actions here only
build, start, run and export; whether the platform is right is the deploy engine's `deploy`
and `verify`.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import dagger
from dagger import dag

from pipeline import containers, digests, disk_usage, k3s, stages
from pipeline.cluster_commands import deploy_command, verify_command
from pipeline.disk_usage import DiskUsage
from pipeline.image_archives import ImageArchive, image_archives
from pipeline.images import SERVICE_IMAGES, platform_values, production_repositories
from pipeline.registry_login import LoginDecision
from pipeline.report import (
    describe_error,
    first_line,
    print_output_tail,
    report_progress,
    write_reports,
)
from platform_deploy.config.files import relative

NODE_READY_TIMEOUT_S = 300
IMAGES_IMPORTED_TIMEOUT_S = 180
KUBECONFIG_TIMEOUT_S = 120
COPIED_KUBECONFIG = "/root/k3s-kubeconfig.yaml"  # in the reader's own filesystem


@dataclass(frozen=True)
class Options:
    out: Path
    publish: bool
    pull_cache: bool
    until: str | None
    docker_hub: LoginDecision


@dataclass
class PipelineRun:
    options: Options
    run_id: str
    revision: str
    k3s_image: str
    cluster_references: dict[str, str]
    source: dagger.Directory
    images: dict[str, dagger.Container] = field(default_factory=dict)
    archives: list[tuple[ImageArchive, dagger.File]] = field(default_factory=list)
    tools: dagger.Container | None = None
    docker_hub: containers.DockerHubAuth | None = None
    cluster: dagger.Service | None = None
    kubeconfig: dagger.Secret | None = None
    diagnostics_dir: Path | None = None
    disk_before: DiskUsage | None = None
    disk: dict[str, DiskUsage] = field(default_factory=dict)  # after each stage that ran

    @property
    def run_dir(self) -> Path:
        return self.options.out / self.run_id

    def _tools(self) -> dagger.Container:
        if self.tools is None:
            raise RuntimeError("the tools container was not built")
        return self.tools

    def _on_cluster(self) -> dagger.Container:
        if self.cluster is None or self.kubeconfig is None:
            raise RuntimeError("k3s is not running")
        return containers.on_cluster(self._tools(), self.cluster, self.kubeconfig, self.run_id)

    async def build_images(self) -> str:
        async def build(name: str, container: dagger.Container) -> None:
            self.images[name] = await container.sync()

        async with anyio.create_task_group() as group:
            for image in SERVICE_IMAGES:
                container = containers.service_image(self.source, image, self.revision)
                group.start_soon(build, image.name, container)
        return ", ".join(image.name for image in SERVICE_IMAGES)

    async def build_tools(self) -> str:
        self.tools = await containers.tools_container(self.source).sync()
        return ""

    async def load_images(self) -> str:
        archives = image_archives(self.cluster_references)
        files: dict[str, dagger.File] = {}

        async def make(archive: ImageArchive) -> None:
            image = self.images[archive.service]
            files[archive.service] = await containers.image_archive(image, archive).sync()

        async with anyio.create_task_group() as group:
            for archive in archives:
                group.start_soon(make, archive)
        self.archives = [(archive, files[archive.service]) for archive in archives]
        return ", ".join(archive.reference for archive in archives)

    async def start_k3s(self) -> str:
        mirror = containers.docker_io_mirror(self.docker_hub) if self.options.pull_cache else None
        service = containers.k3s_service(
            self.k3s_image, self.archives, self.run_id, mirror, self.options.docker_hub.login
        )
        await self._start_cluster(service)
        written = f"{containers.K3S_CONFIG_MOUNT}/{k3s.KUBECONFIG_NAME}"
        # Copied out of the cache volume before reading: a file on a cache mount is not
        # part of the container's snapshot (dagger's e2e suite reads it the same way).
        raw = (
            await containers.with_k3s_config(self._tools(), self.run_id)
            .with_exec(
                [
                    "sh",
                    "-c",
                    k3s.wait_for_file_script(written, KUBECONFIG_TIMEOUT_S)
                    + f" && cp {written} {COPIED_KUBECONFIG}",
                ]
            )
            .file(COPIED_KUBECONFIG)
            .contents()
        )
        self.kubeconfig = dag.set_secret(
            f"k3s-kubeconfig-{self.run_id}", k3s.rewrite_kubeconfig(raw)
        )
        references = [self.cluster_references[image.name] for image in SERVICE_IMAGES]
        await (
            self._on_cluster()
            .with_exec(["sh", "-c", k3s.node_ready_script(NODE_READY_TIMEOUT_S)])
            .with_exec(
                ["sh", "-c", k3s.images_present_script(references, IMAGES_IMPORTED_TIMEOUT_S)]
            )
            .sync()
        )
        return f"{k3s.ALIAS}:{k3s.API_PORT}, {self.k3s_image.rsplit(':', 1)[-1]}"

    async def _start_cluster(self, service: dagger.Service) -> None:
        # The service start() returns is the one bound and stopped from here on, as in
        # dagger/dagger's e2e/helm suite (`k3sSvc, err := k3s.service.Start(ctx)`).
        self.cluster = await service.start()

    async def _on_cluster_command(self, label: str, argv: list[str]) -> str:
        try:
            await self._on_cluster().with_exec(argv).sync()
        except dagger.ExecError as error:
            print_output_tail(label, error.stdout, error.stderr)
            raise
        return ""

    async def deploy(self) -> str:
        return await self._on_cluster_command("deploy", deploy_command(containers.KUBECONFIG_PATH))

    async def verify(self) -> str:
        return await self._on_cluster_command("verify", verify_command(containers.KUBECONFIG_PATH))

    async def diagnostics(self) -> str:
        command = [
            "python",
            "-m",
            "pipeline.collect_diagnostics",
            "--out",
            "/diagnostics",
            "--k3s-log",
            f"{containers.K3S_CONFIG_MOUNT}/{k3s.SERVER_LOG_NAME}",
        ]
        unreachable = await self._why_not_query_cluster()
        if unreachable is None:
            container = self._on_cluster()
        else:
            container = self._tools()
            command.extend(["--no-cluster", unreachable])  # what survives: the server log
        target = self.run_dir / "diagnostics"
        await (
            containers.with_k3s_config(container, self.run_id)
            .with_exec(command)
            .directory("/diagnostics")
            .export(str(target))
        )
        self.diagnostics_dir = target
        said = f" (cluster not queried: {unreachable})" if unreachable else ""
        return f"in {relative(target)}{said}"

    async def _why_not_query_cluster(self) -> str | None:
        """None when k3s still runs; else why the diagnostics must not bind it (binding a
        service that exited starts a new one, which would answer about a new cluster)."""
        if self.cluster is None:
            return "k3s did not start"
        if self.kubeconfig is None:
            return "k3s wrote no kubeconfig"
        probe = containers.k3s_liveness_probe(self._tools(), self.run_id, str(time.time_ns()))
        try:
            state = k3s.liveness(await probe.stdout())
        except dagger.DaggerError as error:
            return f"k3s's heartbeat could not be read ({first_line(str(error), 160)})"
        return None if state.alive else state.reason

    async def publish(self) -> str:
        if not self.options.publish:
            raise stages.StageSkipped("not requested (--publish)")
        username = os.environ.get("REGISTRY_USERNAME", "")
        token = os.environ.get("REGISTRY_TOKEN", "")
        if not username or not token:
            raise RuntimeError("--publish needs REGISTRY_USERNAME and REGISTRY_TOKEN set")
        secret = dag.set_secret("registry-token", token)
        repositories = production_repositories(platform_values("prod"))
        published: dict[str, digests.PublishedImage] = {}

        async def push(image_name: str, values_key: str, repository: str) -> None:
            address = f"{repository}:{self.revision}"
            pushed = (
                await self.images[image_name]
                .with_registry_auth(address, username, secret)
                .publish(address)
            )
            published[image_name] = digests.PublishedImage(
                values_key, repository, digests.digest_of(pushed)
            )

        async with anyio.create_task_group() as group:
            for image in SERVICE_IMAGES:
                if image.in_production:
                    group.start_soon(push, image.name, image.values_key, repositories[image.name])
        ordered = [published[image.name] for image in SERVICE_IMAGES if image.in_production]
        path = digests.write(ordered, self.revision)
        return f"{len(ordered)} images; digests in {relative(path)}"

    async def measure_disk(self, label: str) -> DiskUsage:
        """The engine's cache, the cache volumes and the engine's disk (disk_usage.py)."""
        problems = []
        engine_bytes = engine_entries = None
        try:
            entry_set = dag.engine().local_cache().entry_set()
            engine_bytes = await entry_set.disk_space_bytes()
            engine_entries = await entry_set.entry_count()
        except dagger.DaggerError as error:
            problems.append(f"the engine's cache ({first_line(str(error), 120)})")
        volumes: dict[str, int] = {}
        filesystem = None
        try:
            nonce = f"{self.run_id}-{label}-{time.time_ns()}"
            volumes, filesystem = disk_usage.parse_probe(
                await containers.disk_probe(nonce).stdout()
            )
        except dagger.DaggerError as error:
            problems.append(f"the cache volumes ({first_line(str(error), 120)})")
        return DiskUsage(engine_bytes, engine_entries, volumes, filesystem, tuple(problems))

    async def after_stage(self, result: stages.StageResult) -> None:
        usage = await self.measure_disk(result.stage)
        self.disk[result.stage] = usage
        print(
            f"[pipeline] disk after {result.stage}: {disk_usage.describe(usage)}", file=sys.stderr
        )

    async def log_in_to_docker_hub(self) -> None:
        """Before any pull: the session's registry login for Dagger's own pulls; the secrets
        the mirror and k3s use later."""
        login = self.options.docker_hub.login
        if login is None:
            return
        self.docker_hub = containers.docker_hub_auth(login)
        try:
            await containers.docker_hub_session_login(self.docker_hub).sync()
        except dagger.QueryError as error:
            # Dagger's own pulls then go as the Dagger CLI's Docker config has them.
            said = first_line(str(error), 160)
            print(
                f"[pipeline] Docker Hub: the session did not take the login ({said})",
                file=sys.stderr,
            )

    async def stop(self) -> None:
        if self.cluster is not None:
            try:
                await self.cluster.stop()
            except dagger.DaggerError as error:
                print(f"[pipeline] could not stop k3s: {first_line(str(error))}", file=sys.stderr)

    def actions(self) -> dict[str, stages.Action]:
        return {
            "build-images": self.build_images,
            "build-tools": self.build_tools,
            "load-images": self.load_images,
            "start-k3s": self.start_k3s,
            "deploy": self.deploy,
            "verify": self.verify,
            "diagnostics": self.diagnostics,
            "publish": self.publish,
        }


async def run_pipeline(
    options: Options, run_id: str, revision: str, k3s_image: str, references: dict[str, str]
) -> int:
    """Connect to the engine, run the stages, print the summary. 0 passed, 1 failed.

    Connection errors (no engine, no CLI) propagate to the caller, which words them.
    """
    plan = (
        stages.PIPELINE if options.until is None else stages.up_to(stages.PIPELINE, options.until)
    )
    async with dagger.connection(dagger.Config(log_output=sys.stderr)):
        run = PipelineRun(
            options=options,
            run_id=run_id,
            revision=revision,
            k3s_image=k3s_image,
            cluster_references=references,
            source=containers.repository_source(),
        )
        started = anyio.current_time()
        print(f"[pipeline] Docker Hub: {options.docker_hub.note}", file=sys.stderr)
        try:
            await run.log_in_to_docker_hub()
            run.disk_before = await run.measure_disk("start")
            print(
                f"[pipeline] disk at the start: {disk_usage.describe(run.disk_before)}",
                file=sys.stderr,
            )
            results = await stages.run_stages(
                plan,
                run.actions(),
                describe_error=describe_error,
                on_result=report_progress,
                after_stage=run.after_stage,
            )
        finally:
            await run.stop()
        total = anyio.current_time() - started
    write_reports(run, results, total)
    print()
    print(stages.format_summary(results, total))
    if run.diagnostics_dir is not None:
        where = relative(run.diagnostics_dir)
        print(f"\nDiagnostics (pod logs, events, Helm status, k3s's log): {where}")
    print(f"Summary: {relative(run.run_dir / 'summary.json')}")
    return 0 if stages.overall(results) is stages.Outcome.PASSED else 1
