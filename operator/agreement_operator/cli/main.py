"""The `agreement-operator` command: one table from command name to the module that runs it.

A command's module is imported only when that command runs, so `validate` and `package` start
without importing kopf or boto3, and the image runs `run` without the development sandbox.
Each module offers `add_arguments(parser)` and `run(args) -> exit status`.
"""

import argparse
import importlib
from collections.abc import Sequence
from dataclasses import dataclass

from agreement_operator import __version__


@dataclass(frozen=True)
class Command:
    module: str
    summary: str


COMMANDS = {
    "run": Command("run", "run the operator (configuration from the environment)"),
    "validate": Command("validate", "check AgreementMetric manifests without deploying them"),
    "package": Command("package", "write the exact zip the operator would deploy"),
    "test": Command("test", "run manifests' spec.tests through the packaged handler, locally"),
    "score": Command("score", "score a Label Studio JSON export with a metric, as Label Studio would"),
    "logs": Command("logs", "a metric's function log lines, newest last (like kubectl logs)"),
    "crd": Command("crd", "print the AgreementMetric CRD this version expects (to apply by hand)"),
    "dev": Command("dev", "run a local sandbox (kube-apiserver, etcd, AWS emulator, operator)"),
    "demo": Command("demo", "start the sandbox, apply the examples, show the result, stop"),
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="agreement-operator",
        description="Deploy Label Studio Enterprise custom agreement metrics to AWS Lambda from Kubernetes.",
        epilog="commands:\n" + "\n".join(f"  {name:<10}{command.summary}" for name, command in COMMANDS.items())
        + "\n\n'agreement-operator COMMAND --help' describes a command's arguments.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("command", metavar="COMMAND", choices=COMMANDS, help=", ".join(COMMANDS))
    parser.add_argument("arguments", nargs=argparse.REMAINDER, metavar="ARGUMENTS", help="the command's arguments")
    chosen = parser.parse_args(argv)
    module = importlib.import_module(f"{__package__}.{COMMANDS[chosen.command].module}")
    return module.run(command_parser(chosen.command).parse_args(chosen.arguments))


def command_parser(name: str, width: int | None = None) -> argparse.ArgumentParser:
    """The parser of command `name` (its module imported); `width`: of its help text (default: the terminal's)."""
    module = importlib.import_module(f"{__package__}.{COMMANDS[name].module}")
    parser = argparse.ArgumentParser(prog=f"agreement-operator {name}", description=COMMANDS[name].summary,
                                     formatter_class=lambda prog: argparse.HelpFormatter(prog, width=width))
    module.add_arguments(parser)
    return parser
