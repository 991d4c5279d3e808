"""etcd and kube-apiserver on free loopback ports, RBAC on, with an admin kubeconfig.

Binaries are found the envtest way: $KUBEBUILDER_ASSETS, else the project's
versioned cache, filled by scripts/control-plane-binaries.
"""

import base64
import os
import secrets
import subprocess
from contextlib import ExitStack
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from agreement_operator.sandbox import certificates
from agreement_operator.sandbox.processes import Child, StartupFailed, eventually, free_port, http_get

REQUIRED = ("kube-apiserver", "etcd", "kubectl")
# Services' addresses: the first is the `kubernetes` Service, the apiserver's address for pods.
SERVICE_RANGE, SERVICE_ADDRESS = "10.0.0.0/24", "10.0.0.1"
# What marks a checkout of the agreement-operator repository, which the sandbox runs from.
_CHECKOUT_MARKERS = ("crds/agreementmetrics.yaml", "scripts/control-plane-binaries", "examples")


@cache
def repository() -> Path:
    """The checkout this sandbox belongs to (it is development tooling, not part of the operator image)."""
    for folder in Path(__file__).resolve().parents:
        if all((folder / marker).exists() for marker in _CHECKOUT_MARKERS):
            return folder
    raise StartupFailed(
        "the sandbox runs from a checkout of the agreement-operator repository (it needs crds/, examples/ and "
        "scripts/control-plane-binaries); clone it and run `make demo` there"
    )


def binaries_dir() -> Path:
    """Where kube-apiserver, etcd and kubectl are; builds them if needed (minutes, once)."""
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if assets and all((Path(assets) / name).exists() for name in REQUIRED):
        return Path(assets)
    return setup_script("control-plane-binaries")


def setup_script(name: str) -> Path:
    """Run scripts/`name`, which provides something cached outside the repository (building it the first
    time) and prints its path last."""
    script = repository() / "scripts" / name
    result = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise StartupFailed(f"{script.name} failed (exit {result.returncode}): {result.stderr[-1500:].strip()}")
    return Path(result.stdout.strip().splitlines()[-1])


class KubectlFailed(RuntimeError):
    """kubectl exited non-zero; the message has its stderr."""


