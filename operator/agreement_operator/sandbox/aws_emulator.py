"""moto's AWS server on a free loopback port, with the functions' execution role in it."""

import json
import sys
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import boto3

from agreement_operator.sandbox.processes import Child, free_port, http_get

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
ROLE_NAME = "LSE_CustomMetricsExecuteRole"
# moto accepts any key; these only keep boto3 from looking for real credentials.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "sandbox", "AWS_SECRET_ACCESS_KEY": "sandbox"}


@dataclass
class AwsEmulator:
    endpoint_url: str
    region: str
    role_arn: str

    def client(self, service: str):
        return boto3.client(
            service, region_name=self.region, endpoint_url=self.endpoint_url,
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    def queue_invocation_results(self, results: list[str]) -> None:
        """The payloads the next Lambda invocations answer with, in order (moto runs no code)."""
        _post(f"{self.endpoint_url}/moto-api/static/lambda-simple/response",
              {"results": results, "region": self.region})

    def operator_environment(self) -> dict[str, str]:
        return {
            **CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint_url,
            "LS_LAMBDA_REGION_CUSTOM_METRICS": self.region, "LS_LAMBDA_ROLE_CUSTOM_METRICS": self.role_arn,
        }


def start(workdir: Path, stack: ExitStack) -> AwsEmulator:
    port = free_port()
    server = Child("moto_server", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                   workdir / "moto.log")
    stack.callback(server.stop)
    endpoint = f"http://127.0.0.1:{port}"
    server.wait_until(lambda: http_get(f"{endpoint}/moto-api/") is not None, 60, "ready")
    # Invocations answer from a queue instead of starting Docker containers, which need an engine.
    _post(f"{endpoint}/moto-api/config", {"lambda": {"use_docker": False}})
    emulator = AwsEmulator(endpoint_url=endpoint, region=REGION, role_arn="")
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    role = emulator.client("iam").create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(trust))
    emulator.role_arn = role["Role"]["Arn"]
    return emulator



def _post(url: str, body: dict) -> None:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10):
        pass
