import pytest

from agreement_operator.config import Config, ConfigError

ROLE = "arn:aws:iam::123456789012:role/LSE_CustomMetricsExecuteRole"
BASE = {"LS_LAMBDA_REGION_CUSTOM_METRICS": "eu-west-1", "LS_LAMBDA_ROLE_CUSTOM_METRICS": ROLE}


def test_minimal_environment_with_defaults():
    config = Config.from_env(BASE)
    assert config == Config(region="eu-west-1", execution_role_arn=ROLE)
    assert config.resync_seconds == 600 and config.cluster_id == "default" and config.namespaces == ()


def test_every_setting():
    config = Config.from_env({
        "AWS_REGION": "us-east-1", "LS_LAMBDA_ROLE_CUSTOM_METRICS": ROLE,
        "AWS_ENDPOINT_URL": "http://127.0.0.1:5000", "AGREEMENT_OPERATOR_CLUSTER_ID": "eks-prod",
        "AGREEMENT_OPERATOR_RESYNC_SECONDS": "30", "AGREEMENT_OPERATOR_NAMESPACES": "labeling, qa",
    })
    assert config.region == "us-east-1"
    assert config.endpoint_url == "http://127.0.0.1:5000"
    assert (config.cluster_id, config.resync_seconds, config.namespaces) == ("eks-prod", 30.0, ("labeling", "qa"))


def test_function_errors_and_metrics_settings():
    defaults = Config.from_env(BASE)
    assert (defaults.function_errors_seconds, defaults.function_errors_window_seconds) == (300, 3600)
    assert (defaults.metrics_port, defaults.metrics_path) == (9090, "/metrics")
    off = Config.from_env({**BASE, "AGREEMENT_OPERATOR_FUNCTION_ERRORS_SECONDS": "0",
                           "AGREEMENT_OPERATOR_FUNCTION_ERRORS_WINDOW_SECONDS": "86400",
                           "AGREEMENT_OPERATOR_METRICS_PORT": "0", "AGREEMENT_OPERATOR_METRICS_PATH": "/prom"})
    assert (off.function_errors_seconds, off.function_errors_window_seconds) == (0, 86400)
    assert (off.metrics_port, off.metrics_path) == (0, "/prom")


def test_the_shares_of_the_aws_quotas_leave_room_for_the_rest_of_the_account():
    defaults = Config.from_env(BASE)
    # Lambda's control plane allows 15 requests/s, GetFunction 100, Logs Insights 5, GetMetricData 50
    assert (defaults.lambda_requests_per_second, defaults.lambda_reads_per_second) == (10, 50)
    assert (defaults.logs_requests_per_second, defaults.cloudwatch_requests_per_second) == (2, 5)
    half = Config.from_env({**BASE, "AGREEMENT_OPERATOR_LAMBDA_REQUESTS_PER_SECOND": "7.5",
                            "AGREEMENT_OPERATOR_LAMBDA_READS_PER_SECOND": "50",
                            "AGREEMENT_OPERATOR_CLOUDWATCH_REQUESTS_PER_SECOND": "25"})
    assert (half.lambda_requests_per_second, half.cloudwatch_requests_per_second) == (7.5, 25)


def test_the_operator_keeps_its_crd_current_unless_told_not_to():
    assert Config.from_env(BASE).manage_crd is True
    assert Config.from_env({**BASE, "AGREEMENT_OPERATOR_MANAGE_CRD": "False"}).manage_crd is False
    assert Config.from_env({**BASE, "AGREEMENT_OPERATOR_MANAGE_CRD": "true"}).manage_crd is True


def test_label_studio_region_wins_over_aws_region():
    assert Config.from_env({**BASE, "AWS_REGION": "us-east-1"}).region == "eu-west-1"


