"""The operator and the cluster's AgreementMetric CRD, on a control plane of their own (each test installs
the CRD it starts from): an older CRD brought up to date before any metric is handled, or, with the
operator told not to, the operator waiting (alive, not ready, one line saying what to run) and writing
nothing; a newer CRD left alone; a CRD made older while the operator runs; and a status write that the
CRD prunes, reported."""

import json
import socket
import time
import urllib.error
import urllib.request
from contextlib import ExitStack

import pytest
import yaml

from agreement_operator import failures
from agreement_operator.controller import crd_upkeep, kube
from agreement_operator.sandbox import operator_process, releases
from agreement_operator.sandbox.processes import StartupFailed, eventually, http_get
from agreement_operator.sandbox.session import sandbox
from agreement_operator.schema import coverage, packaged
from agreement_operator.target import Event

CODE = "def agreement(annotation_1, annotation_2, per_label=False):\n    return 1.0\n"
TODAY = packaged.revision(packaged.manifest())  # this build's schema revision


@pytest.fixture(scope="module")
def plane(control_plane_binaries):
    with sandbox(with_operator=False, binaries=control_plane_binaries, with_crd=False, local_label_studio=True) as box:
        yield box


def install_crd(box, definition: dict | str) -> None:
    """Replace whatever CRD the cluster has with `definition`, as someone with an old checkout would. (Never
    by deleting it: that deletes every metric, and the earlier tests' metrics wait for an operator.)"""
    text = definition if isinstance(definition, str) else yaml.safe_dump(definition)
    exists = box.control_plane.kubectl("get", "crd", packaged.NAME, check=False).returncode == 0
    box.control_plane.kubectl("replace" if exists else "create", "-f", "-", input=text)
    box.control_plane.kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/{packaged.NAME}")


def older_crd() -> str:
    return (releases.tree(releases.OLDER_INSTALL) / "crds" / "agreementmetrics.yaml").read_text()


def cluster_crd(box) -> dict:
    return json.loads(box.control_plane.kubectl("get", "crd", packaged.NAME, "-o", "json").stdout)


def served(definition: dict) -> dict:
    version = definition["spec"]["versions"][0]
    return {"schema": version["schema"], "columns": version.get("additionalPrinterColumns")}


def start(box, stack, namespace: str, ready: bool = True, **env):
    return operator_process.start(box.workdir, stack, box.control_plane, box.aws,
                                  {"AGREEMENT_OPERATOR_NAMESPACES": namespace, **box.label_studio_environment, **env},
                                  log_name=f"operator-{namespace}.log", ready=ready)


def apply_metric(box, namespace: str, name: str, spec: dict, server_side: bool = False) -> None:
    manifest = {"apiVersion": "agreement.dev/v1alpha1", "kind": "AgreementMetric",
                "metadata": {"name": name, "namespace": namespace}, "spec": spec}
    box.control_plane.kubectl("apply", *(["--server-side"] if server_side else []), "-f", "-",
                              input=json.dumps(manifest))


def metric(box, namespace: str, name: str) -> dict:
    return json.loads(box.control_plane.kubectl("get", "am", name, "-n", namespace, "-o", "json").stdout)


def namespace(box, name: str) -> str:
    box.control_plane.kubectl("create", "namespace", name)
    return name


def metric_writes_by_the_operator(box, since: int) -> list[str]:
    """The audit log's writes to AgreementMetrics since byte `since` by anyone but kubectl."""
    with box.control_plane.audit_log.open() as log:
        log.seek(since)
        entries = [json.loads(line) for line in log]
    return [f"{entry['verb']} {entry['objectRef'].get('name')}" for entry in entries
            if entry.get("objectRef", {}).get("resource") == "agreementmetrics"
            and not entry.get("userAgent", "").startswith("kubectl")]


def test_an_older_crd_is_brought_up_to_date_before_any_metric_is_handled(plane):
    install_crd(plane, older_crd())
    ns = namespace(plane, "upkeep-older")
    with ExitStack() as stack:
        operator = start(plane, stack, ns)
        current = cluster_crd(plane)
        assert served(current) == served(packaged.manifest())
        assert packaged.revision(current) == packaged.revision(packaged.manifest())
        assert f"older than this operator's {TODAY}: applying this operator's" in operator.log_tail()
        # What the old schema refused or dropped now holds: a metric naming a Label Studio connection, applied
        # server-side (which refuses undeclared fields), and status.usage through a status patch.
        apply_metric(plane, ns, "named", {"code": CODE, "labelStudio": {"project": 1, "connection": "default"}},
                     server_side=True)
        plane.control_plane.kubectl("wait", "--for=condition=Ready", "-n", ns, "am/named", "--timeout=60s")
        usage = {"usage": {"window": "1d", "invocations": 3}}
        plane.control_plane.kubectl("patch", "am", "named", "-n", ns, "--subresource=status", "--type=merge",
                                    "-p", json.dumps({"status": usage}))
        assert metric(plane, ns, "named")["status"]["usage"] == usage["usage"]


