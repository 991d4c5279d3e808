"""The chart installed, upgraded and downgraded by Flux's helm-controller, the Flux path of an upgrade: the shipped
HelmRelease example follows the chart in Git, and commits move it from the last release (0.1.0) to the working
tree and back.

No node runs the chart's pod here, so the HelmRelease does not wait for the Deployment to become available
(`disableWait`, which the shipped example does not set); the operator of each release runs as a process under
the chart's ServiceAccount with the Deployment's environment, as in test_upgrade.py. Each run has a control
plane, AWS and Flux of its own."""

import json
from contextlib import ExitStack
from pathlib import Path

import pytest
import yaml

from agreement_operator.sandbox import aws_emulator, operator_process, releases
from agreement_operator.sandbox import flux as flux_sandbox
from agreement_operator.sandbox.git_server import WorkingCopy
from agreement_operator.sandbox.processes import StartupFailed, eventually, free_port
from agreement_operator.sandbox.session import condition_of, sandbox
from agreement_operator.schema import packaged

ROOT = Path(__file__).parents[2]
SYSTEM, METRICS, RELEASE = "agreement-system", "metrics", "agreement-operator"
CHART_PATH = "helm/agreement-operator"
CODE = "def agreement(annotation_1, annotation_2, per_label=False):\n    return {score}\n"


def chart_files(tree: Path) -> dict[str, str]:
    """The chart of a source tree, as files to commit at CHART_PATH."""
    chart = tree / CHART_PATH
    return {str(Path(CHART_PATH) / path.relative_to(chart)): path.read_text()
            for path in sorted(chart.rglob("*")) if path.is_file()}


def release_manifests(url: str, aws, crd_policy: str) -> str:
    """examples/gitops/flux/helmrelease.yaml with our Git URL, short intervals, the sandbox's AWS, no wait for the
    Deployment; `crd_policy` "shipped" keeps its CRD settings, "default" takes helm-controller's defaults."""
    documents = list(yaml.safe_load_all((ROOT / "examples" / "gitops" / "flux" / "helmrelease.yaml").read_text()))
    for document in documents:
        spec = document.get("spec", {})
        if document["kind"] == "GitRepository":
            spec.update(url=url, interval="2s", ref={"branch": "main"})
        if document["kind"] == "HelmRelease":
            spec["chart"]["spec"]["interval"] = "2s"
            spec["values"] = {"aws": {"region": aws.region, "accountId": aws_emulator.ACCOUNT,
                                      "endpointUrl": aws.endpoint_url}, "resyncSeconds": 5}
            if crd_policy == "default":
                spec["install"].pop("crds"), spec["upgrade"].pop("crds")
            spec["install"]["disableWait"] = spec["upgrade"]["disableWait"] = True
    return yaml.safe_dump_all(documents)


def crd_revision(kubectl) -> int:
    return packaged.revision(json.loads(kubectl("get", "crd", packaged.NAME, "-o", "json").stdout))


def installed_chart_version(kubectl) -> str | None:
    found = json.loads(kubectl("get", "helmreleases.helm.toolkit.fluxcd.io", RELEASE, "-n", SYSTEM, "-o",
                               "json").stdout)
    ready = condition_of(found, "Ready").get("status") == "True"
    history = found.get("status", {}).get("history") or [{}]
    return history[0].get("chartVersion") if ready else None


def functions(box) -> dict[str, str]:
    return {function["FunctionName"]: function["CodeSha256"]
            for function in box.aws.client("lambda").list_functions()["Functions"]}


def settled(kubectl) -> dict[str, str] | None:
    """Each metric's Ready reason, once every one is Ready at its generation."""
    items = json.loads(kubectl("get", "am", "-n", METRICS, "-o", "json").stdout)["items"]
    ready = {item["metadata"]["name"]: condition_of(item, "Ready") for item in items}
    at_generation = all(ready[item["metadata"]["name"]].get("observedGeneration") == item["metadata"]["generation"]
                        for item in items)
    return {name: c["reason"] for name, c in ready.items()} if items and at_generation and all(
        c.get("status") == "True" for c in ready.values()) else None