@pytest.mark.parametrize(("env", "named"), [
    ({"LS_LAMBDA_ROLE_CUSTOM_METRICS": ROLE}, "LS_LAMBDA_REGION_CUSTOM_METRICS (or AWS_REGION) is not set"),
    ({**BASE, "LS_LAMBDA_REGION_CUSTOM_METRICS": "Europe"}, "LS_LAMBDA_REGION_CUSTOM_METRICS='Europe'"),
    ({"AWS_REGION": "us-east-1"}, "LS_LAMBDA_ROLE_CUSTOM_METRICS is not set"),
    ({**BASE, "LS_LAMBDA_ROLE_CUSTOM_METRICS": "LSE_CustomMetricsExecuteRole"}, "is not an IAM role ARN"),
    ({**BASE, "AGREEMENT_OPERATOR_RESYNC_SECONDS": "ten"}, "AGREEMENT_OPERATOR_RESYNC_SECONDS='ten'"),
    ({**BASE, "AGREEMENT_OPERATOR_RESYNC_SECONDS": "0"}, "from 1 to 86400"),
    ({**BASE, "AGREEMENT_OPERATOR_CLUSTER_ID": "a b"}, "AGREEMENT_OPERATOR_CLUSTER_ID='a b'"),
    ({**BASE, "AGREEMENT_OPERATOR_NAMESPACES": "ok,Not_OK"}, "AGREEMENT_OPERATOR_NAMESPACES has 'Not_OK'"),
    ({**BASE, "AGREEMENT_OPERATOR_FUNCTION_ERRORS_SECONDS": "-5"}, "from 1 to 86400, or 0 to turn it off"),
    ({**BASE, "AGREEMENT_OPERATOR_FUNCTION_ERRORS_WINDOW_SECONDS": "10"}, "from 60 to 604800"),
    ({**BASE, "AGREEMENT_OPERATOR_METRICS_PORT": "70000"}, "or 0 to serve no metrics"),
    ({**BASE, "AGREEMENT_OPERATOR_METRICS_PATH": "metrics"}, "must be a URL path such as /metrics"),
    ({**BASE, "AGREEMENT_OPERATOR_LAMBDA_REQUESTS_PER_SECOND": "fast"},
     "AGREEMENT_OPERATOR_LAMBDA_REQUESTS_PER_SECOND='fast' must be a number of requests per second"),
    ({**BASE, "AGREEMENT_OPERATOR_LOGS_REQUESTS_PER_SECOND": "0"}, "from 0.1 to 10000 (default 2)"),
    ({**BASE, "AGREEMENT_OPERATOR_MANAGE_CRD": "yes"}, "AGREEMENT_OPERATOR_MANAGE_CRD='yes' must be true or false"),
    ({**BASE, "AGREEMENT_OPERATOR_RETRY_MODE": "adaptive"},
     "AGREEMENT_OPERATOR_RETRY_MODE is no longer read: the operator makes one attempt per AWS call"),
])
def test_missing_or_malformed_settings_are_named_in_one_line(env, named):
    with pytest.raises(ConfigError) as raised:
        Config.from_env(env)
    assert named in str(raised.value)
    assert "\n" not in str(raised.value)


def test_adoption_is_off_unless_namespaces_are_named():
    assert not Config.from_env(BASE).may_adopt("labeling")
    named = Config.from_env({**BASE, "AGREEMENT_OPERATOR_ADOPT_NAMESPACES": "labeling, qa"})
    assert named.may_adopt("qa") and not named.may_adopt("other")
    assert Config.from_env({**BASE, "AGREEMENT_OPERATOR_ADOPT_NAMESPACES": "*"}).may_adopt("any")


def test_a_malformed_adopt_namespace_is_named():
    with pytest.raises(ConfigError, match="AGREEMENT_OPERATOR_ADOPT_NAMESPACES has 'Bad_NS'"):
        Config.from_env({**BASE, "AGREEMENT_OPERATOR_ADOPT_NAMESPACES": "Bad_NS"})


LABEL_STUDIO = {"LABEL_STUDIO_URL": "https://app.humansignal.com/", "LABEL_STUDIO_API_KEY": "secret-key-123"}


