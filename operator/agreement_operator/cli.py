"""The `agreement-operator` command: run, validate, package, test, score, logs, dev, demo."""

import argparse
import ctypes
import json
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path

from agreement_operator import __version__, configmap_code, errors, metric_spec, naming, packaging
from agreement_operator.config import Config, ConfigError
from agreement_operator.manifests import ManifestError, ManifestMetric, load_configmaps, load_metrics, yaml_files


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    return args.command(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agreement-operator",
        description="Deploy Label Studio Enterprise custom agreement metrics to AWS Lambda from Kubernetes.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the operator (configuration from the environment)")
    run.add_argument("-n", "--namespace", action="append", default=[],
                     help="watch this namespace (repeatable); default: AGREEMENT_OPERATOR_NAMESPACES, else all")
    run.add_argument("--standalone", action="store_true", help="do not use kopf peering")
    run.add_argument("--peering", metavar="NAME", help="kopf peering object name, for several replicas")
    run.add_argument("--priority", type=int, help="kopf peering priority (default with --peering: random)")
    run.add_argument("--liveness", metavar="URL", help="health endpoint, e.g. http://0.0.0.0:8080/healthz")
    run.add_argument("--log-format", choices=["plain", "full", "json"], default="full")
    verbosity = run.add_mutually_exclusive_group()
    verbosity.add_argument("-v", "--verbose", action="store_true")
    verbosity.add_argument("-q", "--quiet", action="store_true")
    verbosity.add_argument("--debug", action="store_true")
    run.set_defaults(command=_run)

    validate = commands.add_parser("validate", help="check AgreementMetric manifests without deploying them")
    validate.add_argument("files", nargs="+", metavar="FILE", help="YAML files or directories")
    validate.set_defaults(command=_validate)

    package = commands.add_parser("package", help="write the exact zip the operator would deploy")
    package.add_argument("file", metavar="FILE")
    package.add_argument("-o", "--output", required=True, metavar="OUT.zip")
    package.add_argument("--name", help="which metric of FILE, when it has several")
    package.add_argument("--namespace",
                         help="namespace for the function name (default: the manifest's, else 'default')")
    package.set_defaults(command=_package)

    test = commands.add_parser("test", help="run manifests' spec.tests through the packaged handler, locally")
    test.add_argument("files", nargs="+", metavar="FILE", help="YAML files or directories")
    test.add_argument("--pairs", type=Path, metavar="PAIRS.json",
                      help="a JSON list of test entries (shaped like spec.tests) to run instead")
    test.set_defaults(command=_test)

    score = commands.add_parser("score", help="score a Label Studio JSON export with a metric, as Label Studio would")
    score.add_argument("export", type=Path, metavar="EXPORT.json", help="the project's JSON export (Export > JSON)")
    score.add_argument("metric", metavar="METRIC.yaml", help="an AgreementMetric manifest")
    score.add_argument("--name", help="which metric of METRIC.yaml, when it has several")
    score.add_argument("--per-label", action="store_true", help="also the agreement of each label")
    score.add_argument("--predictions", action="store_true", help="count predictions as one more annotator each")
    score.add_argument("--format", choices=["table", "json", "csv", "html"], default="table", dest="output_format")
    score.add_argument("-o", "--output", type=Path, metavar="FILE", help="write to FILE instead of stdout")
    score.set_defaults(command=_score)

    logs = commands.add_parser("logs", help="a metric's function log lines, newest last (like kubectl logs)")
    logs.add_argument("name", metavar="NAME", help="the AgreementMetric")
    logs.add_argument("-n", "--namespace", help="its namespace (default: the kubeconfig context's, else default)")
    logs.add_argument("--since", default="1h", help="how far back, e.g. 30s, 15m, 1h, 2d (default 1h)")
    logs.add_argument("--errors", action="store_true", help="only the errors the metric raised, one line each")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines until interrupted")
    logs.set_defaults(command=_logs)

    dev = commands.add_parser("dev", help="run a local sandbox (kube-apiserver, etcd, AWS emulator, operator)")
    dev.add_argument("--resync-seconds", type=float, default=600, help="the operator's drift resync interval")
    dev.set_defaults(command=_dev)

    demo = commands.add_parser("demo", help="start the sandbox, apply the examples, show the result, stop")
    demo.add_argument("--examples", type=Path, help="directory of manifests to apply (default: examples/)")
    demo.set_defaults(command=_demo)
    return parser


