"""One real Kubernetes node beside the sandbox's control plane: containerd, the kubelet, the scheduler,
the controller-manager, kube-proxy, the CNI bridge and CoreDNS (docs/node.md).

The binaries come from scripts/node-binaries (built from Go modules, cached by version). Everything
lives in the sandbox's folder (containerd's root, state and socket, the kubelet's root, the CNI
configuration) except what only the host can hold: the bridge, the pods' network namespaces,
kube-proxy's iptables rules and the cgroups; node_network.py and `_remove_cgroups` undo those.
"""

import json
import os
import shutil
import subprocess
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import yaml

from agreement_operator.sandbox import oci_image
from agreement_operator.sandbox.control_plane import ControlPlane, repository, setup_script
from agreement_operator.sandbox.node_network import NodeNetwork
from agreement_operator.sandbox.processes import Child, StartupFailed, free_port

NODE_NAME = "sandbox-node"
PAUSE_IMAGE = "localhost/sandbox/pause:1"
COREDNS_IMAGE = "localhost/sandbox/coredns:1"
DNS_ADDRESS = "10.0.0.10"
RUNC = "/usr/sbin/runc"
CGROUP_ROOT = Path("/sys/fs/cgroup")


def unavailable() -> str | None:
    """Why a node cannot run on this machine (one line), or None."""
    if os.geteuid() != 0:
        return "a node needs root (containerd, the bridge and iptables)"
    for tool in ("ip", "iptables", "ip6tables", "iptables-save"):
        if shutil.which(tool) is None:
            return f"a node needs {tool} (Debian: apt-get install iproute2 iptables)"
    if not Path(RUNC).exists():
        return f"a node needs runc at {RUNC} (Debian: apt-get install runc)"
    if not (CGROUP_ROOT / "memory").is_dir() and not (CGROUP_ROOT / "cgroup.controllers").exists():
        return f"a node needs the memory cgroup, and {CGROUP_ROOT} has neither v1's memory/ nor v2"
    return None


@dataclass
class Node:
    network: NodeNetwork
    binaries: Path
    socket: Path
    workdir: Path
    ready_seconds: float = 0.0  # from starting the kubelet to the node's Ready

    def ctr(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([str(self.binaries / "ctr"), "--address", str(self.socket), "-n", "k8s.io", *args],
                                capture_output=True, text=True, check=False)
        if check and result.returncode != 0:
            raise StartupFailed(f"ctr {' '.join(args)} failed: {result.stderr.strip()}")
        return result

    def import_image(self, tarball: Path) -> None:
        self.ctr("images", "import", str(tarball))


def start(workdir: Path, stack: ExitStack, plane: ControlPlane, network: NodeNetwork) -> Node:
    """The node, Ready, with CoreDNS answering; `stack` takes it all down again."""
    binaries = setup_script("node-binaries")
    root = workdir / "node"
    for folder in ("cni/net.d", "cni/ipam", "kubelet", "containerd"):
        (root / folder).mkdir(parents=True)
    (root / "cni/net.d/10-sandbox.conflist").write_text(json.dumps(network.cni_config(root / "cni/ipam")))
    # containerd's socket path must stay under the 108 bytes of a unix socket's address.
    socket = Path(f"/run/agreement-sandbox-{network.bridge}.sock")
    node = Node(network, binaries, socket, root)
    path = f"{binaries}:{os.environ.get('PATH', os.defpath)}"
    # `stack` runs its callbacks last first: these run after every process below has stopped.
    stack.callback(remove_leftovers, node)

    (root / "containerd.toml").write_text(_containerd_config(root, socket, binaries))
    containerd = Child("containerd", [str(binaries / "containerd"), "--config", str(root / "containerd.toml")],
                       workdir / "containerd.log", env={**os.environ, "PATH": path})
    stack.callback(containerd.stop)
    stack.callback(_kill_containers, node)
    containerd.wait_until(lambda: node.ctr("version", check=False).returncode == 0, 60, "serving")
    images = root / "images"
    images.mkdir()
    node.import_image(oci_image.scratch_image(images / "pause.tar", PAUSE_IMAGE,
                                              {"/pause": _pause_binary(binaries)}, ["/pause"]))
    node.import_image(oci_image.scratch_image(images / "coredns.tar", COREDNS_IMAGE,
                                              {"/coredns": binaries / "coredns"}, ["/coredns"]))

    kubeconfig = str(plane.kubeconfig)
    (root / "kubelet.yaml").write_text(yaml.safe_dump(_kubelet_config(node)))
    kubelet = Child("kubelet", [
        str(binaries / "kubelet"), "--config", str(root / "kubelet.yaml"), "--kubeconfig", kubeconfig,
        "--root-dir", str(root / "kubelet"), "--cert-dir", str(root / "kubelet-pki"),
        "--hostname-override", NODE_NAME, "--node-ip", network.gateway,
    ], workdir / "kubelet.log", env={**os.environ, "PATH": path})
    stack.callback(kubelet.stop, 30.0)
    started = time.monotonic()
    for name, argv in (
        ("kube-scheduler", ["--kubeconfig", kubeconfig, "--leader-elect=false", "--bind-address", "127.0.0.1",
                            "--secure-port", str(free_port())]),
        ("kube-controller-manager", [
            "--kubeconfig", kubeconfig, "--leader-elect=false", "--bind-address", "127.0.0.1",
            "--secure-port", str(free_port()), "--use-service-account-credentials",
            "--service-account-private-key-file", str(workdir / "certs" / "sa.key"),
            "--root-ca-file", str(plane.ca)]),
    ):
        child = Child(name, [str(binaries / name), *argv], workdir / f"{name}.log")
        stack.callback(child.stop)
    (root / "kube-proxy.yaml").write_text(yaml.safe_dump(_kube_proxy_config(network, kubeconfig)))
    proxy = Child("kube-proxy", [str(binaries / "kube-proxy"), "--config", str(root / "kube-proxy.yaml")],
                  workdir / "kube-proxy.log")
    stack.callback(proxy.stop)
    stack.callback(_delete_pods, node, plane)  # first of all, while the kubelet can still stop them
    kubelet.wait_until(lambda: _node_ready(plane), 120, "Ready")
    node.ready_seconds = time.monotonic() - started
    plane.kubectl("apply", "-f", "-", input=_coredns_manifests())
    plane.kubectl("-n", "kube-system", "rollout", "status", "deployment/coredns", "--timeout=120s")
    return node


def _pause_binary(binaries: Path) -> Path:
    return next(binaries.glob("pause-*"))


def _node_ready(plane: ControlPlane) -> bool:
    result = plane.kubectl("get", "node", NODE_NAME, "-o",
                           "jsonpath={.status.conditions[?(@.type=='Ready')].status}", check=False)
    return result.stdout.strip() == "True"


def _containerd_config(root: Path, socket: Path, binaries: Path) -> str:
    cri = "plugins.'io.containerd.cri.v1.runtime'"
    return f"""version = 3
root = "{root / 'containerd/root'}"
state = "{root / 'containerd/state'}"
[grpc]
  address = "{socket}"
[ttrpc]
  address = "{socket}.ttrpc"
[{cri}]
  # Root here lacks CAP_SYS_RESOURCE: runc could not lower the kubelet's oom_score_adj, and every
  # pod sandbox would fail with "can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
[{cri}.cni]
  bin_dirs = ["{binaries / 'cni'}"]
  conf_dir = "{root / 'cni/net.d'}"
[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[{cri}.containerd.runtimes.runc.options]
  BinaryName = "{RUNC}"
[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = "{PAUSE_IMAGE}"
"""


def _kubelet_config(node: Node) -> dict:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
        # This machine has cgroup v1, which kubelet 1.36 refuses unless told otherwise.
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "containerRuntimeEndpoint": f"unix://{node.socket}",
        "address": node.network.gateway, "port": free_port(), "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1", "healthzPort": free_port(),
        # Only the apiserver reaches the kubelet (logs, exec, port-forward), on the sandbox's bridge.
        "authentication": {"anonymous": {"enabled": True}, "webhook": {"enabled": False}},
        "authorization": {"mode": "AlwaysAllow"},
        "clusterDNS": [DNS_ADDRESS], "clusterDomain": "cluster.local",
        "resolvConf": str(_empty_resolv_conf(node.workdir)),
        "failSwapOn": False,
        # A sandbox on a developer's disk: never evict for disk space, never collect its imported images.
        "evictionHard": {"memory.available": "50Mi", "nodefs.available": "0%", "imagefs.available": "0%"},
        "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
        "serializeImagePulls": False,
    }


