"""Upgrading from the last recorded release (0.1.0) to the working tree, as users do it: its chart installed,
its operator running (as a process, from the release's own source, under the chart's ServiceAccount), metrics
of every kind made by it, then a plain `helm upgrade` with the same values and today's operator; then `helm
rollback`, `helm uninstall`, and what deleting the CRD does. Each run has a control plane, AWS and Label
Studio of its own.

Two upgrades: the release as it shipped (its wrapper is today's: the upgrade costs no Lambda write), and the
same release with a changed wrapper (what a release whose wrapper changed costs: one UpdateFunctionCode per
function, nothing else). docs/upgrading.md states both."""

import io
import json
import time
import zipfile
from contextlib import ExitStack
from pathlib import Path

import pytest

from agreement_operator.sandbox import aws_emulator, operator_process, releases
from agreement_operator.sandbox.processes import eventually, free_port, http_get
from agreement_operator.sandbox.session import condition_of, sandbox
from agreement_operator.schema import packaged

CHART = Path(__file__).parents[2] / "helm" / "agreement-operator"
RELEASE, SYSTEM, METRICS = "rel", "agreement-system", "metrics"
CODE = "def agreement(annotation_1, annotation_2, per_label=False):\n    return {score}\n"
LAMBDA_WRITES = {"CreateFunction", "UpdateFunctionCode", "UpdateFunctionConfiguration", "DeleteFunction",
                 "TagResource", "UntagResource"}
ANNOTATION = {"id": "a", "result": [{"from_name": "sentiment", "to_name": "text", "type": "choices",
                                     "value": {"choices": ["Positive"]}}]}


class Upgrade:
    """One cluster through the upgrade: helm, the operator of the moment, and what the cluster holds."""

    def __init__(self, box, stack: ExitStack, workdir: Path, old_tree: Path) -> None:
        self.box, self.stack, self.workdir, self.old_tree = box, stack, workdir, old_tree
        self.kubectl = box.control_plane.kubectl
        self.lam = box.aws.client("lambda")
        self.operator = None
        self.starts = 0
        self.chart_environment: dict[str, str] = {}

    def helm(self, *args: str) -> str:
        result = self.box.control_plane.helm(*args)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def values(self) -> list[str]:
        return ["--set", "aws.region=us-east-1", "--set-string", f"aws.accountId={aws_emulator.ACCOUNT}",
                "--set", f"aws.endpointUrl={self.box.aws.endpoint_url}", "--set", "resyncSeconds=5",
                "--set", f"labelStudio.url={self.box.label_studio.url}", "--set", "labelStudio.existingSecret=ls-key",
                "--set", f"labelStudio.namespaces={{{METRICS}}}", "--set", f"adoptNamespaces={{{METRICS}}}"]

    def start_operator(self, tree: Path | None, identity=None) -> None:
        """The operator of `tree` (None: the working tree) as the chart's pod would run it: its environment from
        the Deployment, the ServiceAccount's token; AWS keys stand in for IRSA. With `identity`, the release
        is gone: that identity, and the environment the chart gave last."""
        self.stop_operator()
        self.starts += 1
        if identity is None:
            identity = self.box.control_plane.as_service_account(SYSTEM, f"{RELEASE}-agreement-operator",
                                                                 self.workdir)
            self.chart_environment = self.box.control_plane.container_environment(SYSTEM,
                                                                                  f"{RELEASE}-agreement-operator")
        env = {**self.chart_environment, **aws_emulator.CREDENTIALS, **(releases.environment(tree) if tree else {}),
               "AGREEMENT_OPERATOR_METRICS_PORT": str(free_port())}  # the chart's 9090 may be another test's
        # 0.1.0 serves kopf's /healthz once started, and no /readyz; today's serves both.
        self.operator = operator_process.start(self.workdir, self.stack, identity, self.box.aws, env,
                                               aws_environment=False, ready=tree is None,
                                               log_name=f"operator-{self.starts}.log")

    def stop_operator(self) -> None:
        if self.operator is not None:
            self.operator.stop()

    def metrics(self) -> dict[str, dict]:
        items = json.loads(self.kubectl("get", "am", "-n", METRICS, "-o", "json").stdout)["items"]
        return {item["metadata"]["name"]: item for item in items}

    def settled(self, timeout: float = 120) -> dict[str, dict]:
        """Every metric Ready or Stalled at its generation, as the operator of the moment says."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.metrics()
            if all(_phase(item) for item in found.values()) or time.monotonic() > deadline:
                assert all(_phase(item) for item in found.values()), {
                    name: item.get("status") for name, item in found.items() if not _phase(item)}
                return found
            time.sleep(0.5)

    def functions(self) -> dict[str, str]:
        """Function name -> CodeSha256, for every function in the account."""
        listed = self.lam.list_functions()["Functions"]
        return {function["FunctionName"]: function["CodeSha256"] for function in listed}

    def warnings(self) -> list[str]:
        events = json.loads(self.kubectl("get", "events", "-n", METRICS, "-o", "json").stdout)["items"]
        return sorted(f"{event['involvedObject']['name']} {event['reason']} x{event.get('count', 1)}"
                      for event in events if event["type"] == "Warning")

    def lambda_writes(self) -> dict[str, int]:
        return {operation: count for operation, count in self.box.aws.front.calls.items() if operation in LAMBDA_WRITES}

    def deployed_as_recorded(self) -> bool:
        """Whether every Lambda metric is Ready with its status naming the code its function runs."""
        found, functions = self.metrics(), self.functions()
        return all(_phase(found[name]) == "Ready" and found[name]["status"].get("codeSha256")
                   == functions.get(found[name]["status"].get("functionName")) for name in LAMBDA_METRICS)

    def taken_up(self, count: int) -> bool:
        """Whether today's operator has looked at `count` metrics (its Prometheus gauge of metrics by phase)."""
        exported = http_get(self.operator.metrics_url) or ""
        seen = sum(float(line.rsplit(" ", 1)[1]) for line in exported.splitlines()
                   if line.startswith("agreement_operator_agreement_metrics{"))
        return seen == count


