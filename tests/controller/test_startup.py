"""What the operator sets up at start: kopf's settings, where the apiserver is, and which handlers it registers."""

from dataclasses import replace

import kopf
import pytest

from agreement_operator.controller import registry as registry_of_the_operator
from agreement_operator.controller import startup


def test_configmaps_are_watched_through_a_label_selector(memo):
    settings = kopf.OperatorSettings()
    startup.configure(settings=settings, memo=kopf.Memo(config=replace(memo.config, metrics_port=0)))
    assert dict(settings.watching.label_selectors.items()) and \
        list(settings.watching.label_selectors.values()) == ["agreement.dev/metric-code=true"]


@pytest.mark.parametrize(("env", "server"), [
    ({"KUBERNETES_SERVICE_HOST": "10.100.0.1", "KUBERNETES_SERVICE_PORT": "443"}, "https://10.100.0.1:443"),
    ({"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"}, "https://[fd00::1]:443"),
    ({"KUBERNETES_SERVICE_HOST": "10.100.0.1"}, None),
    ({}, None),
])
def test_in_cluster_the_apiserver_is_where_the_kubelet_says(env, server):
    assert startup.in_cluster_server(env) == server


def test_no_handler_holds_a_task_per_metric():
    """Regression: a kopf timer on every metric (the resync and the looks at errors and usage) kept an
    asyncio task and the last body of each, about 54 KiB of memory per metric; the periodic work is one
    loop of the operator's own, fed by an index."""
    registry = registry_of_the_operator.build_registry()
    assert registry._spawning.get_all_handlers() == []
    assert "metric_summaries" in {handler.id for handler in registry._indexing.get_all_handlers()}
