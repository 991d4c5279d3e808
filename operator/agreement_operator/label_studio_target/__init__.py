"""A metric deployed through a Label Studio project (spec.labelStudio): Label Studio owns the
function and the operator owns its code, through Label Studio's REST API (label_studio_api.py,
the only module that calls it). reconcile.py makes one change per pass."""

from collections.abc import Callable

from agreement_operator import target
from agreement_operator.config import Config
from agreement_operator.label_studio_target import reconcile
from agreement_operator.label_studio_target.label_studio_api import LabelStudioProjects
from agreement_operator.label_studio_target.reconcile import ProjectLogs
from agreement_operator.target import Event, Outcome, Request

NOT_CONFIGURED = target.Unconfigured(
    "label_studio", "LabelStudioNotConfigured",
    "spec.labelStudio needs the operator to know its Label Studio: set LABEL_STUDIO_URL and "
    "LABEL_STUDIO_API_KEY (Helm: labelStudio.url and labelStudio.existingSecret)",
    on_delete=reconcile.delete,
)


class LabelStudioTarget:
    """Metrics deployed through a Label Studio project (the Target of target.py)."""

    name = "label_studio"

    def __init__(self, projects: LabelStudioProjects, config: Config) -> None:
        self.projects, self.config = projects, config

    def reconcile(self, request: Request) -> Outcome:
        return reconcile.reconcile(request, self.projects, self.config)

    def deployed_as_specified(self, request: Request) -> bool:
        return reconcile.deployed_as_specified(request)

    def delete(self, request: Request) -> list[Event]:
        return reconcile.delete(request)

    def error_reader(self, request: Request) -> ProjectLogs:
        return ProjectLogs(self.projects, request.spec["labelStudio"]["project"])

    def usage_reader(self, request: Request) -> None:
        """Label Studio invokes the project's function itself, and its API says nothing of how often."""
        return None


def build(config: Config, on_answer: Callable[[str, int], None] | None = None) -> target.Target:
    """The target for this configuration (`on_answer` hears of every answer Label Studio gives);
    NOT_CONFIGURED without LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY."""
    if config.label_studio_url is None or config.label_studio_api_key is None:
        return NOT_CONFIGURED
    projects = LabelStudioProjects(config.label_studio_url, config.label_studio_api_key, on_answer=on_answer)
    return LabelStudioTarget(projects, config)
