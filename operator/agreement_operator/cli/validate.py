"""`agreement-operator validate FILE...`: every metric of the files checked, nothing deployed or run."""

import argparse
import sys

from agreement_operator.metric import manifests


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="YAML files or directories")


def run(args: argparse.Namespace) -> int:
    found = manifests.load_files(args.files)
    for error in found.unreadable:
        print(error)
    problems = len(found.unreadable)
    for metric in found.metrics:
        checked = manifests.check(metric, found.configmaps)
        if checked.note:
            print(checked.note, file=sys.stderr)
        for problem in checked.problems:
            print(f"{metric.path}: metric {metric.name}: {problem}")
        for warning in checked.spec.warnings if checked.spec else ():
            print(f"{metric.path}: metric {metric.name}: warning: {warning}")
        problems += len(checked.problems)
    if not found.metrics and problems == 0:
        print("no AgreementMetric found in " + " ".join(args.files))
        return 1
    print(f"{len(found.metrics)} metric(s) checked, {problems} problem(s)", file=sys.stderr)
    return 1 if problems else 0
