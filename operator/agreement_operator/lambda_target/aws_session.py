"""The boto3 session the operator's clients come from: botocore's endpoint table cut down to the services
the operator calls.

botocore parses its whole endpoint table (endpoints.json: every service in every partition, about 7 MB
of Python objects) for the first client, and keeps it for the life of the process, though it only ever
looks up the partitions and the services its clients were made for. Keeping the partitions and those
services makes the same endpoints (tests/lambda_target/test_aws_session.py) for 6 MiB less RSS
(docs/performance.md, "Memory per metric").
"""

from functools import cache

import boto3
import botocore.loaders
import botocore.session

# Lambda, CloudWatch Logs and CloudWatch (its endpoint prefix is "monitoring"), and STS for IRSA.
ENDPOINT_SERVICES = frozenset({"lambda", "logs", "monitoring", "sts"})


class _OperatorServicesLoader(botocore.loaders.Loader):
    def load_data_with_path(self, name: str):
        data, path = super().load_data_with_path(name)  # cached: the trimming below happens once
        if name == "endpoints":
            for partition in data.get("partitions", []):
                services = partition.get("services", {})
                partition["services"] = {service: services[service] for service in ENDPOINT_SERVICES
                                         if service in services}
        return data, path


@cache
def core_session() -> botocore.session.Session:
    """The operator's own credentials, and its endpoint table (a session assuming a role shares the loader)."""
    core = botocore.session.get_session()
    core.register_component("data_loader", _OperatorServicesLoader())
    return core


@cache
def session() -> boto3.session.Session:
    """One per process; boto3 clients are thread-safe, sessions are not, so make clients at startup."""
    return boto3.session.Session(botocore_session=core_session())