def _run(args: argparse.Namespace) -> int:
    try:
        config = Config.from_env()
    except ConfigError as error:
        print(f"agreement-operator: configuration error: {error}", file=sys.stderr)
        return 2
    import kopf  # imported here so `validate` and `package` start fast

    from agreement_operator import logs
    from agreement_operator.handlers import build_registry

    logs.configure(args.log_format, verbose=args.verbose, debug=args.debug, quiet=args.quiet)
    _limit_malloc_arenas()
    namespaces = tuple(args.namespace) or config.namespaces
    priority = args.priority
    if args.peering and priority is None:
        # kopf pauses every peer when priorities are equal, and replicas of one Deployment
        # share their arguments: a random priority makes exactly one of them active.
        priority = secrets.randbelow(2**31 - 2) + 1
    kopf.run(
        registry=build_registry(config),
        memo=kopf.Memo(config=config),
        clusterwide=not namespaces,
        namespaces=namespaces,
        standalone=args.standalone or None,
        peering_name=args.peering,
        priority=priority,
        liveness_endpoint=args.liveness,
    )
    return 0


def _limit_malloc_arenas() -> None:
    """Two glibc malloc arenas instead of up to 8 per core: the handler threads otherwise each grow
    their own arena, and a burst of metrics leaves the process tens of MiB larger (see docs/performance.md).
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (e.g. musl): nothing to tune
        return
    m_arena_max = -8
    libc.mallopt(m_arena_max, 2)


def _score(args: argparse.Namespace) -> int:
    from agreement_operator import score_command

    found = _one_checked_metric(args.metric, args.name, "agreement-operator score")
    if found is None:
        return 2
    metric, spec = found
    return score_command.run(spec, metric.name, args.export, args.per_label, args.predictions, args.output_format,
                             args.output)


def _one_checked_metric(file: str, name: str | None,
                        command: str) -> tuple[ManifestMetric, metric_spec.MetricSpec] | None:
    """The metric of FILE (the one named, when it has several) with its spec ready to package;
    None, with the reasons printed, when it cannot be read or checked."""
    path = Path(file)
    try:
        metric = _pick(load_metrics(path), name, file)
        configmaps = load_configmaps(path)
    except (ManifestError, LookupError) as error:
        print(f"{command}: {error}", file=sys.stderr)
        return None
    spec, problems = _checked(metric, configmaps)
    if spec is None:
        for problem in problems or ["its code is in a ConfigMap that is not in this file; put both in one file"]:
            print(f"{metric.path}: metric {metric.name}: {problem}", file=sys.stderr)
        return None
    return metric, spec


def _logs(args: argparse.Namespace) -> int:
    from agreement_operator import logs_command

    try:
        since = logs_command.duration_seconds(args.since)
    except logs_command.LogsError as error:
        print(f"agreement-operator logs: {error}", file=sys.stderr)
        return 2
    return logs_command.run(args.name, args.namespace, since, args.errors, args.follow)


def _dev(args: argparse.Namespace) -> int:
    commands = _sandbox_commands()
    return commands.dev(args.resync_seconds) if commands else 1


def _demo(args: argparse.Namespace) -> int:
    commands = _sandbox_commands()
    return commands.demo(args.examples) if commands else 1


def _sandbox_commands():
    """The sandbox's commands; None (with the reason printed) outside a development checkout."""
    try:
        from agreement_operator.sandbox import commands
        from agreement_operator.sandbox.control_plane import repository

        repository()
    except (ImportError, RuntimeError) as error:  # the sandbox is not installed, or not in a checkout
        reason = error if isinstance(error, RuntimeError) else "the sandbox is not installed (it is not in the image)"
        print(f"agreement-operator: dev and demo are development tools: {reason}; clone the repository "
              "and run `make demo` there", file=sys.stderr)
        return None
    return commands


