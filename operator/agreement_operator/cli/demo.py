"""`agreement-operator demo`: the sandbox started, the examples applied and shown, everything stopped."""

import argparse
from pathlib import Path

from agreement_operator.cli.dev import sandbox_commands


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--examples", type=Path, help="directory of manifests to apply (default: examples/)")


def run(args: argparse.Namespace) -> int:
    commands = sandbox_commands()
    return commands.demo(args.examples) if commands else 1