@pytest.mark.parametrize("crd_policy", ["shipped", "default"])
def test_a_helmrelease_installs_the_last_release_a_commit_upgrades_it_and_another_downgrades_it(
        control_plane_binaries, tmp_path, crd_policy):
    """Install 0.1.0, upgrade to the working tree, downgrade to 0.1.0, each by a commit; every metric as it was
    throughout, no Lambda write. The CRD: the shipped example (upgrade.crds: Skip) leaves it to the operator,
    so the downgrade keeps today's CRD; helm-controller's default applies the chart's CRD on every upgrade,
    so the downgrade puts 0.1.0's back (docs/upgrading.md says so)."""
    try:
        built = flux_sandbox.binaries()
    except StartupFailed as error:
        pytest.fail(f"the Flux tier needs Flux's controllers: {error}")
    old_tree = releases.tree(releases.commit_of("0.1.0"))
    today = packaged.revision(packaged.manifest())
    with sandbox(with_operator=False, with_crd=False, binaries=control_plane_binaries) as box, \
            ExitStack() as stack:
        kubectl = box.control_plane.kubectl
        flux = flux_sandbox.start(box.workdir, stack, box.control_plane, built)
        kubectl("create", "namespace", METRICS)
        charts = WorkingCopy(flux.git.create("charts"), tmp_path / "charts")
        charts.commit("agreement-operator 0.1.0", chart_files(old_tree))
        kubectl("apply", "-f", "-", input=release_manifests(charts.url, box.aws, crd_policy))
        eventually(lambda: installed_chart_version(kubectl) == "0.1.0", 180, "helm-controller to install 0.1.0")
        assert crd_revision(kubectl) == 0  # the release's CRD, from its chart's crds/ (install.crds: Create)

        def operator(tree: Path | None, name: str):
            """The operator of `tree` (None: the working tree) as the chart's pod would run it."""
            identity = box.control_plane.as_service_account(SYSTEM, RELEASE, tmp_path)
            env = {**box.control_plane.container_environment(SYSTEM, RELEASE),
                   **aws_emulator.CREDENTIALS, **(releases.environment(tree) if tree else {}),
                   "AGREEMENT_OPERATOR_METRICS_PORT": str(free_port())}
            return operator_process.start(box.workdir, stack, identity, box.aws, env, aws_environment=False,
                                          ready=tree is None, log_name=f"operator-{name}.log")

        old = operator(old_tree, "0.1.0")
        for name, spec in {"plain": {"code": CODE.format(score=1.0)},
                           "retained": {"code": CODE.format(score=0.5), "deletionPolicy": "Retain"}}.items():
            kubectl("apply", "-f", "-", input=json.dumps({
                "apiVersion": "agreement.dev/v1alpha1", "kind": "AgreementMetric",
                "metadata": {"name": name, "namespace": METRICS}, "spec": spec}))
        before = eventually(lambda: settled(kubectl), 90, "0.1.0's operator to deploy both metrics")
        functions_before = functions(box)
        old.stop()
        box.aws.front.reset_counts()

        charts.commit("agreement-operator, the working tree", chart_files(ROOT))
        version = yaml.safe_load((ROOT / CHART_PATH / "Chart.yaml").read_text())["version"]
        eventually(lambda: installed_chart_version(kubectl) == version, 180, f"helm-controller to upgrade to {version}")
        assert crd_revision(kubectl) == (0 if crd_policy == "shipped" else today)  # who applies it
        upgraded = operator(None, "today")  # ready only once the CRD is current: it applies its own if need be
        assert crd_revision(kubectl) == today
        eventually(lambda: settled(kubectl) == before, 60, "every metric Ready as before under today's operator")
        upgraded.stop()

        charts.commit("back to agreement-operator 0.1.0", chart_files(old_tree))
        eventually(lambda: installed_chart_version(kubectl) == "0.1.0", 180, "helm-controller to downgrade")
        assert crd_revision(kubectl) == (today if crd_policy == "shipped" else 0)
        operator(old_tree, "0.1.0-again")
        eventually(lambda: settled(kubectl) == before, 60, "every metric Ready as before under 0.1.0's operator")
        assert functions(box) == functions_before  # the wrapper of 0.1.0 is today's: no function changed
        writes = {call for call, count in box.aws.front.calls.items()
                  if count and call.startswith(("Create", "Update", "Delete", "Tag", "Untag"))}
        assert writes == set(), writes
