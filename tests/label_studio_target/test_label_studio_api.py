"""The Label Studio client over HTTP against the local Label Studio API server: every answer classified."""

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agreement_operator import failures
from agreement_operator.function.log_errors import LogLine
from agreement_operator.label_studio_target import label_studio_api
from agreement_operator.label_studio_target.label_studio_api import LabelStudioProjects
from agreement_operator.sandbox.label_studio_server import LabelStudioServer

CODE = "def agreement(annotation_1, annotation_2, per_label=False):\n    return 1.0\n"


@pytest.fixture
def studio_activation_seconds() -> float:
    return 0.3


@pytest.fixture(params=["legacy token", "personal access token"])
def client(request, studio) -> LabelStudioProjects:
    key = studio.legacy_token if request.param == "legacy token" else studio.personal_access_token
    return LabelStudioProjects(studio.url, key)


def test_tokens_are_told_apart_by_their_shape(studio):
    assert label_studio_api.is_personal_access_token(studio.personal_access_token)
    assert not label_studio_api.is_personal_access_token(studio.legacy_token)
    assert not label_studio_api.is_personal_access_token("a.b.c")


def test_a_new_project_has_no_function_then_202_pending_active_and_204(studio, client):
    project = studio.add_project()
    assert client.read_function(project) == label_studio_api.ProjectFunction("", "NotDeployed")
    client.check_code(project, CODE)
    assert client.deploy(project, CODE) == label_studio_api.ACCEPTED
    assert client.read_function(project) == label_studio_api.ProjectFunction(CODE, "Pending")
    time.sleep(0.4)
    assert client.read_function(project).status == "Active"
    assert client.deploy(project, CODE) == label_studio_api.UNCHANGED


def test_without_activation_delay_a_deploy_answers_200_and_is_active(studio, client):
    studio.activation_seconds = 0
    project = studio.add_project()
    assert client.deploy(project, CODE) == label_studio_api.UPDATED
    assert client.read_function(project).status == "Active"


def test_check_function_refusal_is_code_rejected_with_label_studios_words(studio, client):
    project = studio.add_project()
    with pytest.raises(failures.PermanentFailure) as refused:
        client.check_code(project, "def agreement(:\n")
    assert refused.value.reason == "CodeRejected"
    assert "code: the code does not compile" in refused.value.message


def test_the_metric_param_is_read_and_written(studio, client):
    project = studio.add_project()
    assert client.metric_name(project) is None
    client.select_metric(project, "custom_metric")
    assert client.metric_name(project) == "custom_metric" == studio.projects[project].metric_name


def test_logs_are_read_by_date_newest_last(studio, client):
    project = studio.add_project()
    studio.add_log(project, "first")
    studio.add_log(project, "[ERROR] KeyError: 'value'")
    lines = client.function_logs(project, "2000-01-01")
    assert [line.message for line in lines] == ["first", "[ERROR] KeyError: 'value'"]
    assert client.function_logs(project, "2999-01-01") == []
    assert studio.requests["GET function-logs"] == 2


@pytest.mark.parametrize(("body", "expected"), [
    ({"logs": [{"timestamp": "2026-11-23T10:00:00Z", "message": "a"}]}, [LogLine("2026-11-23T10:00:00Z", "a")]),
    ({"items": ["plain"]}, [LogLine("", "plain")]),
    ({"events": [{"timestamp": 1795420800000, "message": "b"}]}, [LogLine("2026-11-23T08:00:00Z", "b")]),
    ({"data": [{"time": "t", "msg": "c"}]}, [LogLine("t", "c")]),
    ({"unexpected": 1}, []),
])
def test_log_answers_of_several_shapes(body, expected):
    assert label_studio_api.log_lines(body) == expected


def test_an_unknown_project_is_project_not_found(client):
    with pytest.raises(failures.PermanentFailure) as missing:
        client.read_function(4242)
    assert missing.value.reason == "ProjectNotFound"
    assert "no project 4242" in missing.value.message and "spec.labelStudio.project" in missing.value.message


