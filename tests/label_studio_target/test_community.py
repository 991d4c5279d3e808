"""The Label Studio client against the real Label Studio Community server: what it says when the
connection is wrong, with the server's own answers (its 404 pages, its JWTs, its tokens)."""

import json
import urllib.request

import pytest

from agreement_operator import failures, label_studio_target
from agreement_operator.config import Config
from agreement_operator.label_studio_target.label_studio_api import LabelStudioProjects
from agreement_operator.target import Phase

CODE = "def agreement(annotation_1, annotation_2, per_label=False):\n    return 1.0\n"
CONFIG = '<View><Text name="text" value="$text"/><Choices name="c" toName="text"><Choice value="A"/></Choices></View>'


@pytest.fixture(scope="module")
def project(community) -> int:
    return community.call("POST", "/api/projects", {"title": "connection checks", "label_config": CONFIG})["id"]


@pytest.fixture(scope="module")
def personal_access_token(community) -> str:
    return community.call("POST", "/api/token/", {})["token"]


def test_a_project_metric_against_community_is_stalled_saying_it_needs_enterprise(community, project, request_for):
    target = label_studio_target.LabelStudioTarget(LabelStudioProjects(community.url, community.owner.token),
                                                Config(region=None, execution_role_arn=None))
    outcome = target.reconcile(request_for({"code": CODE, "labelStudio": {"project": project}}))
    assert (outcome.phase, outcome.reason) == (Phase.STALLED, "EditionUnsupported")
    assert f"{community.url} is Label Studio Community 1.23.2" in outcome.message
    assert "ProjectNotFound" not in outcome.message


class Unasked(LabelStudioProjects):
    """A client that does not know the edition: what a Label Studio without /api/version leaves us with."""

    def edition(self):
        return None


def test_a_missing_route_is_told_apart_from_a_missing_project_and_no_html_reaches_a_message(community, project):
    projects = Unasked(community.url, community.owner.token)
    with pytest.raises(failures.PermanentFailure) as missing_route:
        projects.read_function(project)
    assert missing_route.value.reason == "CustomMetricAPINotFound"
    assert f"has project {project} but no /api/projects/{project}/custom-function" in missing_route.value.message
    assert "an answer of" in missing_route.value.message and "text/html" in missing_route.value.message
    assert "<" not in missing_route.value.message  # no markup: the status and the content type instead
    with pytest.raises(failures.PermanentFailure) as missing_project:
        projects.read_function(project + 1000)
    assert missing_project.value.reason == "ProjectNotFound"
    assert "<" not in missing_project.value.message


def test_a_wrong_token_is_said_to_be_wrong_even_where_the_route_answers_404(community, project):
    with pytest.raises(failures.PermanentFailure) as refused:
        Unasked(community.url, "0" * 40).read_function(project)  # this route answers 404 before checking the token
    assert refused.value.reason == "LabelStudioUnauthorized"
    assert "legacy token" in refused.value.message


def test_a_personal_access_token_is_refreshed_by_the_real_server(community, personal_access_token):
    projects = LabelStudioProjects(community.url, personal_access_token)
    assert projects.personal_access_token
    assert projects.whoami()["email"] == community.owner.email


def test_an_access_token_where_the_personal_access_token_belongs_says_which_is_which(community,
                                                                                     personal_access_token):
    request = urllib.request.Request(community.url + "/api/token/refresh/", method="POST",
                                     data=json.dumps({"refresh": personal_access_token}).encode(),
                                     headers={"Content-Type": "application/json"})
    access = json.loads(urllib.request.urlopen(request, timeout=30).read())["access"]
    with pytest.raises(failures.PermanentFailure) as refused:
        LabelStudioProjects(community.url, access).whoami()
    assert refused.value.reason == "LabelStudioUnauthorized"
    assert "holds an access token" in refused.value.message and "Personal Access Token" in refused.value.message
    assert "may have expired or been revoked" not in refused.value.message


def test_the_edition_is_asked_once_per_connection(community):
    projects = LabelStudioProjects(community.url, community.owner.token)
    asked = []
    original = projects._send
    projects._send = lambda method, path, *rest: (asked.append(path), original(method, path, *rest))[1]
    assert projects.edition() == ("Community", "1.23.2")
    assert projects.edition() == ("Community", "1.23.2")
    assert asked == ["/api/version"]
