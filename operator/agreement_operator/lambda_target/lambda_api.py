"""The only module that calls AWS Lambda: read, create, update code or configuration, tag, invoke, delete.

"Not found" is None (or False for delete), never an exception; every other AWS
error leaves as a PermanentFailure or RetryableFailure (see failures.py). Nothing here
waits: create and update return the configuration Lambda answered with (its State and
LastUpdateStatus included), and the caller comes back later while Lambda is busy.

Every call but Invoke is paid from a budget (budget.py): GetFunction from `reads` (Lambda's
100 requests/s), the others from `control` (the 15 requests/s Lambda's control plane allows
the account). A call whose budget is spent raises QuotaWait with its turn.
"""

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from botocore.exceptions import ClientError

from agreement_operator.function.invocation import Invocation
from agreement_operator.lambda_target import aws_errors
from agreement_operator.lambda_target.budget import Budget

CONFIGURATION_KEYS = ("Runtime", "Role", "Handler", "Timeout", "MemorySize", "Description")
# One connection per worker thread that may call Lambda at once (botocore's default is 10).
DEFAULT_POOL_CONNECTIONS = 10
# An Inactive function whose StateReasonCode is Idle (or none, from older answers) was only left
# unused; any other code (a subnet out of addresses, a role Lambda may not assume) is a restore
# that failed.
IDLE_REASON_CODES = ("Idle", "")


@dataclass(frozen=True)
class DeployedFunction:
    name: str
    arn: str
    code_sha256: str
    state: str
    last_update_status: str
    state_reason: str = ""
    configuration: Mapping[str, object] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    state_reason_code: str = ""

    @property
    def idle(self) -> bool:
        """Lambda reclaimed an idle function's resources: Inactive, and restored on its next invoke."""
        return self.state == "Inactive" and self.state_reason_code in IDLE_REASON_CODES

    @property
    def restoring(self) -> bool:
        """Lambda is recreating an idle function's resources, after an invoke or an update (Pending)."""
        return self.state == "Pending" and self.state_reason_code == "Restoring"

    @property
    def settled(self) -> bool:
        """Lambda has applied everything: Active, or idle after a successful create or update."""
        return (self.state == "Active" or self.idle) and self.last_update_status == "Successful"

    @property
    def failed(self) -> bool:
        """Lambda could not apply it, or could not restore an Inactive function (it says why)."""
        restore_failed = self.state == "Inactive" and not self.idle
        return self.state == "Failed" or self.last_update_status == "Failed" or restore_failed

    @property
    def busy(self) -> bool:
        """Lambda is still applying a create or an update, or restoring the function."""
        return not self.settled and not self.failed

    def as_status(self) -> dict:
        """The fields of the metric's status that describe the function as Lambda last did."""
        return {"functionName": self.name, "functionArn": self.arn, "codeSha256": self.code_sha256,
                "state": self.state, "lastUpdateStatus": self.last_update_status}


def make_client(region: str, endpoint_url: str | None = None, pool_connections: int = DEFAULT_POOL_CONNECTIONS):
    return aws_errors.client("lambda", region, endpoint_url, pool_connections)


class LambdaFunctions:
    def __init__(self, client, control: Budget | None = None, reads: Budget | None = None,
                 urgent: bool = False) -> None:
        """`control`, `reads`: the budgets (None: unpaced); `urgent`: calls go ahead of the queue."""
        self.client, self.control, self.reads, self.urgent = client, control, reads, urgent
        self._prepaid: set[str] = set()

    def for_pass(self, urgent: bool) -> "LambdaFunctions":
        """The same client and budgets, for one pass that is `urgent` (a person changed the metric) or not."""
        paced = copy.copy(self)
        paced.urgent, paced._prepaid = urgent, set()
        return paced

    def prepay(self, operation: str, name: str) -> None:
        """Take the turn of the control-plane call (`operation`) this pass expects to make on `name` before
        reading it: QuotaWait now, rather than a read now and another at the turn."""
        with aws_errors.call(operation, name, budget=self.control, urgent=self.urgent):
            self._prepaid.add(name)

    def _call(self, operation: str, target: str):
        budget = self.reads if operation == "GetFunction" else self.control
        if operation != "GetFunction" and target in self._prepaid:  # its turn was taken before the read
            self._prepaid.discard(target)
            budget = None
        return aws_errors.call(operation, target, budget=budget, urgent=self.urgent)

    def read(self, name: str) -> DeployedFunction | None:
        with self._call("GetFunction", name):
            try:
                response = self.client.get_function(FunctionName=name)
            except ClientError as error:
                if aws_errors.not_found(error):
                    return None
                raise
        return _deployed(response["Configuration"], response.get("Tags") or {})

    def create(self, name: str, zip_bytes: bytes, configuration: Mapping, tags: Mapping[str, str]
               ) -> DeployedFunction | None:
        """The function as Lambda created it; None when a function of that name already exists."""
        with self._call("CreateFunction", name):
            try:
                response = self.client.create_function(
                    FunctionName=name, Code={"ZipFile": zip_bytes}, Tags=dict(tags), Publish=False,
                    PackageType="Zip", **configuration,
                )
            except ClientError as error:
                if aws_errors.already_exists(error):
                    return None
                raise
        return _deployed(response, tags)

    def update_code(self, current: DeployedFunction, zip_bytes: bytes) -> DeployedFunction:
        with self._call("UpdateFunctionCode", current.name):
            response = self.client.update_function_code(FunctionName=current.name, ZipFile=zip_bytes, Publish=False)
        return _deployed(response, current.tags)

    def update_configuration(self, current: DeployedFunction, configuration: Mapping) -> DeployedFunction:
        with self._call("UpdateFunctionConfiguration", current.name):
            response = self.client.update_function_configuration(FunctionName=current.name, **configuration)
        return _deployed(response, current.tags)

    def tag(self, arn: str, tags: Mapping[str, str]) -> None:
        with self._call("TagResource", arn):
            self.client.tag_resource(Resource=arn, Tags=dict(tags))

    def untag(self, arn: str, keys: list[str]) -> None:
        with self._call("UntagResource", arn):
            self.client.untag_resource(Resource=arn, TagKeys=keys)

    def delete(self, name: str) -> bool:
        """Delete the function; False when it was already gone."""
        with self._call("DeleteFunction", name):
            try:
                self.client.delete_function(FunctionName=name)
            except ClientError as error:
                if aws_errors.not_found(error):
                    return False
                raise
        return True

    def invoke(self, name: str, event: Mapping) -> Invocation:
        """The decoded payload, and Lambda's FunctionError ("Unhandled") when the function failed."""
        with aws_errors.call("InvokeFunction", name):
            response = self.client.invoke(FunctionName=name, Payload=json.dumps(event).encode())
            body = response["Payload"].read()
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            payload = body.decode(errors="replace")
        return Invocation(payload, response.get("FunctionError"))

def _deployed(configuration: Mapping, tags: Mapping[str, str]) -> DeployedFunction:
    return DeployedFunction(
        name=configuration["FunctionName"],
        arn=configuration["FunctionArn"],
        code_sha256=configuration.get("CodeSha256", ""),
        state=configuration.get("State") or "Active",
        # Functions from before Lambda's lifecycle states (and some emulators) omit it.
        last_update_status=configuration.get("LastUpdateStatus") or "Successful",
        state_reason=configuration.get("StateReason") or configuration.get("LastUpdateStatusReason") or "",
        state_reason_code=configuration.get("StateReasonCode") or "",
        configuration={key: configuration.get(key) for key in CONFIGURATION_KEYS},
        tags=dict(tags),
    )
