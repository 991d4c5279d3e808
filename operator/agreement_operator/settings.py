"""Every setting the operator reads from its environment, with its default and meaning: the catalogue the
settings reference page is written from (scripts/reference). config.py reads them; a test checks that
every variable config.py reads is here, and nothing else."""

from typing import NamedTuple


class Setting(NamedTuple):
    names: tuple[str, ...]  # one row may hold a pair read together (a port and its path, say)
    default: str
    meaning: str


SETTINGS = (
    Setting(("LS_LAMBDA_REGION_CUSTOM_METRICS", "AWS_REGION"), "required (unless only Label Studio is set)",
            "the region of the functions (the first one set wins)"),
    Setting(("LS_LAMBDA_ROLE_CUSTOM_METRICS",), "required (unless only Label Studio is set)",
            "the functions' execution role ARN, `arn:aws:iam::ACCOUNT:role/LSE_CustomMetricsExecuteRole`"),
    Setting(("LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY"), "unset",
            "the Label Studio that `spec.labelStudio` metrics deploy through, and its access token (both or "
            "neither); with these and no AWS region, the operator deploys only through Label Studio"),
    Setting(("AGREEMENT_OPERATOR_LABEL_STUDIO_NAMESPACES",), "the operator's own namespace (outside a cluster: all)",
            "comma-separated namespaces whose metrics may deploy through the default Label Studio connection; "
            "`*` for all"),
    Setting(("AGREEMENT_OPERATOR_LABEL_STUDIO_CONNECTIONS",), "unset",
            "more Label Studio connections, a JSON list of `{name, url, apiKeyFile, namespaces}` (Helm "
            "`labelStudio.connections` mounts each key)"),
    Setting(("AGREEMENT_OPERATOR_AWS_CONNECTIONS",), "unset",
            "more AWS accounts and regions, a JSON list of `{name, roleArn, region, executionRoleArn, namespaces, "
            "externalId?, requestsPerSecond?}`: the operator assumes `roleArn` for each, and a metric picks one with "
            "`spec.aws.connection` (Helm `aws.connections`; docs/iam.md)"),
    Setting(("AWS_ENDPOINT_URL",), "unset", "botocore's standard override, for local emulators"),
    Setting(("AGREEMENT_OPERATOR_CLUSTER_ID",), "`default`",
            "written to the `agreement.dev/cluster` tag; give each cluster sharing an AWS account its own"),
    Setting(("AGREEMENT_OPERATOR_RESYNC_SECONDS",), "`600`",
            "how often each metric is checked for drift (deleted or changed outside the operator)"),
    Setting(("AGREEMENT_OPERATOR_NAMESPACES",), "all", "comma-separated namespaces to watch"),
    Setting(("AGREEMENT_OPERATOR_ADOPT_NAMESPACES",), "none",
            "comma-separated namespaces whose metrics may adopt untagged functions; `*` for all"),
    Setting(("AGREEMENT_OPERATOR_WORKERS",), "`16`",
            "handler threads, the passes that run at once (more new metrics wait in the operator's queue), and "
            "connections to Lambda (sized for the pod, not the node)"),
    Setting(("AGREEMENT_OPERATOR_LAMBDA_REQUESTS_PER_SECOND",), "`10`",
            "the operator's share of Lambda's control-plane quota (15/s per account and region)"),
    Setting(("AGREEMENT_OPERATOR_LAMBDA_READS_PER_SECOND",), "`50`", "its share of `GetFunction`'s quota (100/s)"),
    Setting(("AGREEMENT_OPERATOR_LOGS_REQUESTS_PER_SECOND", "AGREEMENT_OPERATOR_CLOUDWATCH_REQUESTS_PER_SECOND"),
            "`2`, `5`", "its shares of CloudWatch Logs Insights' quota (5/s) and `GetMetricData`'s (50/s)"),
    Setting(("AGREEMENT_OPERATOR_FUNCTION_ERRORS_SECONDS",), "`300`",
            "how often each Ready metric's function errors and usage are read; `0` never"),
    Setting(("AGREEMENT_OPERATOR_FUNCTION_ERRORS_WINDOW_SECONDS",), "`3600`",
            "how far back they are read (60 to 604800)"),
    Setting(("AGREEMENT_OPERATOR_METRICS_PORT", "AGREEMENT_OPERATOR_METRICS_PATH"), "`9090`, `/metrics`",
            "the Prometheus endpoint; port `0` serves none"),
    Setting(("AGREEMENT_OPERATOR_MANAGE_CRD",), "`true`",
            "apply the operator's own CRD over an older one; `false`: only check it (docs/upgrading.md)"),
)

# Read, but not settings for people: a switch of the tests, and a setting removed (its use is refused, saying
# what replaced it).
NOT_LISTED = ("AGREEMENT_OPERATOR_TEST_UNHEALTHY_FILE", "AGREEMENT_OPERATOR_RETRY_MODE")
