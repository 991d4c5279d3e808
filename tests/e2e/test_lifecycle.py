"""Apply, update, break, fix and delete metrics with the operator running as a process."""

from agreement_operator.function import packaging
from agreement_operator.metric import tags
from agreement_operator.metric.owner import Owner

CODE = '''
def agreement(annotation_1, annotation_2, per_label=False):
    def choices(annotation):
        return {c for item in annotation["result"] if item["type"] == "choices" for c in item["value"]["choices"]}
    a, b = choices(annotation_1), choices(annotation_2)
    if per_label:
        return {label: float(label in a and label in b) for label in a | b}
    return float(a == b)
'''


def sha(code):
    return packaging.code_sha256(packaging.build_zip(code))


def test_apply_until_ready_creates_the_function(cluster, box, operator):
    cluster.apply("sentiment", {"code": CODE, "prefix": "nlp", "tags": {"team": "quality"}})
    item = cluster.wait("sentiment")
    name = f"custom-metric-nlp-{cluster.namespace}-sentiment"
    status = item["status"]
    assert status["functionName"] == name
    assert status["functionArn"] == f"arn:aws:lambda:{box.aws.region}:123456789012:function:{name}"
    assert status["functionNames"] == [name]  # kept by the CRD's status schema, not pruned; bare: the default's
    assert status["codeSha256"] == sha(CODE)
    assert (status["state"], status["lastUpdateStatus"]) == ("Active", "Successful")
    assert status["observedGeneration"] == item["metadata"]["generation"]
    function = cluster.function(name)
    assert function["Handler"] == "agreement_handler.handler"
    # Defaults the operator applies (the schema has none: see test_schema).
    assert (function["Runtime"], function["Timeout"], function["MemorySize"]) == ("python3.12", 30, 256)
    assert function["Role"] == box.aws.role_arn
    assert function["Tags"] == {"team": "quality", **tags.ownership_tags(Owner(
        "default", cluster.namespace, "sentiment", item["metadata"]["uid"]))}
    assert "Created" in [event["reason"] for event in cluster.events("sentiment")]
    # Text log lines about a metric name it.
    assert f"[{cluster.namespace}/sentiment] Deployed: function {name}" in operator.process.log_tail(200_000)


def test_updates_of_code_tags_and_memory(cluster):
    cluster.apply("updates", {"code": CODE, "tags": {"team": "a", "old": "x"}})
    name = cluster.wait("updates")["status"]["functionName"]

    new_code = CODE.replace("float(a == b)", "float(a == b) * 0.5")
    cluster.apply("updates", {"code": new_code, "tags": {"team": "a", "old": "x"}})
    item = cluster.wait_observed("updates", 2)
    assert cluster.condition(item, "Ready")["status"] == "True"
    assert item["status"]["codeSha256"] == sha(new_code) == cluster.function(name)["CodeSha256"]

    cluster.apply("updates", {"code": new_code, "tags": {"team": "b", "new": "y"}})
    cluster.wait_observed("updates", 3)
    user_tags = {k: v for k, v in cluster.function(name)["Tags"].items()
                 if not k.startswith(("agreement.dev/", "app.kubernetes.io/"))}
    assert user_tags == {"team": "b", "new": "y"}

    cluster.apply("updates", {"code": new_code, "tags": {"team": "b", "new": "y"}, "memoryMB": 1024})
    cluster.wait_observed("updates", 4)
    assert cluster.function(name)["MemorySize"] == 1024
    reasons = [event["reason"] for event in cluster.events("updates")]
    assert {"CodeUpdated", "TagsUpdated", "ConfigurationUpdated"} <= set(reasons)


def test_invalid_code_is_stalled_with_its_line_and_recovers_when_fixed(cluster):
    broken = "def agreement(annotation_1, annotation_2, per_label=False):\n    return (1.0\n"
    cluster.apply("broken", {"code": broken})
    item = cluster.wait("broken", condition="Stalled")
    stalled = cluster.condition(item, "Stalled")
    assert stalled["reason"] == "InvalidCode"
    assert "line 2: syntax error" in stalled["message"]
    assert cluster.condition(item, "Ready")["status"] == "False"
    assert cluster.function(f"custom-metric-{cluster.namespace}-broken") is None
    assert "functionName" not in item["status"]

    cluster.apply("broken", {"code": CODE})
    item = cluster.wait("broken")
    assert cluster.condition(item, "Stalled")["status"] == "False"
    assert cluster.function(f"custom-metric-{cluster.namespace}-broken") is not None


