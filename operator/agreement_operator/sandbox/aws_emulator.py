"""moto's AWS server on a free loopback port, with the functions' execution role in it, behind the
sandbox's Lambda proxy, which runs invocations for real (lambda_proxy, local_lambda)."""

import json
import os
import sys
import urllib.request
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import boto3

from agreement_operator.sandbox.lambda_proxy import LambdaProxy
from agreement_operator.sandbox.local_lambda import LocalLambda
from agreement_operator.sandbox.processes import Child, StartupFailed, free_port, http_get

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
ROLE_NAME = "LSE_CustomMetricsExecuteRole"
# moto accepts any key; these only keep boto3 from looking for real credentials.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "sandbox", "AWS_SECRET_ACCESS_KEY": "sandbox"}
TARGET_ROLE = "AgreementOperatorTarget"  # the role of another account an AWS connection assumes
TRUST_LAMBDA = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


@dataclass
class AwsEmulator:
    endpoint_url: str  # the front door: the Lambda proxy
    region: str
    role_arn: str
    moto_url: str
    invoker: LocalLambda
    front: LambdaProxy
    _extra_proxies: list[LambdaProxy] = field(default_factory=list)

    def client(self, service: str):
        return boto3.client(
            service, region_name=self.region, endpoint_url=self.endpoint_url,
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    def assume(self, account: str, region: str) -> boto3.session.Session:
        """Credentials of another account, as an AWS connection gets them: AssumeRole of its TARGET_ROLE from
        the sandbox's own keys (moto binds them to that account), through the front door."""
        sts = self.client("sts")
        assumed = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{TARGET_ROLE}",
                                  RoleSessionName="sandbox")["Credentials"]
        return boto3.session.Session(assumed["AccessKeyId"], assumed["SecretAccessKey"], assumed["SessionToken"],
                                     region_name=region)

    def connection(self, name: str, account: str, region: str, namespaces: list[str]) -> dict:
        """An AWS connection to another account and region (an entry of AGREEMENT_OPERATOR_AWS_CONNECTIONS), with
        the functions' execution role made in that account."""
        iam = self.assume(account, region).client("iam", endpoint_url=self.endpoint_url)
        if not any(role["RoleName"] == ROLE_NAME for role in iam.list_roles()["Roles"]):
            iam.create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(TRUST_LAMBDA))
        return {"name": name, "region": region, "namespaces": namespaces,
                "roleArn": f"arn:aws:iam::{account}:role/{TARGET_ROLE}",
                "executionRoleArn": f"arn:aws:iam::{account}:role/{ROLE_NAME}"}

    def functions_in(self, account: str, region: str) -> set[str]:
        """The names of another account's functions in `region`."""
        client = self.assume(account, region).client("lambda", endpoint_url=self.endpoint_url)
        return {function["FunctionName"] for function in client.list_functions()["Functions"]}

    def function(self, name: str) -> dict | None:
        """A function's configuration with its tags (key Tags), as GetFunction gives them; None when none."""
        lam = self.client("lambda")
        try:
            response = lam.get_function(FunctionName=name)
        except lam.exceptions.ResourceNotFoundException:
            return None
        return {**response["Configuration"], "Tags": response.get("Tags", {})}

    def proxy(self, **behaviour) -> LambdaProxy:
        """Another front to moto, with quotas or Pending states (LambdaProxy's options), running
        invocations like the main one; stopped with the sandbox."""
        proxy = LambdaProxy(self.moto_url, self.invoker, region=self.region, **behaviour).start()
        self._extra_proxies.append(proxy)
        return proxy

    def stop_proxies(self) -> None:
        for proxy in self._extra_proxies:
            proxy.stop()

    def operator_environment(self) -> dict[str, str]:
        return {
            **CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint_url,
            "LS_LAMBDA_REGION_CUSTOM_METRICS": self.region, "LS_LAMBDA_ROLE_CUSTOM_METRICS": self.role_arn,
        }


def start(workdir: Path, stack: ExitStack, idle_seconds: float | None = None, host: str = "127.0.0.1") -> AwsEmulator:
    """`idle_seconds`: functions go Inactive after this long without an invoke (None: as the
    environment says, see lifecycle_from). `host`: where the front door answers (a node's bridge, for
    pods); moto itself stays on loopback behind it."""
    port = free_port()
    server = Child("moto_server", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                   workdir / "moto.log")
    stack.callback(server.stop)
    endpoint = f"http://127.0.0.1:{port}"
    server.wait_until(lambda: http_get(f"{endpoint}/moto-api/") is not None, 60, "ready")
    # moto must not look for a Docker engine: Invoke never reaches it (the proxy runs the code).
    _post(f"{endpoint}/moto-api/config", {"lambda": {"use_docker": False}})
    invoker = LocalLambda(endpoint, REGION, workdir, CREDENTIALS)
    stack.callback(invoker.stop)
    lifecycle = lifecycle_from(os.environ)
    if idle_seconds is not None:
        lifecycle["idle_seconds"] = idle_seconds
    front = LambdaProxy(endpoint, invoker, host=host, region=REGION, **lifecycle).start()
    stack.callback(front.stop)
    emulator = AwsEmulator(endpoint_url=front.url, region=REGION, role_arn="", moto_url=endpoint, invoker=invoker,
                           front=front)
    stack.callback(emulator.stop_proxies)
    role = emulator.client("iam").create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(TRUST_LAMBDA))
    emulator.role_arn = role["Role"]["Arn"]
    return emulator


def lifecycle_from(env: Mapping[str, str]) -> dict[str, float]:
    """The sandbox Lambda's idle functions, from the environment: AGREEMENT_SANDBOX_IDLE_SECONDS (a
    function not invoked this long goes Inactive; unset: never) and AGREEMENT_SANDBOX_RESTORE_SECONDS
    (how long a restore keeps it Pending; default 2)."""
    options: dict[str, float] = {}
    for variable, option in (("AGREEMENT_SANDBOX_IDLE_SECONDS", "idle_seconds"),
                             ("AGREEMENT_SANDBOX_RESTORE_SECONDS", "restore_seconds")):
        if raw := env.get(variable):
            try:
                options[option] = float(raw)
            except ValueError:
                raise StartupFailed(f"{variable}={raw!r} must be a number of seconds") from None
    return options


def _post(url: str, body: dict) -> None:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10):
        pass
