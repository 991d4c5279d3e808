"""`agreement-operator package FILE -o OUT.zip`: the exact zip the operator would deploy, and its CodeSha256."""

import argparse
import sys
from pathlib import Path

from agreement_operator.function import packaging
from agreement_operator.metric import manifests, naming
from agreement_operator.metric.spec import MetricSpec


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.zip")
    parser.add_argument("--name", help="which metric of FILE, when it has several")
    parser.add_argument("--namespace", help="namespace for the function name (default: the manifest's, else 'default')")


def run(args: argparse.Namespace) -> int:
    found = deployable_or_say_why(args.file, args.name, "agreement-operator")
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


def deployable_or_say_why(file: str, name: str | None,
                          command: str) -> tuple[manifests.ManifestMetric, MetricSpec] | None:
    """The metric of FILE ready to package; None, with the reasons printed, when it cannot be."""
    try:
        return manifests.deployable(file, name)
    except manifests.ManifestError as error:
        print(f"{command}: {error}", file=sys.stderr)
    except manifests.NotDeployable as error:
        print(error, file=sys.stderr)
    return None
