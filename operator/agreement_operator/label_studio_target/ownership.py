"""Whose code a Label Studio project runs, judged by its marker, and what that lets a metric do.

A metric changes a project's code only when the project has none (or nothing deployed), when the
code carries this metric's marker (a new uid only means the resource was recreated), when it
carries the marker of a metric of this cluster that no longer exists, or when the unmarked code is
exactly this metric's (posted by an operator from before markers). Code marked for another metric
is never touched (ProjectOwnedElsewhere); code written by hand is taken over only on request, from
a namespace allowed to adopt (FunctionNotManaged, AdoptionNotAllowed), and what it replaced is kept
in the operator's log.
"""

import logging
from collections.abc import Callable

from agreement_operator import failures, target
from agreement_operator.config import Config
from agreement_operator.label_studio_target import marker
from agreement_operator.label_studio_target.label_studio_api import ProjectFunction
from agreement_operator.target import Event, Request

log = logging.getLogger(__name__)


def claim(project: int, current: ProjectFunction, code: str, request: Request, config: Config,
          exists: Callable[[str, str], bool] | None, events: list[Event], digest: Callable[[str], str]) -> str | None:
    """Nothing when the metric may change the project's code; the CodeSha256 of hand-written code it adopts;
    failures.PermanentFailure when it may not."""
    if not current.code.strip():
        return None
    found = marker.owner_of(current.code)
    if found is None:
        return None if current.code == marker.unmarked(code) else _adopt(project, current, request, config, events,
                                                                       digest)
    ours = request.owner
    if (found.cluster, found.namespace, found.name) == (ours.cluster, ours.namespace, ours.name):
        return None
    if found.cluster == ours.cluster and exists is not None and not exists(found.namespace, found.name):
        events.append(Event("ProjectClaimed", f"project {project} ran the code of AgreementMetric "
                                              f"{found.namespace}/{found.name}, which no longer exists; replacing it"))
        return None
    raise failures.PermanentFailure(
        "ProjectOwnedElsewhere",
        f"Label Studio project {project} runs the code of AgreementMetric {found.namespace}/{found.name} in cluster "
        f"{found.cluster!r}; point spec.labelStudio.project at another project, or delete the other resource",
    )


def _adopt(project: int, current: ProjectFunction, request: Request, config: Config, events: list[Event],
           digest: Callable[[str], str]) -> str:
    target.require_adoption(request, config, f"the code of Label Studio project {project} (written in Label Studio, "
                            f"code sha256 {digest(current.code)})", "point spec.labelStudio.project at another project")
    replaced = digest(current.code)
    log.info("adopting Label Studio project %s for AgreementMetric %s/%s: the code it replaces (sha256 %s):\n%s",
             project, request.owner.namespace, request.owner.name, replaced, current.code)
    events.append(Event("Adopted", f"replaced the hand-written code of Label Studio project {project} (code sha256 "
                                   f"{replaced}, kept in status.labelStudio.adoptedCodeSha256; the operator's log "
                                   "has the code itself)"))
    return replaced
