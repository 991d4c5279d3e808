"""The kubelet stand-in's pod builder: the chart's pod spec kept, with what a kubelet and EKS's IRSA
webhook add, on the host network."""

from pathlib import Path

import yaml

from agreement_operator.sandbox.podman_pod import pod_manifest, write_credentials, write_hosts

TEMPLATE = {
    "metadata": {"labels": {"app.kubernetes.io/name": "agreement-operator"}},
    "spec": {
        "securityContext": {"runAsUser": 10001, "runAsNonRoot": True},
        "containers": [{
            "name": "operator", "image": "localhost/agreement-operator:0.1.0", "args": ["run"],
            "env": [{"name": "LS_LAMBDA_REGION_CUSTOM_METRICS", "value": "us-east-1"}],
            "ports": [{"name": "health", "containerPort": 8080}, {"name": "metrics", "containerPort": 9090}],
            "livenessProbe": {"httpGet": {"path": "/healthz", "port": "health"}},
            "securityContext": {"readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}},
            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        }],
        "volumes": [{"name": "tmp", "emptyDir": {}}],
    },
}


def test_the_pod_spec_is_kept_and_the_kubelets_additions_made(tmp_path):
    credentials = write_credentials(tmp_path / "c", "t0ken", "agreement-system", b"CA", irsa_token="web")
    pod = pod_manifest("rel-agreement-operator", TEMPLATE, credentials, 6443, "us-east-1",
                       irsa_role="arn:aws:iam::123456789012:role/LSE_ServiceAccountApp")
    spec, container = pod["spec"], pod["spec"]["containers"][0]
    assert (pod["kind"], pod["metadata"]["labels"]) == ("Pod", TEMPLATE["metadata"]["labels"])
    assert spec["securityContext"] == TEMPLATE["spec"]["securityContext"] and spec["hostNetwork"] is True
    assert container["securityContext"] == TEMPLATE["spec"]["containers"][0]["securityContext"]
    env = {item["name"]: item["value"] for item in container["env"]}
    assert env["KUBERNETES_SERVICE_HOST"] == "127.0.0.1" and env["KUBERNETES_SERVICE_PORT"] == "6443"
    assert env["AWS_ROLE_ARN"].endswith("/LSE_ServiceAccountApp")
    assert env["AWS_WEB_IDENTITY_TOKEN_FILE"] == "/var/run/secrets/eks.amazonaws.com/serviceaccount/token"
    assert "ports" not in container and container["livenessProbe"]["httpGet"]["port"] == 8080
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    assert mounts == {"/tmp": "tmp", "/var/run/secrets/kubernetes.io/serviceaccount": "kube-api-access",
                      "/var/run/secrets/eks.amazonaws.com/serviceaccount": "aws-iam-token"}
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    assert volumes["kube-api-access"]["hostPath"]["path"] == str(credentials / "serviceaccount")
    assert (credentials / "serviceaccount" / "token").read_text() == "t0ken"
    assert (credentials / "serviceaccount" / "token").stat().st_mode & 0o004  # the pod's user reads it
    assert TEMPLATE["spec"]["containers"][0]["ports"]  # the template itself is untouched
    yaml.safe_dump(pod)  # what podman kube play reads


def test_a_hosts_file_stands_in_for_cluster_dns(tmp_path):
    hosts = write_hosts(tmp_path / "hosts", {"rel-agreement-operator-health": "127.0.0.1"})
    pod = pod_manifest("t", TEMPLATE, Path("/c"), 6443, "us-east-1", hosts_file=hosts)
    assert "127.0.0.1\trel-agreement-operator-health" in hosts.read_text().splitlines()
    container = pod["spec"]["containers"][0]
    assert {"name": "etc-hosts", "mountPath": "/etc/hosts", "readOnly": True} in container["volumeMounts"]
    assert "AWS_ROLE_ARN" not in {item["name"] for item in container["env"]}
