"""A metric deployed through a Label Studio project (spec.labelStudio): Label Studio owns the
function and the operator owns its code, through Label Studio's REST API (label_studio_api.py,
the only module that calls it). reconcile.py makes one change per pass; ownership.py and
marker.py say whose code a project runs. One operator may hold several connections (named
Label Studio instances, or one token per team), each serving the namespaces it lists."""

from collections.abc import Callable, Mapping

from agreement_operator import failures, target
from agreement_operator.config import DEFAULT_CONNECTION, Config
from agreement_operator.label_studio_target import reconcile
from agreement_operator.label_studio_target.label_studio_api import LabelStudioProjects
from agreement_operator.label_studio_target.reconcile import ProjectAgreement, ProjectLogs
from agreement_operator.target import Event, Outcome, Request

NOT_CONFIGURED = target.Unconfigured(
    "label_studio", "LabelStudioNotConfigured",
    "spec.labelStudio needs the operator to know its Label Studio: set LABEL_STUDIO_URL and "
    "LABEL_STUDIO_API_KEY (Helm: labelStudio.url and labelStudio.existingSecret, or labelStudio.connections)",
    on_delete=reconcile.delete,
)


def connection_of(spec: Mapping) -> str:
    """The connection a metric names (spec.labelStudio.connection), `default` when it names none."""
    return (spec.get("labelStudio") or {}).get("connection") or DEFAULT_CONNECTION


class LabelStudioTarget:
    """Metrics deployed through a Label Studio project (the Target of target.py)."""

    name = "label_studio"

    def __init__(self, connections: Mapping[str, LabelStudioProjects] | LabelStudioProjects, config: Config) -> None:
        """`connections`: a client per connection name (one client alone is the `default` connection)."""
        self.connections: dict[str, LabelStudioProjects] = (
            {DEFAULT_CONNECTION: connections} if isinstance(connections, LabelStudioProjects) else dict(connections))
        self.config = config

    def reconcile(self, request: Request) -> Outcome:
        try:
            projects = self._connection(request)
        except failures.PermanentFailure as failure:
            return target.failed(failure, request.attempt, [], {})
        return reconcile.reconcile(request, projects, self.config)

    def deployed_as_specified(self, request: Request) -> bool:
        return connection_of(request.spec) in self.connections and reconcile.deployed_as_specified(request)

    def delete(self, request: Request) -> list[Event]:
        return reconcile.delete(request)

    def error_reader(self, request: Request) -> ProjectLogs | None:
        projects = self.connections.get(connection_of(request.spec))
        return ProjectLogs(projects, request.spec["labelStudio"]["project"]) if projects else None

    def usage_reader(self, request: Request) -> ProjectAgreement | None:
        """Label Studio invokes the project's function itself; what shows is the agreement it computes."""
        projects = self.connections.get(connection_of(request.spec))
        return ProjectAgreement(projects, request.spec["labelStudio"]["project"]) if projects else None

    def _connection(self, request: Request) -> LabelStudioProjects:
        """The metric's connection, if its namespace may use it; PermanentFailure before any request otherwise."""
        name, namespace = connection_of(request.spec), request.owner.namespace
        if name not in self.connections:
            known = ", ".join(sorted(self.connections))
            raise failures.PermanentFailure(
                "LabelStudioConnectionNotFound",
                f"spec.labelStudio.connection names {name!r}, which this operator does not have (it has: {known}); "
                "fix the name, or ask the operator's administrators to add it (Helm: labelStudio.connections)",
            )
        settings = self.config.label_studio_connections.get(name)
        allowed = settings.serves(namespace) if settings else self.config.may_use_label_studio(namespace)
        if not allowed:
            raise failures.PermanentFailure(
                "LabelStudioNamespaceNotAllowed",
                f"namespace {namespace} may not deploy through the Label Studio connection {name!r}; ask the "
                "operator's administrators to add it to that connection's namespaces (Helm: labelStudio.namespaces "
                "or labelStudio.connections[].namespaces; AGREEMENT_OPERATOR_LABEL_STUDIO_NAMESPACES)",
            )
        return self.connections[name]


def build(config: Config, on_answer: Callable[[str, int], None] | None = None) -> target.Target:
    """The target for this configuration (`on_answer` hears of every answer Label Studio gives);
    NOT_CONFIGURED without any Label Studio connection."""
    connections = config.label_studio_connections
    if not connections:
        return NOT_CONFIGURED
    return LabelStudioTarget({name: LabelStudioProjects(connection.url, connection.api_key, on_answer=on_answer)
                              for name, connection in connections.items()}, config)