def _load(files: list[str]) -> tuple[list[ManifestMetric], dict, int]:
    """The metrics and ConfigMaps of the files, and how many files could not be read."""
    metrics, configmaps, unreadable = [], {}, 0
    for path in yaml_files(files):
        try:
            metrics += load_metrics(path)
            configmaps.update(load_configmaps(path))
        except ManifestError as error:
            print(error)
            unreadable += 1
    return metrics, configmaps, unreadable


def _resolve(metric: ManifestMetric, configmaps: dict) -> tuple[dict | None, list[metric_spec.Problem]]:
    """The spec with its code in place; None (with shape problems only) when the code is elsewhere."""
    def read(namespace: str | None, name: str) -> dict | None:
        return configmaps.get((namespace, name), configmaps.get((None, name)))

    ref = configmap_code.reference(metric.spec)
    if ref and read(metric.namespace, ref[0]) is None:
        print(f"{metric.path}: metric {metric.name}: note: its code is in ConfigMap {ref[0]}, which is not "
              "among the files given; the code was not checked", file=sys.stderr)
        return None, metric_spec.shape_problems(metric.spec)
    try:
        return configmap_code.resolve(metric.spec, metric.namespace or "default", read), []
    except errors.PermanentFailure as failure:
        return None, [metric_spec.Problem(failure.message, reason=failure.reason)]


def _checked(metric: ManifestMetric, configmaps: dict) -> tuple[metric_spec.MetricSpec | None, list]:
    """The metric's spec, ready to package, or its problems."""
    resolved, problems = _resolve(metric, configmaps)
    return metric_spec.parse(resolved) if resolved is not None else (None, problems)


def _validate(args: argparse.Namespace) -> int:
    metrics, configmaps, problems = _load(args.files)
    for metric in metrics:
        spec, found = _checked(metric, configmaps)
        for problem in found:
            print(f"{metric.path}: metric {metric.name}: {problem}")
        for warning in spec.warnings if spec else ():
            print(f"{metric.path}: metric {metric.name}: warning: {warning}")
        problems += len(found)
    if not metrics and problems == 0:
        print("no AgreementMetric found in " + " ".join(args.files))
        return 1
    print(f"{len(metrics)} metric(s) checked, {problems} problem(s)", file=sys.stderr)
    return 1 if problems else 0


def _test(args: argparse.Namespace) -> int:
    from agreement_operator import local_tests

    metrics, configmaps, failures = _load(args.files)
    pairs = json.loads(args.pairs.read_text()) if args.pairs else None
    passed = 0
    for metric in metrics:
        spec, problems = _checked(metric, configmaps)
        print(f"{metric.path}: metric {metric.name}")
        if spec is None:
            for problem in problems:
                print(f"  {problem}")
            failures += 1
            continue
        tests = pairs if pairs is not None else list(metric.spec.get("tests") or [])
        if not tests:
            print("  no tests: add spec.tests or pass --pairs")
            continue
        report = local_tests.run(spec, tests)
        print(local_tests.table(report))
        failures += len(report.failed)
        passed += len(report.results) - len(report.failed)
    if not metrics:
        print("no AgreementMetric found in " + " ".join(args.files))
        return 1
    print(f"{passed} passed, {failures} failed")
    return 1 if failures else 0


def _package(args: argparse.Namespace) -> int:
    found = _one_checked_metric(args.file, args.name, "agreement-operator")
    if found is None:
        return 1
    metric, spec = found
    zip_bytes = packaging.build_zip(spec.code)
    Path(args.output).write_bytes(zip_bytes)
    namespace = args.namespace or metric.namespace or "default"
    print(f"function: {naming.function_name(spec.prefix, namespace, metric.name)}")
    print(f"CodeSha256: {packaging.code_sha256(zip_bytes)}")
    print(f"wrote {args.output} ({len(zip_bytes)} bytes)")
    return 0


def _pick(metrics: list[ManifestMetric], name: str | None, file: str) -> ManifestMetric:
    if name is not None:
        metrics = [metric for metric in metrics if metric.name == name]
    if len(metrics) == 1:
        return metrics[0]
    if not metrics:
        raise LookupError(f"{file}: no AgreementMetric{' named ' + name if name else ''}")
    names = ", ".join(metric.name for metric in metrics)
    raise LookupError(f"{file} has several metrics ({names}); choose one with --name")
