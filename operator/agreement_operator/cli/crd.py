"""`agreement-operator crd`: the AgreementMetric CRD this build expects, to apply by hand
(`agreement-operator crd | kubectl apply --server-side -f -`) where the operator does not update it."""

import argparse
import sys

from agreement_operator.schema import packaged


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--revision", action="store_true", help="print only its schema revision")


def run(args: argparse.Namespace) -> int:
    sys.stdout.write(f"{packaged.revision(packaged.manifest())}\n" if args.revision else packaged.text())
    return 0
