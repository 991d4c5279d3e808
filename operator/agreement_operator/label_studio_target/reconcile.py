"""Deploy a metric through a Label Studio project (`spec.labelStudio`), one pass at a time.

Label Studio owns the function here (its name, runtime, tags, and whether it runs on AWS
Lambda or GCP Cloud Functions); the operator owns the code. A pass reads the project's
function once and makes at most one change:

    code differs, or nothing runs it  -> check-function, then POST the code; come back soon
    Pending                           -> Reconciling, come back after a growing delay
    Failed / Error                    -> Stalled, with the errors from the function's logs
    Active with exactly the spec code -> select spec.labelStudio.metricName if set; Ready

Label Studio has no endpoint that removes a project's function: deleting the resource
leaves the project's last code in place and says so in an Event.
"""

import base64
import datetime
import hashlib
from collections.abc import Mapping

from agreement_operator import failures, target
from agreement_operator.config import Config
from agreement_operator.function import log_errors
from agreement_operator.label_studio_target import label_studio_api, marker, ownership
from agreement_operator.label_studio_target.label_studio_api import LabelStudioProjects, ProjectFunction
from agreement_operator.target import ErrorLook, Event, Outcome, Phase, Request, UsageLook

_REDEPLOY = ("NotDeployed", "NotFound", "Inactive")  # the project has the code, but nothing runs it
_ANSWERS = {
    label_studio_api.UPDATED: "updated", label_studio_api.ACCEPTED: "accepted, activation pending",
    label_studio_api.UNCHANGED: "no change",
}
TESTS_NOT_RUN = (
    "Label Studio runs this function and its API cannot invoke it: smoke tests were not run remotely; "
    "run them locally with `agreement-operator test FILE`"
)
LOG_DAYS = 1  # a project's function logs are read from yesterday on


def code_sha256(code: str) -> str:
    """Base64 SHA-256 of the code as sent to Label Studio (what status.labelStudio.codeSha256 records)."""
    return base64.b64encode(hashlib.sha256(code.encode()).digest()).decode()


def delete(request: Request) -> list[Event]:
    """Nothing to call: Label Studio has no API that removes a project's function."""
    project = request.spec["labelStudio"]["project"]
    return [Event(
        "CodeKeptInProject",
        f"Label Studio has no API to remove a project's custom metric: project {project} keeps the last code "
        "deployed and keeps scoring with it while the custom metric is selected; to stop, pick another "
        "agreement metric in the project's Settings > Quality",
    )]


def reconcile(request: Request, projects: LabelStudioProjects, config: Config) -> Outcome:
    events: list[Event] = []
    wanted = request.spec["labelStudio"]
    project = wanted["project"]
    adopted = (request.status.get("labelStudio") or {}).get("adoptedCodeSha256")
    try:
        code = marker.marked(target.parsed(target.resolved_spec(request)).code, request.owner)
        projects.require_custom_metrics()
        current = projects.read_function(project)
        adopted = ownership.claim(project, current, code, request, config, request.metric_exists, events,
                                  code_sha256) or adopted
        _converge(projects, project, code, current, request.attempt, events, adopted,
                  request.status.get("labelStudio") or {})
        if metric := wanted.get("metricName"):
            _select(projects, project, metric, events)
    except failures.ReconcileFailure as failure:
        return target.failed(failure, request.attempt, events, {})
    tests = request.spec.get("tests") or []
    note = f"; {len(tests)} smoke tests not run remotely (run `agreement-operator test` locally)" if tests else ""
    return Outcome(
        Phase.READY, "Deployed",
        f"Label Studio project {project} runs this code (function Active, code sha256 {code_sha256(code)}){note}",
        events, status={"labelStudio": {**_status(project, "Active", code, wanted.get("metricName"), adopted),
                                        **_kept(request.status.get("labelStudio") or {}, project)},
                        "tests": _tests_not_run(len(tests)) if tests else None},
    )


def deployed_as_specified(request: Request) -> bool:
    """Whether status shows this spec's code Active in this project: a restart needs no request then."""
    try:
        code = marker.marked(target.parsed(target.resolved_spec(request)).code, request.owner)
    except failures.ReconcileFailure:
        return False
    recorded = request.status.get("labelStudio") or {}
    wanted = request.spec["labelStudio"]
    return (recorded.get("project"), recorded.get("codeSha256"), recorded.get("metricName")) == (
        wanted["project"], code_sha256(code), wanted.get("metricName"))