def test_delete_removes_the_function_and_retain_keeps_it(cluster):
    cluster.apply("goes", {"code": CODE})
    cluster.apply("stays", {"code": CODE, "deletionPolicy": "Retain"})
    gone = cluster.wait("goes")["status"]["functionName"]
    kept = cluster.wait("stays")["status"]["functionName"]
    cluster.kubectl("delete", "am", "goes", "stays", "-n", cluster.namespace, "--timeout=60s")
    assert cluster.kubectl("get", "am", "-n", cluster.namespace, "-o", "name").stdout == ""
    assert cluster.function(gone) is None
    assert cluster.function(kept) is not None


def test_function_deleted_out_of_band_is_recreated_by_the_resync(cluster):
    cluster.apply("drift", {"code": CODE})
    name = cluster.wait("drift")["status"]["functionName"]
    cluster.lam.delete_function(FunctionName=name)
    recreated = cluster.eventually(lambda: cluster.function(name), 30, "the function to be recreated")
    assert recreated["CodeSha256"] == sha(CODE)


def test_restart_with_unchanged_resources_writes_nothing_anywhere(cluster, operator):
    cluster.apply("steady", {"code": CODE, "tags": {"team": "a"}})
    item = cluster.wait("steady")
    name = item["status"]["functionName"]
    before = cluster.function(name)
    events_before = len(cluster.events("steady"))
    operator.restart()
    resumed = f"[{cluster.namespace}/steady] Handler 'resume_metric' succeeded"
    cluster.eventually(lambda: resumed in operator.process.log_path.read_text(), 60, "the resume handler")
    assert cluster.get("steady")["metadata"]["resourceVersion"] == item["metadata"]["resourceVersion"]
    after = cluster.function(name)
    assert (after["LastModified"], after.get("RevisionId")) == (before["LastModified"], before.get("RevisionId"))
    assert after["Tags"] == before["Tags"] and after["CodeSha256"] == before["CodeSha256"]
    assert len(cluster.events("steady")) == events_before


def test_two_resources_colliding_on_one_function_name(cluster):
    first_ns, second_ns = f"{cluster.namespace}-a", f"{cluster.namespace}-a-b"
    for namespace in (first_ns, second_ns):
        cluster.kubectl("create", "namespace", namespace)
    cluster.apply("b-m", {"code": CODE}, namespace=first_ns)
    first = cluster.wait("b-m", namespace=first_ns)
    name = first["status"]["functionName"]
    before = cluster.function(name)
    cluster.apply("m", {"code": CODE.replace("float(a == b)", "0.0")}, namespace=second_ns)
    second = cluster.wait("m", condition="Stalled", namespace=second_ns)
    stalled = cluster.condition(second, "Stalled")
    assert stalled["reason"] == "FunctionOwnedElsewhere"
    assert f"belongs to AgreementMetric {first_ns}/b-m" in stalled["message"]
    after = cluster.function(name)
    assert (after["CodeSha256"], after["LastModified"], after["Tags"]) == (
        before["CodeSha256"], before["LastModified"], before["Tags"])


def test_kubectl_get_shows_the_printer_columns(cluster):
    cluster.apply("columns", {"code": CODE})
    cluster.wait("columns")
    table = cluster.kubectl("get", "am", "-n", cluster.namespace, "-o", "wide").stdout.splitlines()
    assert table[0].split() == ["NAME", "FUNCTION", "PROJECT", "AGREEMENT", "READY", "REASON", "TESTS", "ERRORS",
                                "INVOKED", "AGE", "CODESHA256", "STATE", "CONNECTION"]
    row = table[1].split()
    assert row[:4] == ["columns", f"custom-metric-{cluster.namespace}-columns", "True", "Deployed"]
    assert row[-1] == "Active"  # the empty CONNECTION cell (no spec.labelStudio) is not split out


def test_a_prefix_moved_twice_leaves_one_function_and_delete_leaves_none(cluster):
    for prefix in ("p1", "p2", "p3"):  # without waiting in between
        cluster.apply("mover", {"code": CODE, "prefix": prefix})
    item = cluster.wait_observed("mover", cluster.get("mover")["metadata"]["generation"])
    item = cluster.wait("mover")
    final = f"custom-metric-p3-{cluster.namespace}-mover"
    assert item["status"]["functionNames"] == [final]
    names = [f"custom-metric-{p}-{cluster.namespace}-mover" for p in ("p1", "p2", "p3")]
    assert [name for name in names if cluster.function(name)] == [final]
    cluster.kubectl("delete", "am", "mover", "-n", cluster.namespace, "--timeout=60s")
    assert [name for name in names if cluster.function(name)] == []
