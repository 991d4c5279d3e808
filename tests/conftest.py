import dataclasses
import io
import json
import os
import shutil
from pathlib import Path

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws

from agreement_operator.config import Config
from agreement_operator.lambda_target import lambda_api, reconcile
from agreement_operator.metric.owner import Owner
from agreement_operator.target import Outcome, Request

DATA = Path(__file__).parent / "data"
REGION = "us-east-1"
MUTATING = {"CreateFunction", "UpdateFunctionCode", "UpdateFunctionConfiguration",
            "TagResource", "UntagResource", "DeleteFunction"}

GOOD_METRIC = '''
def agreement(annotation_1, annotation_2, per_label=False):
    def choices(annotation):
        return {c for item in annotation["result"] if item["type"] == "choices"
                for c in item["value"]["choices"]}
    a, b = choices(annotation_1), choices(annotation_2)
    if per_label:
        return {label: float(label in a and label in b) for label in a | b}
    return len(a & b) / len(a | b) if a | b else 1.0
'''


@pytest.fixture
def annotations() -> dict:
    """Label Studio JSON export annotations: choices, text spans, image boxes."""
    return json.loads((DATA / "annotations.json").read_text())


@pytest.fixture
def owner() -> Owner:
    return Owner(cluster="test-cluster", namespace="labeling", name="sentiment", uid="uid-1")


@pytest.fixture
def request_for(owner):
    """A factory: the Request a target gets for `spec` (of `owner` unless told; no ConfigMaps exist)."""
    def make(spec: dict, owner: Owner = owner, **fields) -> Request:
        return Request(spec=spec, owner=owner, read_configmap=lambda namespace, name: None, **fields)

    return make


@pytest.fixture(scope="session")
def community(tmp_path_factory):
    """The real Label Studio Community server, for the whole session (it takes about 30 s to start).

    Under CI=true it is required: a Label Studio that cannot be installed or started fails the run.
    """
    from agreement_operator.sandbox import label_studio_community
    from agreement_operator.sandbox.processes import StartupFailed

    try:
        server = label_studio_community.start(tmp_path_factory.mktemp("label-studio"))
    except StartupFailed as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI requires the real Label Studio, but it is unavailable: {error}")
        pytest.skip(f"real Label Studio tests skipped: {error}")
    print(f"\nLabel Studio Community started in {server.started_in:.1f} s at {server.url}")
    yield server
    server.stop()


@pytest.fixture
def studio_activation_seconds() -> float:
    """How long the local Label Studio keeps a deployed function Pending (a test module may override it)."""
    return 0


@pytest.fixture
def studio(studio_activation_seconds):
    """The sandbox's local Label Studio API server, on loopback, for one test."""
    from agreement_operator.sandbox.label_studio_server import LabelStudioServer

    server = LabelStudioServer(activation_seconds=studio_activation_seconds).start()
    yield server
    server.stop()