def test_told_not_to_manage_it_the_operator_waits_on_an_older_crd_and_writes_nothing(plane):
    install_crd(plane, older_crd())
    ns = namespace(plane, "upkeep-unmanaged")
    apply_metric(plane, ns, "waiting", {"code": CODE})
    since = plane.control_plane.audit_log.stat().st_size
    with ExitStack() as stack:
        operator = start(plane, stack, ns, ready=False, AGREEMENT_OPERATOR_MANAGE_CRD="false")
        time.sleep(crd_upkeep.CHECK_SECONDS + 2)  # a second check, which must not say it again
        assert http_get(operator.readiness_url) is None and http_get(operator.liveness_url) is not None
        said = [line for line in operator.log_tail().splitlines() if packaged.NAME in line and "ERROR" in line]
        assert len(said) == 1, said
        assert f"schema revision 0 and this operator needs {TODAY}; it would prune " in said[0]
        assert "spec.labelStudio.connection" in said[0] and "spec.aws" in said[0]  # fields added since
        assert "agreement-operator crd | kubectl apply --server-side --force-conflicts -f -" in said[0]
        assert metric_writes_by_the_operator(plane, since) == []
        assert "status" not in metric(plane, ns, "waiting")
        # Someone applies the CRD: the operator starts within one check, and the metric gets deployed.
        plane.control_plane.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-",
                                    input=packaged.text())
        eventually(lambda: http_get(operator.readiness_url), crd_upkeep.CHECK_SECONDS + 20, "the operator ready")
        plane.control_plane.kubectl("wait", "--for=condition=Ready", "-n", ns, "am/waiting", "--timeout=60s")