class ProjectLogs:
    """The ErrorReader (target.py) of a project's function: its logs since yesterday, in one request."""

    def __init__(self, projects: LabelStudioProjects, project: int) -> None:
        self.projects, self.project = projects, project

    @property
    def scope(self) -> dict:
        return {"since": _since()}

    def look(self, pending: str | None) -> ErrorLook:
        return ErrorLook(project_errors(self.projects, self.project, _since()))


class ProjectAgreement:
    """The UsageReader (target.py) of a project: the agreement Label Studio computes with the deployed code,
    into status.labelStudio.agreement (GET /api/projects/ID/stats/total_agreement, one request)."""

    field = "labelStudio"

    def __init__(self, projects: LabelStudioProjects, project: int) -> None:
        self.projects, self.project = projects, project

    def look(self, previous: Mapping | None) -> UsageLook:
        status = dict(previous or {})
        try:
            agreement = self.projects.total_agreement(self.project)
        except failures.ReconcileFailure:
            return UsageLook(status)  # an older Label Studio without the endpoint, or one down: nothing to say
        if agreement is None:
            status.pop("agreement", None)
        else:
            status["agreement"] = round(agreement, 6) if isinstance(agreement, float) else agreement
        return UsageLook(status)


def project_errors(projects: LabelStudioProjects, project: int, since: str) -> dict:
    """status.functionErrors of a Label Studio project's function, from its logs since `since`."""
    return log_errors.summarize(projects.function_logs(project, since), since)


def _since() -> str:
    return (datetime.datetime.now(datetime.UTC).date() - datetime.timedelta(days=LOG_DAYS)).isoformat()


def _converge(projects: LabelStudioProjects, project: int, code: str, current: ProjectFunction, attempt: int,
              events: list[Event], adopted: str | None, recorded: Mapping) -> None:
    """Returns once the project runs exactly `code`; otherwise one change and InProgress, or a failure.
    `recorded`: status.labelStudio as last written."""
    if current.code != code or current.status in _REDEPLOY:
        if current.code != code:
            projects.check_code(project, code)
        answer = projects.deploy(project, code)
        events.append(Event("CodeDeployed", f"sent the code to Label Studio project {project} "
                                            f"({_ANSWERS.get(answer, answer)}, code sha256 {code_sha256(code)})"))
        raise failures.InProgress(
            "FunctionPending", f"Label Studio project {project} is deploying the code; checking again shortly",
            delay=0.0 if answer != label_studio_api.ACCEPTED else failures.progress_delay(attempt),
            status={"labelStudio": {**_status(project, "Pending", code, adopted=adopted), **_kept(recorded, project)}})
    if current.status == "Pending":
        raise failures.InProgress(
            "FunctionPending", f"Label Studio reports the function of project {project} Pending; checking again",
            delay=failures.progress_delay(attempt),
            status={"labelStudio": {**_status(project, "Pending", code, adopted=adopted), **_kept(recorded, project)}})
    if current.status != "Active":
        found = project_errors(projects, project, _since())
        why = f": {log_errors.describe(found['recent'])}" if found["recent"] else ""
        raise failures.PermanentFailure(
            "FunctionFailed",
            f"Label Studio reports the function of project {project} {current.status}{why}; fix the code and "
            f"apply it again (the function's log: GET /api/projects/{project}/custom-function-logs)",
        )


def _select(projects: LabelStudioProjects, project: int, metric: str, events: list[Event]) -> None:
    if projects.metric_name(project) != metric:
        projects.select_metric(project, metric)
        events.append(Event("MetricSelected", f"project {project} now scores agreement with metric {metric!r}"))


def _kept(recorded: Mapping, project: int) -> dict:
    """What the looks between passes wrote (the project's agreement), so that a pass that changes nothing
    writes nothing."""
    return {"agreement": recorded["agreement"]} if "agreement" in recorded and recorded.get("project") == project \
        else {}


def _status(project: int, function_status: str, code: str, metric_name: str | None = None,
            adopted: str | None = None) -> dict:
    status = {"project": project, "functionStatus": function_status, "codeSha256": code_sha256(code)}
    if metric_name:
        status["metricName"] = metric_name
    if adopted:
        status["adoptedCodeSha256"] = adopted  # the hand-written code it replaced (the operator's log has it)
    return status


def _tests_not_run(total: int) -> dict:
    return {"total": total, "passed": 0, "failed": 0, "summary": "not run", "message": TESTS_NOT_RUN, "results": []}