def test_a_wrong_legacy_token_is_unauthorized_and_the_key_is_not_repeated(studio):
    project = studio.add_project()
    with pytest.raises(failures.PermanentFailure) as refused:
        LabelStudioProjects(studio.url, "0123456789abcdef").read_function(project)
    assert refused.value.reason == "LabelStudioUnauthorized"
    assert "legacy token" in refused.value.message and "0123456789abcdef" not in refused.value.message


def test_a_personal_access_token_from_elsewhere_is_refused_at_refresh(studio):
    other = LabelStudioServer()  # signs with another key; never started
    project = studio.add_project()
    with pytest.raises(failures.PermanentFailure) as refused:
        LabelStudioProjects(studio.url, other.personal_access_token).read_function(project)
    assert refused.value.reason == "LabelStudioUnauthorized"
    assert "personal access token" in refused.value.message
    assert other.personal_access_token not in refused.value.message
    assert studio.requests == {"POST refresh": 1}


def test_the_access_token_is_refreshed_before_it_expires_and_after_a_401(studio):
    studio.access_seconds = 1
    project = studio.add_project()
    client = LabelStudioProjects(studio.url, studio.personal_access_token)
    client.read_function(project)
    time.sleep(1.1)
    client.read_function(project)  # renewed before use: the first token had run out
    assert studio.requests["POST refresh"] == 2
    studio.access_seconds = 300
    client._renew_at = float("inf")  # as if the token carried no exp: only a 401 tells
    client._access = studio._jwt("access", -1)  # an access token that has expired
    assert client.read_function(project).status == "NotDeployed"
    assert studio.requests["POST refresh"] == 3 and studio.requests["GET function"] == 4  # 401, then again


@pytest.mark.parametrize(("status", "reason", "kind"), [
    (403, "LabelStudioForbidden", failures.PermanentFailure),
    (500, "LabelStudioUnavailable", failures.RetryableFailure),
    (503, "LabelStudioUnavailable", failures.RetryableFailure),
    (429, "LabelStudioUnavailable", failures.RetryableFailure),
    (418, "LabelStudioRequestRejected", failures.PermanentFailure),
])
def test_each_error_status_is_classified(studio, client, status, reason, kind):
    project = studio.add_project()
    studio.fail_next("POST function", status, {"detail": "said the server"})
    with pytest.raises(kind) as failed:
        client.deploy(project, CODE)
    assert failed.value.reason == reason and "said the server" in failed.value.message
    assert type(failed.value) is kind


def test_a_500_with_an_error_body_says_what_label_studio_said(studio, client):
    project = studio.add_project()
    with pytest.raises(failures.RetryableFailure) as failed:
        client.deploy(project, "print('no metric here')\n")
    assert "Error updating function: the code must define agreement" in failed.value.message


def test_retry_after_sets_the_delay():
    with pytest.raises(failures.RetryableFailure) as throttled:
        label_studio_api.raise_for(429, {"detail": "slow down"}, "read", 1, False, {"Retry-After": "7"})
    assert throttled.value.delay == 7.0


def test_a_server_that_is_down_is_retryable_and_comes_back(studio, client):
    project = studio.add_project()
    client.read_function(project)
    studio.stop()
    with pytest.raises(failures.RetryableFailure) as down:
        client.read_function(project)
    assert down.value.reason == "LabelStudioUnavailable" and "cannot reach Label Studio" in down.value.message
    studio.start()
    assert client.read_function(project).status == "NotDeployed"


def test_a_server_that_never_answers_is_a_retryable_timeout():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    try:
        client = LabelStudioProjects(f"http://127.0.0.1:{listener.getsockname()[1]}", "token", timeout=0.3)
        with pytest.raises(failures.RetryableFailure) as slow:
            client.read_function(1)
        assert "timed out" in slow.value.message
    finally:
        listener.close()