def _phase(item: dict) -> str | None:
    for kind in ("Ready", "Stalled"):
        condition = condition_of(item, kind)
        if condition.get("status") == "True" and condition.get("observedGeneration") == item["metadata"]["generation"]:
            return kind
    return None


def make_metrics(upgrade: Upgrade, project: int) -> None:
    """One metric of each kind the operator knows, made by the old operator."""
    kubectl = upgrade.kubectl
    kubectl("create", "configmap", "shared-code", "-n", METRICS, f"--from-literal=metric.py={CODE.format(score=0.5)}")
    kubectl("label", "configmap", "shared-code", "-n", METRICS, "agreement.dev/metric-code=true")
    adopted_zip = io.BytesIO()
    with zipfile.ZipFile(adopted_zip, "w") as archive:
        archive.writestr("lambda_function.py", "def handler(event, context):\n    return 1\n")
    upgrade.lam.create_function(  # made by hand before the operator, untagged: adopted on request
        FunctionName=f"custom-metric-{METRICS}-adopted", Runtime="python3.12", Handler="lambda_function.handler",
        Role=upgrade.box.aws.role_arn, Code={"ZipFile": adopted_zip.getvalue()})
    specs = {
        "smoke": {"code": CODE.format(score=1.0), "tests": [
            {"name": "agree", "annotation1": ANNOTATION, "annotation2": ANNOTATION, "expect": 1.0}]},
        "from-configmap": {"codeFrom": {"configMapKeyRef": {"name": "shared-code", "key": "metric.py"}}},
        "retained": {"code": CODE.format(score=0.25), "deletionPolicy": "Retain"},
        "in-project": {"code": CODE.format(score=0.75), "labelStudio": {"project": project}},
        "stalled": {"code": "def agreement(annotation_1, annotation_2, per_label=False):\n    return [\n"},
        "adopted": {"code": CODE.format(score=0.5)},
    }
    for name, spec in specs.items():
        annotations = {"agreement.dev/adopt": "true"} if name == "adopted" else {}
        manifest = {"apiVersion": "agreement.dev/v1alpha1", "kind": "AgreementMetric",
                    "metadata": {"name": name, "namespace": METRICS, "annotations": annotations}, "spec": spec}
        kubectl("apply", "-f", "-", input=json.dumps(manifest))


LAMBDA_METRICS = ("smoke", "from-configmap", "retained", "adopted")


@pytest.mark.parametrize("wrapper", ["as-released", "changed"])
def test_a_plain_helm_upgrade_from_the_last_release_keeps_every_metric(control_plane_binaries, tmp_path, wrapper):
    commit = releases.commit_of("0.1.0")
    old_tree = releases.tree(commit) if wrapper == "as-released" else releases.with_changed_wrapper(commit)
    with sandbox(with_operator=False, binaries=control_plane_binaries, with_crd=False,
                 local_label_studio=True) as box, \
            ExitStack() as stack:
        upgrade = Upgrade(box, stack, tmp_path, old_tree)
        try:
            _scenario(upgrade, box, wrapper)
        except BaseException:
            if upgrade.operator is not None:
                print(f"--- operator log ({upgrade.operator.name}) ---\n{upgrade.operator.log_tail(15000)}")
            raise


