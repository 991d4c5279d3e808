"""AgreementMetric manifests read from YAML files on disk, and checked (for `validate`, `package`, `test`,
`score`). A metric whose code is in a ConfigMap is checked with the ConfigMap of the same files."""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from agreement_operator import crd, failures
from agreement_operator.metric import code_from
from agreement_operator.metric import spec as metric_spec

YAML_SUFFIXES = (".yaml", ".yml")


class ManifestError(ValueError):
    """A file that cannot be read as YAML (the message has the file and line), or holds no such metric."""


class NotDeployable(ValueError):
    """A metric that cannot be packaged: one line per reason, each naming the file and the metric."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("\n".join(reasons))
        self.reasons = reasons


@dataclass(frozen=True)
class ManifestMetric:
    path: Path
    name: str
    namespace: str | None
    spec: dict
    metadata: dict


@dataclass(frozen=True)
class Checked:
    """A metric's spec ready to package (None when it cannot be), its problems, and a note worth saying."""

    spec: metric_spec.MetricSpec | None
    problems: list[metric_spec.Problem] = field(default_factory=list)
    note: str | None = None  # e.g. its code is in a ConfigMap of no file given: not checked


@dataclass(frozen=True)
class Loaded:
    metrics: list[ManifestMetric]
    configmaps: dict[tuple[str | None, str], dict]
    unreadable: list[ManifestError]


def yaml_files(paths: Iterable[str]) -> Iterator[Path]:
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


def load_files(paths: Iterable[str]) -> Loaded:
    """The metrics and ConfigMaps of the files (directories expanded), and the files that could not be read."""
    metrics: list[ManifestMetric] = []
    configmaps: dict[tuple[str | None, str], dict] = {}
    unreadable = []
    for path in yaml_files(paths):
        try:
            metrics += load_metrics(path)
            configmaps.update(load_configmaps(path))
        except ManifestError as error:
            unreadable.append(error)
    return Loaded(metrics, configmaps, unreadable)


def check(metric: ManifestMetric, configmaps: dict[tuple[str | None, str], dict]) -> Checked:
    """The metric's spec with its code in place and parsed, or its problems."""
    def read(namespace: str | None, name: str) -> dict | None:
        return configmaps.get((namespace, name), configmaps.get((None, name)))

    ref = code_from.reference(metric.spec)
    if ref and read(metric.namespace, ref[0]) is None:
        note = (f"{metric.path}: metric {metric.name}: note: its code is in ConfigMap {ref[0]}, which is not "
                "among the files given; the code was not checked")
        return Checked(None, metric_spec.shape_problems(metric.spec), note)
    try:
        resolved = code_from.resolve(metric.spec, metric.namespace or "default", read)
    except failures.PermanentFailure as failure:
        return Checked(None, [metric_spec.Problem(failure.message, reason=failure.reason)])
    spec, problems = metric_spec.parse(resolved)
    return Checked(spec, problems)


def deployable(file: str, name: str | None) -> tuple[ManifestMetric, metric_spec.MetricSpec]:
    """The metric of FILE (the one named, when it has several) with its spec ready to package.

    ManifestError when FILE cannot be read or has no such metric; NotDeployable saying why it cannot be packaged.
    """
    path = Path(file)
    metric = pick(load_metrics(path), name, file)
    checked = check(metric, load_configmaps(path))
    if checked.spec is None:
        problems = [str(problem) for problem in checked.problems] or [
            "its code is in a ConfigMap that is not in this file; put both in one file"]
        notes = [checked.note] if checked.note else []
        raise NotDeployable(notes + [f"{metric.path}: metric {metric.name}: {problem}" for problem in problems])
    return metric, checked.spec


def pick(metrics: list[ManifestMetric], name: str | None, file: str) -> ManifestMetric:
    """The metric named, or the only one; ManifestError when there is none or a choice to make."""
    if name is not None:
        metrics = [metric for metric in metrics if metric.name == name]
    if len(metrics) == 1:
        return metrics[0]
    if not metrics:
        raise ManifestError(f"{file}: no AgreementMetric{' named ' + name if name else ''}")
    names = ", ".join(metric.name for metric in metrics)
    raise ManifestError(f"{file} has several metrics ({names}); choose one with --name")
