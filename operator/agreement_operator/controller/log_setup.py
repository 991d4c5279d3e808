"""The operator's logging: kopf's format with each metric named, quiet libraries, and no secrets at any level."""

import logging
import re

import kopf

# (pattern, replacement): each keeps the name and drops the secret. botocore's DEBUG output
# holds signed request headers, canonical requests and STS answers (IRSA's AssumeRoleWithWebIdentity).
_SECRETS = [
    (re.compile(r"(x-amz-security-token['\"]?\s*[:=]\s*b?['\"]?)[^\s'\",}]+", re.IGNORECASE), r"\1[redacted]"),
    (re.compile(r"(Credential=)[^/\s'\",]+"), r"\1[redacted]"),
    (re.compile(r"(Signature=)[0-9a-f]+"), r"\1[redacted]"),
    (re.compile(r"(<(SecretAccessKey|SessionToken|AccessKeyId)>)[^<]*"), r"\1[redacted]"),
    (re.compile(r"(['\"](?:SecretAccessKey|SessionToken|AccessKeyId|aws_secret_access_key|aws_session_token|"
                r"aws_access_key_id|access|refresh|token)['\"]\s*:\s*b?['\"])[^'\"]*"), r"\1[redacted]"),
    (re.compile(r"(Authorization['\"]?\s*[:=]\s*b?['\"]?(?:Bearer|Token)\s+)[^\s'\"]+", re.IGNORECASE),
     r"\1[redacted]"),
    (re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), "[redacted]"),
]


def redact(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    """Rewrites each record's message with credentials replaced by [redacted]."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def configure(log_format: str, verbose: bool = False, debug: bool = False, quiet: bool = False) -> None:
    kopf.configure(
        verbose=verbose, debug=debug, quiet=quiet, log_format=kopf.LogFormat[log_format.upper()],
        # None: kopf prefixes text lines with [namespace/name]; JSON lines carry the object as fields.
        log_prefix=None,
    )
    if not debug:
        # --verbose is about the operator's decisions; botocore's wire-level chatter needs --debug.
        for library in ("botocore", "urllib3", "kubernetes"):
            logging.getLogger(library).setLevel(logging.INFO)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactSecrets())