def _scenario(upgrade: Upgrade, box, wrapper: str) -> None:
    kubectl = upgrade.kubectl
    for namespace in (SYSTEM, METRICS):
        kubectl("create", "namespace", namespace)
    kubectl("create", "secret", "generic", "ls-key", "-n", SYSTEM,
            f"--from-literal=apiKey={box.label_studio.personal_access_token}")
    project = box.label_studio.add_project("upgrade")

    # 0.1.0: its chart (with its CRD from crds/), its operator.
    upgrade.helm("install", RELEASE, str(upgrade.old_tree / "helm" / "agreement-operator"), "-n", SYSTEM,
                 *upgrade.values())
    assert packaged.revision(_crd(kubectl)) == 0
    upgrade.start_operator(upgrade.old_tree)
    make_metrics(upgrade, project)
    before = upgrade.settled()
    assert {name: _phase(item) for name, item in before.items()} == {
        "smoke": "Ready", "from-configmap": "Ready", "retained": "Ready", "in-project": "Ready",
        "stalled": "Stalled", "adopted": "Ready"}
    functions_before, warnings_before = upgrade.functions(), upgrade.warnings()
    project_posts = box.label_studio.requests["POST function"]
    upgrade.stop_operator()
    box.aws.front.reset_counts()

    # Today's chart, same values, a plain helm upgrade; then the Deployment's new pod: today's operator.
    upgrade.helm("upgrade", RELEASE, str(CHART), "-n", SYSTEM, *upgrade.values())
    upgrade.start_operator(None)
    current = _crd(kubectl)
    assert _served(current) == _served(packaged.manifest())
    assert packaged.revision(current) == packaged.revision(packaged.manifest())
    expected_writes = {} if wrapper == "as-released" else {"UpdateFunctionCode": len(LAMBDA_METRICS)}
    eventually(lambda: upgrade.taken_up(len(before)), 60, "today's operator to take up every metric")
    eventually(lambda: upgrade.lambda_writes() == expected_writes and upgrade.deployed_as_recorded(), 120,
           f"the Lambda writes to be {expected_writes} and every status to name its function's code")
    time.sleep(6)  # a resync of every Ready metric (resyncSeconds=5) writes nothing more
    after = upgrade.settled()

    assert {name: _phase(item) for name, item in after.items()} == {name: _phase(item) for name, item in
                                                                      before.items()}
    for name, item in before.items():  # nothing of the status 0.1.0 wrote was lost
        assert set(item["status"]) <= set(after[name]["status"]), name
    functions_after = upgrade.functions()
    assert set(functions_after) == set(functions_before)  # none created twice, deleted or left behind
    for name in LAMBDA_METRICS:
        function = after[name]["status"]["functionName"]
        assert after[name]["status"]["codeSha256"] == functions_after[function]
    # docs/upgrading.md: from 0.1.0 the wrapper is unchanged, so the upgrade costs no Lambda write; a changed
    # wrapper costs one UpdateFunctionCode per function, and nothing else.
    assert upgrade.lambda_writes() == expected_writes
    if wrapper == "as-released":
        assert functions_after == functions_before
    else:
        assert after["smoke"]["status"]["tests"]["passed"] == 1  # the smoke tests ran on the new code
        assert after["smoke"]["status"]["codeSha256"] != before["smoke"]["status"]["codeSha256"]
    assert box.label_studio.requests["POST function"] == project_posts
    assert upgrade.warnings() == warnings_before
    log = upgrade.operator.log_tail(400000)
    assert "StatusFieldPruned" not in log and "Traceback" not in log and "prune" not in log.lower()

    # helm rollback to 0.1.0: its operator on today's CRD (which only grew) keeps every metric as it was.
    upgrade.helm("rollback", RELEASE, "1", "-n", SYSTEM)
    box.aws.front.reset_counts()
    upgrade.start_operator(upgrade.old_tree)
    eventually(lambda: upgrade.taken_up(len(before)), 60, "0.1.0's operator to take up every metric")
    eventually(lambda: upgrade.lambda_writes() == expected_writes and upgrade.deployed_as_recorded(), 120,
           f"the Lambda writes of the rollback to be {expected_writes}")
    time.sleep(6)  # and a resync
    rolled_back = upgrade.settled()
    assert {name: _phase(item) for name, item in rolled_back.items()} == {
        name: _phase(item) for name, item in before.items()}
    assert upgrade.lambda_writes() == expected_writes
    assert packaged.revision(_crd(kubectl)) == packaged.revision(packaged.manifest())
    upgrade.stop_operator()

    # Upgraded again, then uninstalled: helm uninstall keeps the CRD, and with it every metric.
    upgrade.helm("upgrade", RELEASE, str(CHART), "-n", SYSTEM, *upgrade.values())
    upgrade.start_operator(None)
    upgrade.stop_operator()
    upgrade.helm("uninstall", RELEASE, "-n", SYSTEM)
    assert packaged.revision(_crd(kubectl)) == packaged.revision(packaged.manifest())
    assert set(upgrade.metrics()) == set(before)
    if wrapper == "as-released":
        _deleting_the_crd_deletes_every_metric_then_their_functions(upgrade, box, project)