def test_label_studio_alone_needs_no_aws_settings():
    config = Config.from_env(LABEL_STUDIO)
    assert (config.label_studio_url, config.label_studio_api_key) == ("https://app.humansignal.com", "secret-key-123")
    assert (config.region, config.execution_role_arn, config.lambda_enabled) == (None, None, False)


def test_label_studio_beside_lambda():
    config = Config.from_env({**BASE, **LABEL_STUDIO})
    assert config.lambda_enabled and config.label_studio_url == "https://app.humansignal.com"


def test_the_api_key_never_appears_in_the_config_repr():
    assert "secret-key-123" not in repr(Config.from_env(LABEL_STUDIO))


@pytest.mark.parametrize(("env", "named"), [
    ({"LABEL_STUDIO_URL": "https://ls.example.com"}, "LABEL_STUDIO_URL is set but LABEL_STUDIO_API_KEY is not"),
    ({"LABEL_STUDIO_API_KEY": "k"}, "LABEL_STUDIO_API_KEY is set but LABEL_STUDIO_URL is not"),
    ({**LABEL_STUDIO, "LABEL_STUDIO_URL": "ls.example.com"}, "LABEL_STUDIO_URL='ls.example.com' is not an http(s)"),
    ({**LABEL_STUDIO, "LS_LAMBDA_REGION_CUSTOM_METRICS": "us-east-1"}, "LS_LAMBDA_ROLE_CUSTOM_METRICS is not set"),
    ({}, "or, to deploy only through Label Studio projects, set LABEL_STUDIO_URL"),
])
def test_label_studio_settings_fail_fast_saying_what_to_set(env, named):
    with pytest.raises(ConfigError) as error:
        Config.from_env(env)
    assert named in str(error.value)
    assert "secret-key-123" not in str(error.value)


def test_which_namespaces_may_use_label_studio(tmp_path, monkeypatch):
    from agreement_operator import config

    monkeypatch.setattr(config, "SERVICE_ACCOUNT_NAMESPACE", str(tmp_path / "absent"))
    assert Config.from_env(BASE).label_studio_namespaces == ("*",)  # one person's machine: every namespace
    (tmp_path / "namespace").write_text("agreement-operator\n")
    monkeypatch.setattr(config, "SERVICE_ACCOUNT_NAMESPACE", str(tmp_path / "namespace"))
    in_a_pod = Config.from_env(BASE)
    assert in_a_pod.label_studio_namespaces == ("agreement-operator",)  # in a pod: the operator's own
    assert in_a_pod.may_use_label_studio("agreement-operator") and not in_a_pod.may_use_label_studio("team-b")
    listed = Config.from_env({**BASE, "AGREEMENT_OPERATOR_LABEL_STUDIO_NAMESPACES": "team-a, team-b"})
    assert listed.label_studio_namespaces == ("team-a", "team-b")
    with pytest.raises(ConfigError, match="AGREEMENT_OPERATOR_LABEL_STUDIO_NAMESPACES has 'Team_A'"):
        Config.from_env({**BASE, "AGREEMENT_OPERATOR_LABEL_STUDIO_NAMESPACES": "Team_A"})