def _empty_resolv_conf(root: Path) -> Path:
    """Pods ask CoreDNS; there is nothing upstream to ask (no route leaves the machine)."""
    path = root / "resolv.conf"
    path.write_text("options ndots:1\n")
    return path


def _kube_proxy_config(network: NodeNetwork, kubeconfig: str) -> dict:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
        "mode": "iptables", "clusterCIDR": str(network.subnet), "hostnameOverride": NODE_NAME,
        "clientConnection": {"kubeconfig": kubeconfig},
        "bindAddress": network.gateway,
        "healthzBindAddress": f"127.0.0.1:{free_port()}", "metricsBindAddress": f"127.0.0.1:{free_port()}",
        # Leave the host's conntrack table as it is.
        "conntrack": {"maxPerCore": 0},
    }


def _coredns_manifests() -> str:
    return (repository() / "tools" / "node" / "coredns.yaml").read_text().replace("{{image}}", COREDNS_IMAGE) \
        .replace("{{address}}", DNS_ADDRESS)


def _delete_pods(node: Node, plane: ControlPlane) -> None:
    plane.kubectl("delete", "pods", "--all", "-A", "--grace-period=5", "--wait=false", check=False)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and node.ctr("tasks", "ls", "-q", check=False).stdout.strip():
        time.sleep(0.5)


def _kill_containers(node: Node) -> None:
    """What the kubelet did not stop in time (it has stopped by now)."""
    for task in node.ctr("tasks", "ls", "-q", check=False).stdout.split():
        node.ctr("tasks", "kill", "-s", "SIGKILL", task, check=False)
        node.ctr("tasks", "delete", "-f", task, check=False)


def remove_leftovers(node: Node) -> None:
    """After every process stopped: containerd's shims, the mounts under the node's folder, the cgroups
    (the network is its creator's to remove: see NodeNetwork.remove)."""
    for pid in shims(node.socket):
        os.kill(pid, 9)
    for mount in reversed(mounts_under(node.workdir)):
        subprocess.run(["umount", "-l", mount], capture_output=True, check=False)
    _remove_cgroups()


def mounts_under(folder: Path) -> list[str]:
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point.startswith(str(folder)):
            found.append(point)
    return found


def _remove_cgroups() -> None:
    for hierarchy in CGROUP_ROOT.iterdir():
        kubepods = hierarchy / "kubepods"
        if kubepods.is_dir():
            for folder in sorted((p for p in kubepods.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                folder.rmdir()
            kubepods.rmdir()


def shims(socket: Path) -> list[int]:
    """containerd's shims for this node still running (they outlive containerd by design)."""
    found = []
    for status in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = status.read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"containerd-shim-runc-v2") and str(socket).encode() in b" ".join(argv):
            found.append(int(status.parent.name))
    return found