@pytest.fixture
def aws(monkeypatch):
    """moto's in-process AWS with the execution role the functions run as."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    # Lambda without Docker: invocations answer from a queue the tests fill (see smoke tests).
    with mock_aws(config={"lambda": {"use_docker": False}}):
        iam = boto3.client("iam", region_name=REGION)
        trust = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
        role = iam.create_role(RoleName="LSE_CustomMetricsExecuteRole", AssumeRolePolicyDocument=json.dumps(trust))
        yield role["Role"]["Arn"]


@pytest.fixture
def config(aws) -> Config:
    return Config(region=REGION, execution_role_arn=aws, cluster_id="test-cluster", resync_seconds=60,
                  adopt_namespaces=("labeling",))


class CallRecorder:
    """The Lambda API operations a client sent, in order."""

    def __init__(self, client) -> None:
        self.calls: list[str] = []
        client.meta.events.register("before-call.lambda.*", self._record)

    def _record(self, model, **_) -> None:
        self.calls.append(model.name)

    @property
    def mutating(self) -> list[str]:
        return [call for call in self.calls if call in MUTATING]

    def clear(self) -> None:
        self.calls.clear()


@pytest.fixture
def client(config):
    return lambda_api.make_client(config.region)


@pytest.fixture
def recorder(client) -> CallRecorder:
    return CallRecorder(client)


@pytest.fixture
def functions(client) -> lambda_api.LambdaFunctions:
    return lambda_api.LambdaFunctions(client)


@pytest.fixture
def good_metric() -> str:
    """Choices Jaccard: a small correct metric."""
    return GOOD_METRIC


@pytest.fixture
def lambda_client_for_policy(config, monkeypatch):
    """A factory: a client (Lambda unless told) whose IAM user holds only the given policy; moto enforces it.
    Clients made in one test for one policy are the same user's."""
    from moto import settings as moto_settings
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.iam.access_control import IAMRequestBase

    keys: dict[str, dict] = {}  # policy -> the user's key: after its first client, moto enforces it on us too

    def make(policy: dict, service: str = "lambda"):
        document = json.dumps(policy)
        if document not in keys:
            iam = boto3.client("iam", region_name=config.region)
            iam.create_user(UserName="agreement-operator")
            iam.put_user_policy(UserName="agreement-operator", PolicyName="operator", PolicyDocument=document)
            keys[document] = iam.create_access_key(UserName="agreement-operator")["AccessKey"]
        key = keys[document]
        # moto miscomputes SigV4 for Lambda's GET requests; policy evaluation, what we test, stays real.
        monkeypatch.setattr(IAMRequestBase, "check_signature", lambda self: None)
        monkeypatch.setattr(moto_settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
        monkeypatch.setattr(ActionAuthenticatorMixin, "request_count", 0)
        return boto3.client(service, region_name=config.region, aws_access_key_id=key["AccessKeyId"],
                            aws_secret_access_key=key["SecretAccessKey"])

    return make


@pytest.fixture
def settle():
    """Reconcile as kopf would: pass after pass while the outcome says a change is under way.

    Returns the last outcome, with the events of every pass.
    """
    def run(request: Request, functions, config: Config, passes: int = 6) -> Outcome:
        events = []
        for attempt in range(passes):
            outcome = reconcile.reconcile(dataclasses.replace(request, attempt=attempt), functions, config)
            events += outcome.events
            if outcome.reason != "FunctionUpdating":
                return dataclasses.replace(outcome, events=events)
        raise AssertionError(f"still {outcome.reason} after {passes} passes: {outcome.message}")

    return run


class ThrottleFirst:
    """Answer the first `count` Lambda requests of a client the way Lambda does when throttling."""

    def __init__(self, client, count: int, retry_after: str | None = "7", path_suffix: str = "") -> None:
        """`path_suffix`: only requests whose path ends so (UpdateFunctionCode: "/code")."""
        self.remaining = count
        self.retry_after = retry_after
        self.path_suffix = path_suffix
        self.sent = 0
        client.meta.events.register_first("before-send.lambda", self)

    def __call__(self, request, **_):
        self.sent += 1
        if self.remaining == 0 or not request.url.split("?")[0].endswith(self.path_suffix):
            return None
        self.remaining -= 1
        body = json.dumps({"Type": "User", "message": "Rate exceeded", "Reason": "CallerRateLimitExceeded"})
        headers = {"x-amzn-ErrorType": "TooManyRequestsException", "Content-Type": "application/json"}
        if self.retry_after is not None:
            headers["Retry-After"] = self.retry_after
        return AWSResponse(request.url, 429, headers, _RawBody(body.encode()))


class _RawBody:
    def __init__(self, body: bytes) -> None:
        self._stream = io.BytesIO(body)

    def stream(self, **_):
        yield self._stream.read()


@pytest.fixture
def throttle():
    """throttle(client, count, retry_after="7"): the client's next `count` Lambda requests answered 429."""
    return ThrottleFirst


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium (sandbox/browser.py runs it); under CI=true its absence fails the run."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI requires Chromium for the tests that look at pages: apt-get install chromium")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    return found
