"""The operator's own Kubernetes calls: credentials from kopf's login, TLS and auth headers.

The calls themselves run against the real apiserver in the end-to-end tier (codeFrom,
the revision annotation, status.functionNames, and the chart's RBAC).
"""

import base64
import ssl

import kopf
import pytest

from agreement_operator import failures
from agreement_operator.controller import kube


def test_credentials_come_from_kopfs_connection_info(tmp_path):
    info = kopf.ConnectionInfo(server="https://10.0.0.1:6443", token="abc", ca_path=str(tmp_path / "ca.crt"),
                               insecure=None, default_namespace="labeling")
    credentials = kube.Credentials.from_kopf(info)
    assert credentials == kube.Credentials(server="https://10.0.0.1:6443", token="abc",
                                           ca_path=str(tmp_path / "ca.crt"), insecure=False)


def test_a_token_is_sent_as_bearer_and_a_password_as_basic():
    assert kube._auth(kube.Credentials(server="https://x", token="t0k")) == {"Authorization": "Bearer t0k"}
    basic = kube._auth(kube.Credentials(server="https://x", username="u", password="p"))
    assert basic == {"Authorization": "Basic " + base64.b64encode(b"u:p").decode()}


def test_insecure_skip_tls_verify_turns_verification_off():
    context = kube._tls(kube.Credentials(server="https://x", insecure=True))
    assert (context.verify_mode, context.check_hostname) == (ssl.CERT_NONE, False)
    assert kube._tls(kube.Credentials(server="https://x")).verify_mode == ssl.CERT_REQUIRED


def test_calls_before_login_are_retried_later():
    with pytest.raises(failures.RetryableFailure, match="not logged in"):
        kube.KubeAPI().read_configmap("labeling", "code")


@pytest.mark.parametrize(("status", "failure", "reason"), [
    (403, failures.PermanentFailure, "Forbidden"),
    (500, failures.RetryableFailure, "KubernetesAPIError"),
    (401, failures.RetryableFailure, "KubernetesAPIError"),  # kopf logs in again; the retry uses the new token
])
def test_refusals_are_classified(status, failure, reason):
    with pytest.raises(failure) as raised:
        kube._raise_for(status, {"message": "no"}, "get ConfigMap a/b")
    assert raised.value.reason == reason and "get ConfigMap a/b" in raised.value.message
