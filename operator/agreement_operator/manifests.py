"""AgreementMetric manifests read from YAML files on disk (for `validate`, `package`, `test`)."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from agreement_operator import crd

YAML_SUFFIXES = (".yaml", ".yml")


class ManifestError(ValueError):
    """A file that cannot be read as YAML; the message has the file and line."""


@dataclass(frozen=True)
class ManifestMetric:
    path: Path
    name: str
    namespace: str | None
    spec: dict
    metadata: dict


def yaml_files(paths: list[str]) -> Iterator[Path]:
    """The files named, with directories expanded to their YAML files, sorted."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix in YAML_SUFFIXES and p.is_file())
        else:
            yield path


def load_metrics(path: Path) -> list[ManifestMetric]:
    """Every AgreementMetric document in `path`; other kinds (ConfigMaps, ...) are passed over."""
    return [_metric(path, document) for document in _documents(path) if document.get("kind") == crd.KIND]


def load_configmaps(path: Path) -> dict[tuple[str | None, str], dict]:
    """The data of every ConfigMap in `path`, by (namespace, name)."""
    found: dict[tuple[str | None, str], dict] = {}
    for document in _documents(path):
        metadata = document.get("metadata") or {}
        if document.get("kind") == "ConfigMap" and metadata.get("name"):
            found[(metadata.get("namespace"), str(metadata["name"]))] = document.get("data") or {}
    return found


def _documents(path: Path) -> list[dict]:
    try:
        documents = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    except OSError as error:
        raise ManifestError(f"{path}: cannot read: {error.strerror}") from error
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f": line {mark.line + 1}" if mark else ""
        raise ManifestError(f"{path}{where}: not valid YAML: {getattr(error, 'problem', error)}") from error
    return [document for document in documents if isinstance(document, dict)]


def _metric(path: Path, document: dict) -> ManifestMetric:
    metadata = document.get("metadata") or {}
    return ManifestMetric(
        path=path,
        name=str(metadata.get("name") or "(unnamed)"),
        namespace=metadata.get("namespace"),
        spec=document.get("spec") or {},
        metadata=metadata,
    )
