"""The node's network: a bridge of the sandbox's own for the pods, and everything it changes on the host.

Pods live in network namespaces that containerd's CNI plugins make, joined to this bridge; the
apiserver and the sandbox's AWS answer on the bridge's address, which no other machine can
reach. Forwarding is switched on for Services (kube-proxy rewrites a pod's packet to another
pod on the bridge), and a rule of ours drops whatever a pod sends anywhere but the bridge, so
no route leaves the machine. `remove` undoes all of it, kube-proxy's rules included, and
`leftovers` says what is still there (the tests check it is nothing).
"""

import ipaddress
import secrets
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

NETNS_DIR = Path("/var/run/netns")
IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")
_COMMENT = "agreement-operator sandbox"
_TABLES = ("filter", "nat", "mangle")


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


@dataclass
class NodeNetwork:
    bridge: str
    subnet: ipaddress.IPv4Network
    netns_before: set[str] = field(default_factory=set)
    ip_forward_before: str = "0"

    @property
    def gateway(self) -> str:
        """The bridge's address: the node's IP, and where the apiserver and AWS answer pods."""
        return str(self.subnet.network_address + 1)

    @classmethod
    def create(cls) -> "NodeNetwork":
        suffix = secrets.token_hex(3)
        network = cls(bridge=f"aosb{suffix}", subnet=ipaddress.IPv4Network(f"10.244.{int(suffix[:2], 16)}.0/24"),
                      netns_before=_netns(), ip_forward_before=IP_FORWARD.read_text().strip())
        _run("ip", "link", "add", network.bridge, "type", "bridge")
        _run("ip", "addr", "add", f"{network.gateway}/{network.subnet.prefixlen}", "dev", network.bridge)
        _run("ip", "link", "set", network.bridge, "up")
        IP_FORWARD.write_text("1")
        _run("iptables", "-I", "FORWARD", *network._drop_leaving())
        return network

    def _drop_leaving(self) -> list[str]:
        return ["-i", self.bridge, "!", "-o", self.bridge, "-m", "comment", "--comment", _COMMENT, "-j", "DROP"]

    def cni_config(self, data_dir: Path) -> dict:
        """The CNI network containerd gives each pod: a veth on our bridge, an address from our subnet."""
        return {"cniVersion": "1.0.0", "name": self.bridge, "plugins": [
            {"type": "bridge", "bridge": self.bridge, "isGateway": True, "hairpinMode": True, "ipMasq": False,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": str(self.subnet), "gateway": self.gateway}]],
                      "routes": [{"dst": "0.0.0.0/0"}], "dataDir": str(data_dir)}},
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ]}

    def remove(self) -> None:
        """Undo everything, whatever state the node was left in (each step goes on after a failure).
        kube-proxy's rules are removed here: `kube-proxy --cleanup` leaves chains behind."""
        for command in ("iptables", "ip6tables"):
            for table in _TABLES:
                listing = _listing(command, table)
                chains = _kube_chains(listing)
                for chain in chains:
                    _run(command, "-t", table, "-F", chain, check=False)
                for rule in _rules_jumping_to_kube_chains(listing):
                    _run(command, "-t", table, "-D", *rule, check=False)
                for chain in chains:
                    _run(command, "-t", table, "-X", chain, check=False)
        while _run("iptables", "-D", "FORWARD", *self._drop_leaving(), check=False).returncode == 0:
            pass
        for name in _netns() - self.netns_before:
            _run("ip", "netns", "delete", name, check=False)
        _run("ip", "link", "delete", self.bridge, check=False)
        IP_FORWARD.write_text(self.ip_forward_before)

    def leftovers(self) -> list[str]:
        """What the node left on the host: empty once `remove` has run."""
        found = [f"network namespace {name}" for name in sorted(_netns() - self.netns_before)]
        if _run("ip", "link", "show", self.bridge, check=False).returncode == 0:
            found.append(f"bridge {self.bridge}")
        for command in ("iptables", "ip6tables"):
            for table in _TABLES:
                found += [f"{command} -t {table} chain {chain}" for chain in _kube_chains(_listing(command, table))]
        rules = _run("iptables-save", check=False).stdout
        found += [f"iptables rule: {line}" for line in rules.splitlines() if _COMMENT in line or self.bridge in line]
        if IP_FORWARD.read_text().strip() != self.ip_forward_before:
            found.append("net.ipv4.ip_forward changed")
        return found


def _netns() -> set[str]:
    return {path.name for path in NETNS_DIR.iterdir()} if NETNS_DIR.is_dir() else set()


def _listing(command: str, table: str) -> list[str]:
    return _run(command, "-t", table, "-S", check=False).stdout.splitlines()


def _kube_chains(listing: list[str]) -> list[str]:
    return [line.split()[1] for line in listing if line.startswith("-N KUBE-")]


def _rules_jumping_to_kube_chains(listing: list[str]) -> list[list[str]]:
    rules = []
    for line in listing:
        words = shlex.split(line)
        if words[:1] == ["-A"] and not words[1].startswith("KUBE-") and any(w.startswith("KUBE-") for w in words[2:]):
            rules.append(words[1:])
    return rules
