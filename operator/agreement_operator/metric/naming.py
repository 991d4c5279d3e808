"""The Lambda function name of a metric: custom-metric-[prefix-]namespace-name, at most 64 characters."""

import hashlib
import re

FUNCTION_PREFIX = "custom-metric-"
MAX_FUNCTION_NAME = 64
TRUNCATED_LENGTH = 55
HASH_CHARS = 8
MAX_PREFIX = 40

_OUTSIDE_LAMBDA_ALPHABET = re.compile(r"[^A-Za-z0-9_-]")
_VALID_PREFIX = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?$")


def function_name(prefix: str | None, namespace: str, name: str) -> str:
    """`custom-metric-[prefix-]namespace-name`, made safe for Lambda and at most 64 chars.

    A name that is too long keeps its first 55 characters and gains the first
    8 hex chars of the sha256 of the whole name, so distinct long names stay distinct.
    """
    parts = [part for part in (prefix, namespace, name) if part]
    full = _OUTSIDE_LAMBDA_ALPHABET.sub("-", FUNCTION_PREFIX + "-".join(parts))
    if len(full) <= MAX_FUNCTION_NAME:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:HASH_CHARS]
    return f"{full[:TRUNCATED_LENGTH]}-{digest}"


def prefix_problem(prefix: str | None) -> str | None:
    """Why `prefix` cannot be part of a function name, or None when it can."""
    if prefix is None or prefix == "":
        return None
    if len(prefix) > MAX_PREFIX:
        return (
            f"spec.prefix is {len(prefix)} characters long; use at most {MAX_PREFIX} "
            "so the namespace and name still fit in Lambda's 64-character function name"
        )
    if not _VALID_PREFIX.match(prefix):
        return (
            f"spec.prefix {prefix!r} cannot form a Lambda function name; use letters, digits, "
            "'-', '_' or '.', starting and ending with a letter or digit"
        )
    return None
