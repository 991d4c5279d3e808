"""The operator's log configuration: secrets never reach the log, metrics are named in text lines."""

import io
import logging

import boto3
import pytest
from moto import mock_aws

from agreement_operator.controller import log_setup

KEY_ID = "ASIAEXAMPLEKEY123456"
SECRET = "wJalrXUtnFEMIK7MDENGbPxRfiCYSECRETKEY"
TOKEN = "FwoGZXIvYXdzEXAMPLESESSIONTOKENvalue0123456789abcdef"


@pytest.fixture
def debug_logging(monkeypatch):
    """`agreement-operator run --debug`'s logging; the root logger is put back afterwards."""
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    log_setup.configure("plain", debug=True)
    written = io.StringIO()
    for handler in root.handlers:
        if handler not in saved[1]:
            handler.setStream(written)  # the operator's own handler, whatever pytest does to stderr
    yield written
    root.setLevel(saved[0])
    root.handlers[:] = saved[1]


def test_debug_logs_carry_no_aws_credentials(debug_logging):
    with mock_aws():
        boto3.client("lambda", region_name="us-east-1").list_functions()
        answer = boto3.client("sts", region_name="us-east-1").assume_role_with_web_identity(
            RoleArn="arn:aws:iam::123456789012:role/LSE_ServiceAccountApp", RoleSessionName="operator",
            WebIdentityToken="eyJhbGciOiJSUzI1NiJ9.irsa.token")
    written = debug_logging.getvalue()
    assert "x-amz-security-token" in written.lower()  # botocore did log the signed request
    issued = answer["Credentials"]
    for secret in (KEY_ID, SECRET, TOKEN, issued["AccessKeyId"], issued["SecretAccessKey"], issued["SessionToken"]):
        assert secret not in written
    assert "[redacted]" in written


@pytest.mark.parametrize(("line", "secret"), [
    ("headers={'Authorization': b'Bearer eyJhbGciOi.payload.sig'}", "eyJhbGciOi.payload.sig"),
    ('{"access": "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.x.y"}', "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.x.y"),
    ("Authorization: Token 0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef"),
])
def test_bearer_and_api_tokens_are_redacted(line, secret):
    assert secret not in log_setup.redact(line)


def test_text_lines_about_a_metric_name_it():
    root = logging.getLogger()
    saved = list(root.handlers)
    log_setup.configure("plain")
    try:
        import kopf

        [handler] = [h for h in root.handlers if h not in saved]
        record = logging.LogRecord("kopf.objects", logging.INFO, __file__, 1, "Deployed: ok", None, None)
        record.k8s_ref = {"namespace": "labeling", "name": "sentiment"}  # what kopf's per-object logger adds
        assert handler.format(record).startswith("[labeling/sentiment] Deployed: ok")
        assert kopf  # the formatter is kopf's own
    finally:
        root.handlers[:] = saved


def test_a_retry_gets_the_level_its_handler_noted_and_any_other_stays_an_error():
    """kopf logs every TemporaryError at ERROR; the handler's note makes its pacing INFO."""
    seen: list[tuple[int, str]] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append((record.levelno, record.getMessage()))

    objects = logging.getLogger("kopf.objects")
    keep, filter_ = Keep(), log_setup.RetryLevels()
    objects.addHandler(keep)
    objects.addFilter(filter_)
    saved = objects.level
    objects.setLevel(logging.DEBUG)
    try:
        ref = {"k8s_ref": {"uid": "uid-1", "name": "m", "namespace": "n"}}
        filter_.note("uid-1", "its turn at the Lambda quota in 2.0 s", logging.INFO)
        objects.error("Handler 'reconcile_metric' failed temporarily: its turn at the Lambda quota in 2.0 s", extra=ref)
        objects.error("Handler 'reconcile_metric' failed temporarily: its turn at the Lambda quota in 2.0 s", extra=ref)
        objects.error("Handler 'reconcile_metric' failed with an exception. Will retry.", extra=ref)
    finally:
        objects.removeHandler(keep)
        objects.removeFilter(filter_)
        objects.setLevel(saved)
    # A note serves one line: the same message again, not noted, is an ERROR as kopf logged it.
    assert [level for level, _ in seen] == [logging.INFO, logging.ERROR, logging.ERROR]


def test_kopfs_client_retries_are_warnings_until_it_gives_up():
    retries = log_setup.ClientRetriesAreWarnings()
    attempt = logging.LogRecord("kopf._cogs.clients.api", logging.ERROR, __file__, 1,
                                "Request attempt #1/9 failed; will retry: GET /apis -> 429", None, None)
    final = logging.LogRecord("kopf._cogs.clients.api", logging.ERROR, __file__, 1,
                              "Request attempt #9/9 failed; escalating: GET /apis -> 429", None, None)
    assert retries.filter(attempt) and retries.filter(final)
    assert (attempt.levelname, final.levelname) == ("WARNING", "ERROR")
