"""The deterministic Lambda zip of a metric: metric.py and agreement_handler.py.

Entries are sorted, timestamps and permissions fixed, and nothing is compressed:
stored entries make the bytes independent of the zlib build, so an operator
upgrade alone never changes a CodeSha256 and never redeploys a function.
"""

import base64
import hashlib
import io
import zipfile
from importlib import resources

HANDLER_MODULE = "agreement_handler"
HANDLER = f"{HANDLER_MODULE}.handler"
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_REGULAR_FILE_0644 = 0o100644 << 16
_UNIX = 3


def wrapper_source() -> bytes:
    return resources.files("agreement_operator.function").joinpath(f"{HANDLER_MODULE}.py").read_bytes()


def build_zip(code: str) -> bytes:
    entries = {"metric.py": code.encode("utf-8"), f"{HANDLER_MODULE}.py": wrapper_source()}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for path in sorted(entries):
            info = zipfile.ZipInfo(path, date_time=_FIXED_TIME)
            info.external_attr = _REGULAR_FILE_0644
            info.create_system = _UNIX
            archive.writestr(info, entries[path])
    return buffer.getvalue()


def code_sha256(zip_bytes: bytes) -> str:
    """Lambda's CodeSha256: base64 of the sha256 digest of the deployment package."""
    return base64.b64encode(hashlib.sha256(zip_bytes).digest()).decode("ascii")
