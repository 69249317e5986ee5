"""Strict schema validation: built-in kinds against kubernetes-validate's schemas for the
pinned Kubernetes version, custom resources against the CRDs of the pinned operators.

A manifest for which no schema exists is a problem, not a warning. kubernetes-validate and
jsonschema are installed only in the manifests session's environment, so they are imported
when a validator is built, behind the small typed surface below.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from platform_deploy.config.files import Manifest, describe, load_manifests, yaml_files


class _Error(Protocol):
    message: str
    path: Iterable[object]


class _Validator(Protocol):
    def iter_errors(self, instance: object) -> Iterable[_Error]: ...


def _strict(schema: Any) -> Any:
    """A CRD's structural schema with unknown fields rejected, as the API server prunes them."""
    if isinstance(schema, dict):
        strict = {key: _strict(value) for key, value in schema.items()}
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            strict["additionalProperties"] = False
        return strict
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    return schema


@dataclass(frozen=True)
class CustomResourceSchemas:
    """(apiVersion, kind) -> the CRD version's openAPIV3Schema, strict."""

    schemas: Mapping[tuple[str, str], Any]

    @classmethod
    def from_directory(cls, directory: Path) -> CustomResourceSchemas:
        schemas: dict[tuple[str, str], Any] = {}
        for crd in load_manifests(yaml_files(directory)):
            if crd.get("kind") != "CustomResourceDefinition":
                continue
            group = crd["spec"]["group"]
            kind = crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                if version.get("served"):
                    schema = _strict(version["schema"]["openAPIV3Schema"])
                    schemas[(f"{group}/{version['name']}", kind)] = schema
        if not schemas:
            raise FileNotFoundError(f"no CustomResourceDefinitions in {directory}")
        return cls(schemas)


class SchemaValidator:
    def __init__(self, kubernetes_version: str, custom_resources: CustomResourceSchemas) -> None:
        self._k8s: Any = importlib.import_module("kubernetes_validate")
        self._jsonschema: Any = importlib.import_module("jsonschema")
        self._version = kubernetes_version
        self._custom = custom_resources
        self._validators: dict[tuple[str, str], _Validator] = {}

    def _custom_validator(self, key: tuple[str, str]) -> _Validator:
        if key not in self._validators:
            schema = self._custom.schemas[key]
            validator_class = self._jsonschema.validators.validator_for(schema)
            self._validators[key] = validator_class(schema)
        return self._validators[key]

    def _object_meta_problems(self, manifest: Manifest) -> list[str]:
        # A CRD's schema leaves metadata to the API server; check it as ObjectMeta by
        # validating a ConfigMap that carries the same metadata.
        probe = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": manifest.get("metadata")}
        return self._builtin_problems(probe)

    def _builtin_problems(self, manifest: Manifest) -> list[str]:
        try:
            self._k8s.validate(manifest, self._version, strict=True)
        except self._k8s.SchemaNotFoundError as error:
            return [f"no schema to check it against ({error.message})"]
        except self._k8s.ValidationError as error:
            path = ".".join(str(part) for part in error.path) or "(object)"
            return [f"{path}: {error.message}"]
        return []

    def problems(self, manifest: Manifest) -> list[str]:
        """What is wrong with one manifest, as '<kind namespace/name>: <problem>' lines."""
        key = (str(manifest.get("apiVersion")), str(manifest.get("kind")))
        if key in self._custom.schemas:
            found = [
                f"{'.'.join(str(p) for p in error.path) or '(object)'}: {error.message}"
                for error in self._custom_validator(key).iter_errors(manifest)
            ]
            found += self._object_meta_problems(manifest)
        else:
            found = self._builtin_problems(manifest)
        return [f"{describe(manifest)}: {problem}" for problem in found]
