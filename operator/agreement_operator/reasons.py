"""Every reason a metric's conditions can give, with the condition it sets, what it means and what to do: the
catalogue the reasons reference page is written from (scripts/reference). A test reads the code for the reasons
it raises (and lambda_target/aws_errors.py's retryable AWS codes) and fails on one missing here; whether the
operator looks again by itself at a Stalled reason is failures.OUTSIDE_THE_RESOURCE."""

from typing import NamedTuple

READY, RECONCILING, STALLED = "Ready", "Reconciling", "Stalled"


class Reason(NamedTuple):
    names: tuple[str, ...]  # one row may hold reasons that mean the same (Label Studio's two refusals, say)
    condition: str
    meaning: str
    action: str


REASONS = (
    Reason(("Deployed",), READY, "the function runs the spec's code, Active (or idle), and every smoke test "
           "passed", ""),
    Reason(("Deploying",), RECONCILING, "a first pass is under way", "wait"),
    Reason(("WaitingForQuota",), RECONCILING, "the metric waits its turn at the operator's share of Lambda's quota; "
           "the message says when", "wait; or raise the share (docs/operate.md, \"Lambda's quota\")"),
    Reason(("FunctionUpdating", "FunctionPending"), RECONCILING, "Lambda (or Label Studio) is applying a change or "
           "activating the function; the operator looks again after a short, growing delay", "wait"),
    Reason(("SmokeTestsWaiting",), RECONCILING, "the smoke tests wait for a function Lambda cannot run yet (idle, "
           "restoring, fresh code, the invoke quota)", "wait: after 10 minutes it is SmokeTestsNotRun"),
    Reason(("FunctionConflict",), RECONCILING, "Lambda answered that the function is busy (409)", "wait"),
    Reason(("TooManyRequestsException", "ThrottlingException", "Throttling", "RequestLimitExceeded",
            "ServiceException", "ServiceUnavailableException", "InternalFailure", "ResourceConflictException",
            "ResourceNotReadyException", "PreconditionFailedException", "EC2ThrottledException",
            "ENILimitReachedException", "CodeArtifactUserPendingException", "AWSServerError", "AWSUnreachable"),
           RECONCILING, "AWS throttled, failed, was busy or could not be reached (its own error code); the operator "
           "retries with backoff, honouring Retry-After", "wait; if it lasts, check AWS's health and the network"),
    Reason(("LabelStudioUnavailable",), RECONCILING, "Label Studio answered 5xx, timed out or could not be reached",
           "wait; if it lasts, check Label Studio"),
    Reason(("KubernetesAPIError",), RECONCILING, "the apiserver failed a call", "wait"),
    Reason(("StatusFieldPruned",), RECONCILING, "the apiserver dropped status fields: the cluster's CRD is older "
           "than the operator", "update the CRD (docs/upgrading.md)"),
    Reason(("InternalError",), RECONCILING, "a bug in the operator; the message has the exception",
           "report it, with the message"),
    Reason(("InvalidCode",), STALLED, "the code does not compile, or lacks `def agreement(annotation_1, "
           "annotation_2, per_label=False)`; the message names the line",
           "fix the code (`agreement-operator validate` shows the same message)"),
    Reason(("InvalidSpec",), STALLED, "a field the schema cannot check is wrong; the message names it", "fix the spec"),
    Reason(("InvalidName",), STALLED, "no function name can be built from the prefix, namespace and name",
           "change the prefix or the name"),
    Reason(("InvalidParameterValue", "AWSRejected"), STALLED, "Lambda refused a setting or a request (its own "
           "error code: a runtime it does not offer, say)", "change what Lambda's message names"),
    Reason(("SmokeTestsFailed",), STALLED, "a test of spec.tests failed against the deployed function; the message "
           "names it", "fix the code or the test"),
    Reason(("SmokeTestsNotRun",), STALLED, "Lambda could not run the function for 10 minutes; the message has its "
           "last answer", "see Lambda's answer; a change of the metric tries again"),
    Reason(("FunctionFailed",), STALLED, "Lambda marked the function Failed, or its restore failed; through a "
           "project, Label Studio could not activate it (the reason in the message)",
           "fix what the message names, then change the metric"),
    Reason(("CodeRejected",), STALLED, "Label Studio's check refused the code", "fix the code as its message says"),
    Reason(("LabelStudioRequestRejected",), STALLED, "Label Studio refused a request (400)",
           "its message says what; a change of the metric tries again"),
    Reason(("FunctionOwnedElsewhere",), STALLED, "a function of that name belongs to another metric or cluster "
           "(its tags say so)", "rename the metric, or change its prefix"),
    Reason(("FunctionNotManaged",), STALLED, "a function (or a project's code) of that name exists without our "
           "mark: made in Label Studio's web form, say", "rename, or adopt it: annotation `agreement.dev/adopt: "
           "\"true\"` in a namespace that may adopt"),
    Reason(("ProjectOwnedElsewhere",), STALLED, "the project's code is marked for another metric",
           "point this metric at another project, or delete the other metric"),
    Reason(("AdoptionNotAllowed",), STALLED, "adoption was asked for in a namespace the operator may not adopt in",
           "add the namespace to adoptNamespaces"),
    Reason(("AccessDenied",), STALLED, "AWS denied an action; the message names it",
           "grant it to the operator's role (docs/iam.md)"),
    Reason(("NoCredentials", "InvalidCredentials"), STALLED, "the operator has no AWS credentials, or AWS refuses "
           "them", "fix IRSA or the credentials (docs/iam.md)"),
    Reason(("Forbidden",), STALLED, "Kubernetes RBAC refused a call; the message names it",
           "grant it (the chart's RBAC: docs/install.md)"),
    Reason(("LambdaNotConfigured",), STALLED, "no AWS region or role is set, and the metric has no spec.labelStudio",
           "set them (docs/reference/settings.md)"),
    Reason(("ConfigMapNotFound", "ConfigMapKeyNotFound", "ConfigMapNotLabeled"), STALLED, "spec.codeFrom names a "
           "ConfigMap or key that is missing, or not labelled `agreement.dev/metric-code: \"true\"`",
           "create or label it"),
    Reason(("LabelStudioUnauthorized", "LabelStudioForbidden"), STALLED, "Label Studio refused the token",
           "fix the token in the connection's Secret"),
    Reason(("LabelStudioNotConfigured", "LabelStudioConnectionNotFound"), STALLED, "no Label Studio connection, "
           "or none of that name", "configure it (docs/label-studio.md, \"The connection\")"),
    Reason(("LabelStudioNamespaceNotAllowed",), STALLED, "the connection does not serve this namespace",
           "add the namespace to the connection's namespaces"),
    Reason(("AwsConnectionNotFound",), STALLED, "spec.aws.connection names an AWS connection this operator does "
           "not have", "fix the name, or add the connection (Helm `aws.connections`; docs/iam.md)"),
    Reason(("AwsNamespaceNotAllowed",), STALLED, "the AWS connection does not serve this namespace",
           "add the namespace to the connection's namespaces (Helm `aws.connections[].namespaces`)"),
    Reason(("ProjectNotFound",), STALLED, "no project of that id, or the token cannot see it",
           "fix spec.labelStudio.project, or the token's rights"),
    Reason(("EditionUnsupported", "CustomMetricAPINotFound"), STALLED, "the Label Studio server has no "
           "custom-metric API (Community edition, or too old)", "use Label Studio Enterprise"),
)