@dataclass
class ControlPlane:
    url: str
    kubeconfig: Path
    token: str
    binaries: Path
    audit_log: Path | None = None  # one JSON line per write (create, update, patch, delete) the apiserver served
    ca: Path | None = None  # the CA of the apiserver's serving certificate

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [str(self.binaries / "kubectl"), "--kubeconfig", str(self.kubeconfig), *args],
            input=input, capture_output=True, text=True, check=False,
        )
        if check and result.returncode != 0:
            raise KubectlFailed(f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
        return result

    def apply_crds(self, source: Path, timeout: float = 60) -> None:
        """Apply the CRDs of a file or folder (server-side: large ones too) and wait until each is Established.
        Right after a create a CRD's status has no conditions yet, which `kubectl wait` refuses ("accessor
        error") instead of waiting on, so it is asked again until the time is up."""
        self.kubectl("apply", "--server-side", "-f", str(source))
        waited = ["wait", "--for=condition=Established", "--timeout=10s", "-f", str(source)]
        eventually(lambda: self.kubectl(*waited, check=False).returncode == 0, timeout,
                   f"the CRDs of {source} to be Established")

    def as_service_account(self, namespace: str, account: str, folder: Path) -> "ControlPlane":
        """kubectl and a kubeconfig (in `folder`) that act as a ServiceAccount, with a token of its own."""
        token = self.kubectl("create", "token", account, "-n", namespace, "--duration=24h").stdout.strip()
        kubeconfig = yaml.safe_load(self.kubeconfig.read_text())
        kubeconfig["users"][0]["user"] = {"token": token}
        path = folder / f"kubeconfig-{namespace}-{account}"
        path.write_text(yaml.safe_dump(kubeconfig))
        return ControlPlane(url=self.url, kubeconfig=path, token=token, binaries=self.binaries)

    def container_environment(self, namespace: str, deployment: str) -> dict[str, str]:
        """The environment of a Deployment's first container as the kubelet gives it: plain values, and
        Secrets' keys read (the apiserver leaves out empty values)."""
        found = yaml.safe_load(self.kubectl("get", "deployment", deployment, "-n", namespace, "-o", "yaml").stdout)
        environment = {}
        for item in found["spec"]["template"]["spec"]["containers"][0].get("env", []):
            if "valueFrom" not in item:
                environment[item["name"]] = item.get("value", "")
                continue
            ref = item["valueFrom"]["secretKeyRef"]
            encoded = self.kubectl("get", "secret", ref["name"], "-n", namespace, "-o",
                                   f"jsonpath={{.data.{ref['key']}}}").stdout
            environment[item["name"]] = base64.b64decode(encoded).decode()
        return environment

    def helm(self, *args: str) -> subprocess.CompletedProcess:
        """helm against this apiserver, with its cache and configuration beside the kubeconfig."""
        home = self.kubeconfig.parent / "helm-home"
        env = {**os.environ, "HELM_CACHE_HOME": str(home / "cache"), "HELM_CONFIG_HOME": str(home / "config"),
               "HELM_DATA_HOME": str(home / "data")}
        return subprocess.run([str(self.binaries / "helm"), "--kubeconfig", str(self.kubeconfig), *args],
                              capture_output=True, text=True, env=env, check=False)


def start(workdir: Path, stack: ExitStack, binaries: Path | None = None, address: str = "127.0.0.1",
          service_accounts: bool = False) -> ControlPlane:
    """Start etcd and kube-apiserver; `stack` stops them. `address`: where the apiserver answers (a real
    node's bridge: pods reach it there). `service_accounts`: admit pods with their ServiceAccount's token
    (a node's controller-manager makes the accounts; without one, no pod could be admitted)."""
    binaries = binaries or binaries_dir()
    etcd_dir, cert_dir = workdir / "etcd", workdir / "certs"
    cert_dir.mkdir(parents=True)
    etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
    etcd = Child("etcd", [
        str(binaries / "etcd"), "--data-dir", str(etcd_dir),
        "--listen-client-urls", f"http://127.0.0.1:{etcd_port}",
        "--advertise-client-urls", f"http://127.0.0.1:{etcd_port}",
        "--listen-peer-urls", f"http://127.0.0.1:{peer_port}",
        "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_port}",
        "--initial-cluster", f"default=http://127.0.0.1:{peer_port}",
        "--unsafe-no-fsync",  # a throwaway store: durability costs time and buys nothing
    ], workdir / "etcd.log")
    stack.callback(etcd.stop)
    etcd.wait_until(lambda: http_get(f"http://127.0.0.1:{etcd_port}/health") is not None, 60, "healthy")

    token = secrets.token_hex(16)
    (workdir / "tokens.csv").write_text(f'{token},admin,admin-uid,"system:masters"\n')
    certificates.service_account_keys(cert_dir)
    ca, serving, serving_key = certificates.serving_certificate(cert_dir, (address, SERVICE_ADDRESS))
    (workdir / "audit-policy.yaml").write_text(_AUDIT_WRITES)
    apiserver = Child("kube-apiserver", [
        str(binaries / "kube-apiserver"),
        "--audit-policy-file", str(workdir / "audit-policy.yaml"), "--audit-log-path", str(workdir / "audit.log"),
        "--etcd-servers", f"http://127.0.0.1:{etcd_port}",
        "--bind-address", address, "--secure-port", str(api_port),
        *([] if address == "127.0.0.1" else ["--advertise-address", address]),
        "--tls-cert-file", str(serving), "--tls-private-key-file", str(serving_key),
        "--authorization-mode", "RBAC",
        "--token-auth-file", str(workdir / "tokens.csv"),
        "--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
        "--service-account-key-file", str(cert_dir / "sa.pub"),
        "--service-account-signing-key-file", str(cert_dir / "sa.key"),
        "--service-cluster-ip-range", SERVICE_RANGE,
        "--kubelet-preferred-address-types", "InternalIP",  # a node's name resolves nowhere
        *([] if service_accounts else ["--disable-admission-plugins", "ServiceAccount"]),
    ], workdir / "kube-apiserver.log")
    stack.callback(apiserver.stop)
    url = f"https://{address}:{api_port}"
    apiserver.wait_until(lambda: http_get(f"{url}/readyz", token) == "ok", 120, "ready")
    kubeconfig = workdir / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(_kubeconfig(url, token, ca)))
    return ControlPlane(url=url, kubeconfig=kubeconfig, token=token, binaries=binaries,
                        audit_log=workdir / "audit.log", ca=ca)


# Writes only, at the Metadata level: who changed what (benchmarks count the operator's writes).
_AUDIT_WRITES = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
    verbs: ["create", "update", "patch", "delete", "deletecollection"]
  - level: None
"""


def _kubeconfig(url: str, token: str, ca: Path) -> dict:
    authority = base64.b64encode(ca.read_bytes()).decode()
    return {
        "apiVersion": "v1", "kind": "Config", "current-context": "sandbox",
        "clusters": [{"name": "sandbox", "cluster": {"server": url, "certificate-authority-data": authority}}],
        "users": [{"name": "admin", "user": {"token": token}}],
        "contexts": [{"name": "sandbox", "context": {"cluster": "sandbox", "user": "admin", "namespace": "default"}}],
    }
