"""`agreement-operator run`: the operator itself, configured from the environment."""

import argparse
import asyncio
import ctypes
import secrets
import socket
import sys
import threading

from agreement_operator.config import Config, ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-n", "--namespace", action="append", default=[],
                        help="watch this namespace (repeatable); default: AGREEMENT_OPERATOR_NAMESPACES, else all")
    parser.add_argument("--standalone", action="store_true",
                        help="do not use kopf peering (the default without --peering)")
    parser.add_argument("--peering", metavar="NAME",
                        help="kopf peering object name, for several replicas: one of them is active at a time")
    parser.add_argument("--priority", type=int, help="kopf peering priority (default with --peering: random)")
    parser.add_argument("--liveness", metavar="URL",
                        help="liveness endpoint, e.g. http://0.0.0.0:8080/healthz; readiness is /readyz on its port")
    parser.add_argument("--log-format", choices=["plain", "full", "json"], default="full")
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-v", "--verbose", action="store_true")
    verbosity.add_argument("-q", "--quiet", action="store_true")
    verbosity.add_argument("--debug", action="store_true")


# The exit status when the operator stopped because the CRD became too old for it (controller/crd_upkeep.py).
STOPPED_FOR_CRD = 3


def run(args: argparse.Namespace) -> int:
    try:
        config = Config.from_env()
    except ConfigError as error:
        print(f"agreement-operator: configuration error: {error}", file=sys.stderr)
        return 2
    import kopf

    from agreement_operator.controller import log_setup
    from agreement_operator.controller.peering import Peering
    from agreement_operator.controller.registry import build_registry

    log_setup.configure(args.log_format, verbose=args.verbose, debug=args.debug, quiet=args.quiet)
    _limit_malloc_arenas()
    namespaces = tuple(args.namespace) or config.namespaces
    priority = args.priority
    if args.peering and priority is None:
        # kopf pauses every peer when priorities are equal, and replicas of one Deployment
        # share their arguments: a random priority makes exactly one of them active.
        priority = secrets.randbelow(2**31 - 2) + 1
    # kopf would otherwise look for a peering named "default" whenever its CRD exists; the operator's
    # own periodic work follows the peering it was given, so kopf is given the same one, or none.
    peering = None
    if args.peering and not args.standalone:
        identity = f"{socket.gethostname()}/{secrets.token_hex(4)}"
        peering = Peering(args.peering, identity, priority or 0, tuple(namespaces))
    # Set by kopf once its startup (the CRD check included) is done; and set by the CRD checks to stop the
    # operator, in kopf's loop (a threading.Event would hold one of the loop's threads waiting on it, and the
    # process would never exit after a failed startup).
    started, stop = threading.Event(), asyncio.Event()
    memo = kopf.Memo(config=config, peering=peering, health_url=args.liveness, started=started, stop_flag=stop)
    kopf.run(
        registry=build_registry(),
        memo=memo,
        clusterwide=not namespaces,
        namespaces=namespaces,
        standalone=peering is None,
        peering_name=peering.name if peering else None,
        priority=priority,
        # kopf's Identity is a NewType of str that kopf does not export.
        identity=peering.identity if peering else None,  # type: ignore[arg-type]
        # /healthz and /readyz are the operator's own (controller/health.py): they answer while it waits for its CRD.
        liveness_endpoint=None,
        ready_flag=started,
        stop_flag=stop,
    )
    upkeep = memo.get("crd_upkeep")
    return STOPPED_FOR_CRD if upkeep is not None and upkeep.stopped_operator else 0


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