def test_named_label_studio_connections_read_their_keys_from_mounted_files(tmp_path, monkeypatch):
    import json

    from agreement_operator import config

    monkeypatch.setattr(config, "SERVICE_ACCOUNT_NAMESPACE", str(tmp_path / "absent"))
    (tmp_path / "team-a").write_text("key-a\n")
    named = json.dumps([{"name": "team-a", "url": "https://ls.example.com/", "apiKeyFile": str(tmp_path / "team-a"),
                         "namespaces": ["team-a"]}])
    found = Config.from_env({"LABEL_STUDIO_URL": "https://app.humansignal.com", "LABEL_STUDIO_API_KEY": "key",
                             "AGREEMENT_OPERATOR_LABEL_STUDIO_CONNECTIONS": named})
    assert found.region is None  # Label Studio alone: no AWS wanted
    connections = found.label_studio_connections
    assert sorted(connections) == ["default", "team-a"]
    assert (connections["team-a"].url, connections["team-a"].api_key) == ("https://ls.example.com", "key-a")
    assert connections["team-a"].serves("team-a") and not connections["team-a"].serves("team-b")
    assert "key-a" not in repr(found)
    only_named = Config.from_env({"AGREEMENT_OPERATOR_LABEL_STUDIO_CONNECTIONS": named})
    assert only_named.region is None and list(only_named.label_studio_connections) == ["team-a"]
    for broken, words in ((json.dumps([{"name": "Team A", "url": "https://x", "apiKeyFile": "/x"}]), "DNS label"),
                          (json.dumps([{"name": "b", "url": "https://x", "apiKeyFile": str(tmp_path / "no")}]),
                           "cannot read its apiKeyFile"),
                          ("{", "is not JSON")):
        with pytest.raises(ConfigError, match=words):
            Config.from_env({"AGREEMENT_OPERATOR_LABEL_STUDIO_CONNECTIONS": broken})


PRODUCTION = {"name": "production", "roleArn": "arn:aws:iam::111111111111:role/AgreementOperatorTarget",
              "region": "us-west-2", "executionRoleArn": "arn:aws:iam::111111111111:role/LSE_CustomMetricsExecuteRole",
              "namespaces": ["labeling"], "externalId": "cluster-a", "requestsPerSecond": 5}


def aws_connections(*entries) -> dict:
    import json
    return {"AGREEMENT_OPERATOR_AWS_CONNECTIONS": json.dumps(list(entries))}


def test_named_aws_connections_beside_the_default_one():
    config = Config.from_env({**BASE, **aws_connections(PRODUCTION)})
    default, production = config.aws_connections["default"], config.aws_connections["production"]
    assert (default.region, default.account, default.role_arn, default.namespaces) == (
        "eu-west-1", "123456789012", None, ("*",))
    assert (production.region, production.account, production.role_arn, production.external_id,
            production.requests_per_second, production.namespaces) == (
        "us-west-2", "111111111111", PRODUCTION["roleArn"], "cluster-a", 5.0, ("labeling",))
    assert production.serves("labeling") and not production.serves("qa")
    assert production.function_arn("f") == "arn:aws:lambda:us-west-2:111111111111:function:f"


def test_named_aws_connections_alone_need_no_default_region():
    config = Config.from_env(aws_connections(PRODUCTION))
    assert list(config.aws_connections) == ["production"] and config.lambda_enabled


@pytest.mark.parametrize(("change", "named"), [
    ({"name": "Prod"}, "connection name 'Prod' must be a DNS label"),
    ({"name": "default"}, "'default' is given twice"),
    ({"roleArn": "AgreementOperatorTarget"}, "roleArn 'AgreementOperatorTarget' is not an IAM role ARN"),
    ({"region": "west"}, "region 'west' is not an AWS region name"),
    ({"namespaces": []}, "namespaces must list the namespaces it serves"),
    ({"requestsPerSecond": 0}, "requestsPerSecond must be a number from 0.1 to 10000"),
    ({"externalId": "x"}, "externalId must be 2-1224"),
    ({"accessKey": "AKIA"}, "has accessKey, which is not a field"),
])
def test_a_malformed_aws_connection_is_named_with_what_to_change(change, named):
    with pytest.raises(ConfigError, match="AGREEMENT_OPERATOR_AWS_CONNECTIONS") as error:
        Config.from_env({**BASE, **aws_connections({**PRODUCTION, **change})})
    assert named in str(error.value)


def test_an_aws_connection_given_twice_is_refused():
    with pytest.raises(ConfigError, match="'production' is given twice"):
        Config.from_env({**BASE, **aws_connections(PRODUCTION, PRODUCTION)})