def test_a_url_with_a_path_prefix_is_kept(studio):
    """Label Studio behind a reverse proxy at /label-studio: every call keeps the prefix."""
    seen = []

    class Recorder(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.path)
            body = json.dumps({"code": "", "status": "NotDeployed"}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        LabelStudioProjects(f"http://127.0.0.1:{server.server_address[1]}/label-studio/", "t").read_function(3)
    finally:
        server.shutdown()
        server.server_close()
    assert seen == ["/label-studio/api/projects/3/custom-function"]


@pytest.mark.parametrize(("body", "expected"), [
    ({"detail": "Validation error", "validation_errors": {"code": ["bad"]}}, "Validation error; code: bad"),
    ({"code": ["This field is required."]}, "code: This field is required."),
    ({"error": "boom"}, "boom"),
    ({}, "{}"),
])
def test_label_studios_explanation_is_extracted(body, expected):
    assert label_studio_api.detail(body) == expected


def raw(studio, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    """A request as any HTTP client would send it, with the legacy token."""
    request = urllib.request.Request(studio.url + path, method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"Authorization": f"Token {studio.legacy_token}",
                                              "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            text = response.read()
            return response.status, json.loads(text) if text else {}
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_the_server_serves_the_provider_routes_of_the_same_function(studio):
    """aws-custom-function (with its optional region and role) and gcp-custom-function are the
    provider-specific forms of custom-function; the operator uses only the generic one."""
    project = studio.add_project()
    assert raw(studio, "POST", f"/api/projects/{project}/aws-custom-function",
               {"code": CODE, "region": "us-east-1", "role": "arn:aws:iam::123456789012:role/R"})[0] == 202
    assert raw(studio, "GET", f"/api/projects/{project}/gcp-custom-function") == (200, {"code": CODE,
                                                                                        "status": "Pending"})
    logs = raw(studio, "GET", f"/api/projects/{project}/aws-custom-function-logs?limit=1")
    assert logs[0] == 200 and len(logs[1]["logs"]) == 1
    assert raw(studio, "POST", f"/api/projects/{project}/custom-function", {})[0] == 400  # code is required
    assert raw(studio, "GET", "/api/projects/999/custom-function")[0] == 404


@pytest.mark.parametrize(("method", "path", "expected"), [
    ("GET", "/api/projects/12/custom-function", "GET custom-function"),
    ("GET", "/api/projects/12/custom-function-logs?start_date=2026-12-01&limit=100", "GET custom-function-logs"),
    ("POST", "/api/projects/7/metricparam/", "POST metricparam"),
    ("POST", "/api/token/refresh/", "POST token/refresh"),
    ("GET", "/api/projects/7/exports/31/download?exportType=JSON", "GET exports/ID/download"),
    ("GET", "/api/projects/7", "GET project"),
])
def test_endpoints_are_named_without_the_project_or_query(method, path, expected):
    assert label_studio_api.endpoint(method, path) == expected


@pytest.mark.parametrize("answer", [
    {"allowed": True, "metric_name": "custom", "agreement_threshold": None},  # the 2026-08 reference
    {"allowed": "all", "metric_name": "custom", "agreement_threshold": "0.5"},  # older releases
], ids=["current", "older"])
def test_the_metric_parameters_are_read_in_the_current_shape_and_the_older_one(studio, client, answer):
    project = studio.add_project()
    studio.fail_next("GET metricparam", 200, answer)
    assert client.metric_name(project) == "custom"


def test_the_stand_in_answers_as_the_current_reference_does(studio):
    project = studio.add_project()
    status, _ = studio.answer("POST", f"/api/projects/{project}/metricparam/", f"Token {studio.legacy_token}", {})
    assert status == 204  # nothing given to update
    status, body = studio.answer("GET", f"/api/projects/{project}/metricparam/", f"Token {studio.legacy_token}", {})
    assert body["allowed"] is True and body["agreement_threshold"] is None
    status, body = studio.answer("POST", f"/api/projects/{project}/custom-function", f"Token {studio.legacy_token}",
                                 {"code": ""})
    assert status == 400 and "code" in body["validation_errors"]
