"""`agreement-operator dev`: the local sandbox until interrupted. Development tooling: it runs from a
checkout, and the sandbox it starts is not in the wheel or the image."""

import argparse
import sys
from types import ModuleType


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--resync-seconds", type=float, default=600, help="the operator's drift resync interval")
    parser.add_argument("--idle-seconds", type=float, metavar="SECONDS",
                        help="make a function Inactive after this long without an invoke, as Lambda does with idle "
                             "functions (default: AGREEMENT_SANDBOX_IDLE_SECONDS, else never)")
    parser.add_argument("--node", action="store_true",
                        help="also run one real node (containerd, kubelet, scheduler, controller-manager, kube-proxy, "
                             "CoreDNS): needs root; docs/node.md")
    parser.add_argument("--flux", action="store_true",
                        help="also run Flux (source-controller, kustomize-controller, helm-controller) and a local "
                             "Git server, and print a Git remote that Flux follows: push metrics to it "
                             "(docs/gitops.md)")


def run(args: argparse.Namespace) -> int:
    commands = sandbox_commands()
    return commands.dev(args.resync_seconds, args.idle_seconds, args.node, args.flux) if commands else 1


def sandbox_commands() -> ModuleType | None:
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
