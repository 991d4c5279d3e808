"""One real node (sandbox/node.py): containerd, the kubelet, the scheduler, the controller-manager,
kube-proxy, the CNI bridge and CoreDNS, started beside the control plane and taken down again without
a trace. Under CI=true a machine that cannot run a node fails this test; elsewhere it is skipped."""

import os
import socket
import struct
from pathlib import Path

import pytest

from agreement_operator.sandbox import node
from agreement_operator.sandbox.control_plane import SERVICE_ADDRESS
from agreement_operator.sandbox.session import sandbox


@pytest.fixture
def node_machine():
    if reason := node.unavailable():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI requires the node tier, but {reason}")
        pytest.skip(reason)


def dns_a_record(server: str, name: str) -> list[str]:
    """The addresses `server` answers for `name` (one UDP query, as a pod's resolver asks)."""
    query = struct.pack(">HHHHHH", 0x5A17, 0x0100, 1, 0, 0, 0)
    query += b"".join(bytes([len(label)]) + label.encode() for label in name.split(".")) + b"\0"
    query += struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(5)
        client.sendto(query, (server, 53))
        answer = client.recv(512)
    count = struct.unpack(">H", answer[6:8])[0]
    offset, addresses = len(query), []
    for _ in range(count):  # each answer: its name, then type, class, ttl, data length and data
        offset = _past_name(answer, offset)
        kind, = struct.unpack(">H", answer[offset:offset + 2])
        length, = struct.unpack(">H", answer[offset + 8:offset + 10])
        if kind == 1:
            addresses.append(socket.inet_ntoa(answer[offset + 10:offset + 10 + length]))
        offset += 10 + length
    return addresses


def _past_name(message: bytes, offset: int) -> int:
    while message[offset] != 0:
        if message[offset] >= 0xC0:  # a pointer to a name earlier in the message ends the name
            return offset + 2
        offset += message[offset] + 1
    return offset + 1


def test_a_real_node_runs_the_cluster_and_leaves_nothing_behind(control_plane_binaries, node_machine):
    with sandbox(with_operator=False, binaries=control_plane_binaries, local_label_studio=True,
                 with_node=True) as box:
        assert box.node is not None
        plane, network = box.control_plane, box.node.network
        nodes = plane.kubectl("get", "nodes", "-o", "jsonpath={.items[*].metadata.name}").stdout.split()
        assert nodes == [node.NODE_NAME]
        # The scheduler placed CoreDNS's pod, the controller-manager made it from its Deployment, the
        # kubelet ran it through containerd, on the bridge, and found it ready with its readiness probe.
        pod = plane.kubectl("-n", "kube-system", "get", "pods", "-l", "k8s-app=kube-dns", "-o",
                            "jsonpath={.items[0].status.podIP} {.items[0].status.containerStatuses[0].ready}").stdout
        address, ready = pod.split()
        assert ready == "true" and address.startswith(str(network.subnet).rsplit(".", 2)[0])
        # kube-proxy's rules take the Service's address to that pod; CoreDNS reads Services from the apiserver.
        assert dns_a_record(node.DNS_ADDRESS, "kubernetes.default.svc.cluster.local") == [SERVICE_ADDRESS]
        # The apiserver reaches the kubelet for a pod's logs.
        assert "CoreDNS-1.15.0" in plane.kubectl("-n", "kube-system", "logs", "deployment/coredns").stdout
        socket_path, node_root = box.node.socket, box.node.workdir
        assert node.shims(socket_path), "containerd runs each pod's containers through a shim"
    assert network.leftovers() == []
    assert node.shims(socket_path) == []
    assert node.mounts_under(node_root) == []
    assert not any((hierarchy / "kubepods").exists() for hierarchy in Path("/sys/fs/cgroup").iterdir())
    assert not Path(socket_path).exists()
