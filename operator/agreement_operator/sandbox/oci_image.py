"""Single-layer OCI images of static binaries, as tarballs `ctr images import` reads.

No registry answers on the machines this project is tested on, so the node's pause image and
CoreDNS's image are made here, FROM scratch: one layer with the binary (and any files it needs),
a config naming its entrypoint, and an index whose annotation names the image.
"""

import hashlib
import io
import json
import tarfile
from pathlib import Path


def _blob(archive: tarfile.TarFile, data: bytes) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    info = tarfile.TarInfo(f"blobs/sha256/{digest}")
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))
    return {"digest": f"sha256:{digest}", "size": len(data)}


def _layer(files: dict[str, Path | bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as layer:
        for path, source in sorted(files.items()):
            data = source.read_bytes() if isinstance(source, Path) else source
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode = len(data), 0o755
            layer.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def scratch_image(tarball: Path, name: str, files: dict[str, Path | bytes], entrypoint: list[str]) -> Path:
    """Write an OCI image layout to `tarball`: `files` (path in the image: a host file or its bytes) in
    one layer, run as `entrypoint`, imported under `name` (e.g. localhost/sandbox/pause:1)."""
    layer = _layer(files)
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Entrypoint": entrypoint},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(layer).hexdigest()}"]},
    }).encode()
    with tarfile.open(tarball, "w") as archive:
        layer_ref = _blob(archive, layer)
        config_ref = _blob(archive, config)
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config_ref},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", **layer_ref}],
        }).encode()
        manifest_ref = _blob(archive, manifest)
        index = {"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", **manifest_ref,
            "annotations": {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": name},
        }]}
        for path, data in (("oci-layout", b'{"imageLayoutVersion": "1.0.0"}'),
                           ("index.json", json.dumps(index).encode())):
            info = tarfile.TarInfo(path)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return tarball
