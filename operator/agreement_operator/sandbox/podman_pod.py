"""A pod of the chart run with podman, as a kubelet on an EKS node would run it.

The pod spec is the one the apiserver stored (a Deployment's template, or the chart's test
pod): its user, read-only root filesystem, dropped capabilities, environment, probes and
volumes stay. Added is what a kubelet adds (the ServiceAccount token, namespace and CA at
/var/run/secrets/kubernetes.io/serviceaccount, KUBERNETES_SERVICE_HOST and _PORT) and what
EKS's pod identity webhook adds for IRSA (AWS_ROLE_ARN and a web identity token). The pod
joins the host network, because the sandbox's apiserver and AWS listen on loopback; there,
container ports are the host's, so they are dropped and the probes name their port by number.
"""

import copy
import os
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import yaml

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
IRSA_DIR = "/var/run/secrets/eks.amazonaws.com/serviceaccount"
CONTAINERS_CONF = Path(__file__).parents[3] / "scripts" / "podman" / "containers.conf"


def pod_manifest(name: str, template: Mapping, credentials: Path, apiserver_port: int, region: str,
                 irsa_role: str | None = None, hosts_file: Path | None = None) -> dict:
    """The Pod to give `podman kube play` for a pod template (metadata and spec). `credentials` holds
    `serviceaccount/` (token, namespace, ca.crt) and, with `irsa_role`, `irsa/token`. `hosts_file`
    becomes the pod's /etc/hosts, as the kubelet writes one (podman drops hostAliases on the host
    network): see write_hosts."""
    spec = copy.deepcopy(dict(template["spec"]))
    environment = [{"name": "KUBERNETES_SERVICE_HOST", "value": "127.0.0.1"},
                   {"name": "KUBERNETES_SERVICE_PORT", "value": str(apiserver_port)}]
    projected = {"kube-api-access": (credentials / "serviceaccount", SERVICE_ACCOUNT_DIR, "Directory")}
    if irsa_role:
        environment += [{"name": "AWS_ROLE_ARN", "value": irsa_role},
                        {"name": "AWS_WEB_IDENTITY_TOKEN_FILE", "value": f"{IRSA_DIR}/token"},
                        {"name": "AWS_REGION", "value": region}, {"name": "AWS_DEFAULT_REGION", "value": region}]
        projected["aws-iam-token"] = (credentials / "irsa", IRSA_DIR, "Directory")
    if hosts_file is not None:
        projected["etc-hosts"] = (hosts_file, "/etc/hosts", "File")
    mounts = [{"name": volume, "mountPath": target, "readOnly": True} for volume, (_, target, _) in projected.items()]
    for container in spec["containers"]:
        container["env"] = [*container.get("env", []), *environment]
        container["volumeMounts"] = [*container.get("volumeMounts", []), *mounts]
        ports = {port.get("name"): port["containerPort"] for port in container.pop("ports", [])}
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            http = container.get(probe, {}).get("httpGet", {})
            if isinstance(http.get("port"), str):
                http["port"] = ports[http["port"]]
    spec["volumes"] = [*spec.get("volumes", []), *({"name": volume, "hostPath": {"path": str(source), "type": kind}}
                                                    for volume, (source, _, kind) in projected.items())]
    spec["hostNetwork"] = True
    metadata = {"name": name, "labels": dict((template.get("metadata") or {}).get("labels") or {})}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def write_hosts(path: Path, aliases: Mapping[str, str]) -> Path:
    """A pod's /etc/hosts: loopback, and each alias (a Service name, say) at its address."""
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback",
             *(f"{address}\t{name}" for name, address in aliases.items())]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o644)
    return path


def write_credentials(directory: Path, token: str, namespace: str, ca: bytes, irsa_token: str | None) -> Path:
    """The files a kubelet projects into the pod; readable by the pod's non-root user."""
    (directory / "serviceaccount").mkdir(parents=True, exist_ok=True)
    (directory / "serviceaccount" / "token").write_text(token)
    (directory / "serviceaccount" / "namespace").write_text(namespace)
    (directory / "serviceaccount" / "ca.crt").write_bytes(ca)
    if irsa_token is not None:
        (directory / "irsa").mkdir(exist_ok=True)
        (directory / "irsa" / "token").write_text(irsa_token)
    for path in [directory, *directory.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return directory


class PodmanPod:
    """One pod played by podman, taken down by stop()."""

    def __init__(self, manifest: dict, workdir: Path) -> None:
        self.name = manifest["metadata"]["name"]
        self.containers = [f"{self.name}-{container['name']}" for container in manifest["spec"]["containers"]]
        self.path = workdir / f"pod-{self.name}.yaml"
        self.path.write_text(yaml.safe_dump(manifest))
        self.started = 0.0

    def play(self) -> "PodmanPod":
        self.started = time.monotonic()
        podman("kube", "play", "--replace", str(self.path))
        return self

    def logs(self, container: int = 0) -> str:
        """What the container wrote, stdout and stderr (podman gives them back on its own two)."""
        result = podman("logs", self.containers[container], check=False)
        return result.stdout + result.stderr

    def exit_code(self, timeout: float, container: int = 0) -> int | None:
        """The container's exit code once it has exited; None if it still runs after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = podman("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", self.containers[container],
                           check=False).stdout.split()
            if state and state[0] in ("exited", "stopped"):
                return int(state[1])
            time.sleep(0.5)
        return None

    def stop(self) -> None:
        podman("kube", "down", str(self.path), check=False)


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    environment = {**os.environ, "CONTAINERS_CONF": os.environ.get("CONTAINERS_CONF", str(CONTAINERS_CONF))}
    result = subprocess.run(["podman", *args], capture_output=True, text=True, env=environment, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result