def test_a_newer_crd_is_left_as_it_is(plane):
    newer = packaged.manifest()
    newer["metadata"]["annotations"][packaged.REVISION_ANNOTATION] = str(packaged.revision(newer) + 1)
    status = newer["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    status["properties"]["fromANewerRelease"] = {"type": "string", "description": "a field this build knows nothing of"}
    install_crd(plane, newer)
    ns = namespace(plane, "upkeep-newer")
    with ExitStack() as stack:
        operator = start(plane, stack, ns)
        apply_metric(plane, ns, "beside-newer", {"code": CODE})
        plane.control_plane.kubectl("wait", "--for=condition=Ready", "-n", ns, "am/beside-newer", "--timeout=60s")
        time.sleep(crd_upkeep.CHECK_SECONDS + 1)
        assert "applying" not in operator.log_tail()
    kept = cluster_crd(plane)
    assert packaged.revision(kept) == packaged.revision(packaged.manifest()) + 1
    assert "fromANewerRelease" in kept["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"][
        "properties"]


def test_a_crd_made_older_while_the_operator_runs_is_applied_again(plane):
    install_crd(plane, packaged.text())
    ns = namespace(plane, "upkeep-again")
    with ExitStack() as stack:
        start(plane, stack, ns)
        plane.control_plane.kubectl("replace", "-f", "-", input=older_crd())
        eventually(lambda: coverage.verdict(cluster_crd(plane), packaged.manifest()) is coverage.Verdict.CURRENT,
                   crd_upkeep.CHECK_SECONDS + 20, "the operator to apply its CRD again")


def test_told_not_to_manage_it_the_operator_stops_when_its_crd_is_made_older(plane):
    install_crd(plane, packaged.text())
    ns = namespace(plane, "upkeep-stops")
    with ExitStack() as stack:
        operator = start(plane, stack, ns, AGREEMENT_OPERATOR_MANAGE_CRD="false")
        plane.control_plane.kubectl("replace", "-f", "-", input=older_crd())
        eventually(lambda: not operator.running(), crd_upkeep.CHECK_SECONDS + 30, "the operator to stop")
        assert operator.process.returncode == 3
        assert "stopping: the operator must not write to metrics through CRD" in operator.log_tail()


def test_without_rbac_to_update_it_the_operator_says_what_to_grant(plane, tmp_path):
    install_crd(plane, older_crd())
    kubectl = plane.control_plane.kubectl
    ns = namespace(plane, "upkeep-rbac")
    kubectl("create", "serviceaccount", "reader", "-n", ns)
    kubectl("create", "clusterrole", "crd-reader", "--verb=list,watch", "--resource=customresourcedefinitions")
    kubectl("create", "clusterrolebinding", "crd-reader", "--clusterrole=crd-reader", f"--serviceaccount={ns}:reader")
    token = kubectl("create", "token", "reader", "-n", ns).stdout.strip()
    api = kube.KubeAPI()
    api.log_in(kube.Credentials(server=plane.control_plane.url, token=token, insecure=True))
    upkeep = crd_upkeep.CrdUpkeep(api, manage=True)
    assert upkeep.check() is coverage.Verdict.OLDER
    assert "may not update it (Kubernetes RBAC forbids the operator to apply CustomResourceDefinition" in upkeep.problem
    assert packaged.revision(cluster_crd(plane)) == 0


def test_a_status_field_the_crd_prunes_is_an_error_and_one_warning_event_per_metric(plane):
    """The second guard, against the real apiserver: a write the CRD prunes, whatever let it through."""
    install_crd(plane, older_crd())
    ns = namespace(plane, "upkeep-pruned")
    apply_metric(plane, ns, "pruned", {"code": CODE})
    api = kube.KubeAPI()
    api.log_in(kube.Credentials(server=plane.control_plane.url, token=plane.control_plane.token, insecure=True))
    with pytest.raises(failures.FieldsPruned) as raised:
        api.patch_status(ns, "pruned", {"usage": {"invocations": 3}, "state": "Active"})
    assert raised.value.fields == ["status.usage"]
    assert metric(plane, ns, "pruned")["status"] == {"state": "Active"}

    posted: list[Event] = []
    checks = []
    upkeep = crd_upkeep.CrdUpkeep(api, manage=False)
    upkeep.check_soon = lambda: checks.append("now")  # the writer asks for a check; none runs here
    write = crd_upkeep.status_writer(api, upkeep, lambda body, event: posted.append(event))
    for _ in range(2):
        with pytest.raises(failures.FieldsPruned):
            write(ns, "pruned", {"usage": {"invocations": 4}})
    assert [(event.reason, event.warning) for event in posted] == [("StatusFieldPruned", True)]
    assert "status.usage" in posted[0].message and packaged.NAME in posted[0].message
    assert checks == ["now", "now"]


def test_an_operator_whose_crd_does_not_exist_is_not_ready_and_says_how_to_create_it(plane):
    kubectl = plane.control_plane.kubectl
    for item in json.loads(kubectl("get", "am", "-A", "-o", "json", check=False).stdout or '{"items": []}')["items"]:
        kubectl("patch", "am", item["metadata"]["name"], "-n", item["metadata"]["namespace"], "--type=merge",
                "-p", '{"metadata": {"finalizers": null}}')  # no operator runs here to let them go
    kubectl("delete", "crd", packaged.NAME, "--ignore-not-found", "--wait=true", "--timeout=60s")
    ns = namespace(plane, "upkeep-absent")
    with ExitStack() as stack:
        operator = start(plane, stack, ns, ready=False)
        answer = eventually(lambda: _readiness_body(operator), 30, "a readiness answer")
        assert "does not exist" in answer["crd"] and "agreement-operator crd" in answer["crd"]
        assert not plane.control_plane.kubectl("get", "crd", packaged.NAME, check=False).returncode == 0


def _readiness_body(operator) -> dict | None:
    """What /readyz answers while it fails; None while it passes or does not answer yet."""
    try:
        with urllib.request.urlopen(operator.readiness_url, timeout=2):
            return None
    except urllib.error.HTTPError as error:
        return json.loads(error.read())
    except OSError:
        return None


def test_a_startup_that_fails_still_ends_the_process(plane):
    """Regression: with the CRD checks' stop flag a threading.Event, kopf left a thread waiting on it, and an
    operator whose startup failed (its metrics port taken) never exited, so the kubelet never restarted it."""
    install_crd(plane, packaged.text())
    ns = namespace(plane, "upkeep-failed-start")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with ExitStack() as stack, pytest.raises(StartupFailed, match="exited with code 1") as failed:
            start(plane, stack, ns, AGREEMENT_OPERATOR_METRICS_PORT=str(taken.getsockname()[1]))
    assert "cannot serve metrics on port" in str(failed.value)