def _deleting_the_crd_deletes_every_metric_then_their_functions(upgrade: Upgrade, box, project: int) -> None:
    """Why nothing may delete the CRD: the apiserver deletes every metric, and the operator their functions."""
    upgrade.start_operator(None, identity=box.control_plane)
    retained = upgrade.metrics()["retained"]["status"]["functionName"]
    project_code = box.label_studio.function(project).code
    upgrade.kubectl("delete", "crd", packaged.NAME, "--timeout=120s")
    assert upgrade.kubectl("get", "am", "-A", check=False).returncode != 0  # no such resource any more
    assert set(upgrade.functions()) == {retained}  # deletionPolicy: Retain leaves its function alone
    # Label Studio has no API that removes a project's code: the project keeps scoring with it.
    assert box.label_studio.function(project).code == project_code
    deadline = time.monotonic() + 30
    while http_get(upgrade.operator.readiness_url) is not None:
        assert time.monotonic() < deadline, "the operator stayed ready without its CRD"
        time.sleep(0.5)


def _crd(kubectl) -> dict:
    return json.loads(kubectl("get", "crd", packaged.NAME, "-o", "json").stdout)


def _served(definition: dict) -> dict:
    version = definition["spec"]["versions"][0]
    return {"schema": version["schema"], "columns": version.get("additionalPrinterColumns")}


def test_a_plain_helm_upgrade_from_an_older_install_leaves_todays_crd(control_plane_binaries, tmp_path):
    """The install the defect was found on: the chart of commit c0f5f8c, whose CRD lacks nine of today's fields.
    After a plain helm upgrade, the new pod's operator brings the CRD up to date, and what the old CRD refused
    or dropped holds."""
    older = releases.tree(releases.OLDER_INSTALL)
    with sandbox(with_operator=False, binaries=control_plane_binaries, with_crd=False,
                 local_label_studio=True) as box, ExitStack() as stack:
        upgrade = Upgrade(box, stack, tmp_path, older)
        kubectl = upgrade.kubectl
        for namespace in (SYSTEM, METRICS):
            kubectl("create", "namespace", namespace)
        values = ["--set", "aws.region=us-east-1", "--set-string", f"aws.accountId={aws_emulator.ACCOUNT}",
                  "--set", f"aws.endpointUrl={box.aws.endpoint_url}"]
        upgrade.helm("install", RELEASE, str(older / "helm" / "agreement-operator"), "-n", SYSTEM, *values)
        before = _crd(kubectl)
        assert "usage" not in before["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"][
            "properties"]
        made_before = {"apiVersion": "agreement.dev/v1alpha1", "kind": "AgreementMetric",
                       "metadata": {"name": "made-before", "namespace": METRICS},
                       "spec": {"code": CODE.format(score=1)}}
        kubectl("apply", "-f", "-", input=json.dumps(made_before))

        upgrade.helm("upgrade", RELEASE, str(CHART), "-n", SYSTEM, *values)
        upgrade.start_operator(None)
        assert _served(_crd(kubectl)) == _served(packaged.manifest())
        kubectl("wait", "--for=condition=Ready", "-n", METRICS, "am/made-before", "--timeout=60s")
        # Refused before ("field not declared in schema"), and dropped by clients that do not ask the apiserver
        # to validate fields: a metric for a second Label Studio.
        named = {**made_before, "metadata": {"name": "named", "namespace": METRICS},
                 "spec": {"code": CODE.format(score=1), "labelStudio": {"project": 1, "connection": "team-a"}}}
        kubectl("apply", "--server-side", "-f", "-", input=json.dumps(named))
        assert upgrade.metrics()["named"]["spec"]["labelStudio"]["connection"] == "team-a"
        usage = {"window": "1h", "invocations": 3}
        kubectl("patch", "am", "made-before", "-n", METRICS, "--subresource=status", "--type=merge",
                "-p", json.dumps({"status": {"usage": usage}}))
        assert upgrade.metrics()["made-before"]["status"]["usage"] == usage
