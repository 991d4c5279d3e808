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


class RetryLevels(logging.Filter):
    """kopf logs every kopf.TemporaryError at ERROR ("Handler ... failed temporarily: ..."), and the operator
    raises one for its normal pacing too: a wait for the quota's turn, for Lambda's Pending state, for a
    restore. The handler that raises one notes the level it deserves (INFO for pacing, WARNING for a failure
    that passes by itself); this filter, on kopf's object logger, gives the record that level. ERROR stays for
    what a person must act on."""

    _MARK = " failed temporarily: "

    def __init__(self) -> None:
        super().__init__()
        self._noted: dict[str, tuple[str, int]] = {}  # uid -> (message, level): at most one per metric

    def note(self, uid: str, message: str, level: int) -> None:
        self._noted[uid] = (message, level)

    def level_of(self, uid: str) -> int:
        """The level noted for the metric's retry, for a retry the operator logs itself (a queued pass's)."""
        noted = self._noted.pop(uid, None)
        return noted[1] if noted else logging.WARNING

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.ERROR or self._MARK not in str(record.msg):
            return True
        uid = (getattr(record, "k8s_ref", None) or {}).get("uid")
        noted = self._noted.pop(uid, None) if uid else None
        if noted is None or not record.getMessage().endswith(noted[0]):
            return True
        record.levelno, record.levelname = noted[1], logging.getLevelName(noted[1])
        return logging.getLogger(record.name).isEnabledFor(noted[1])


RETRY_LEVELS = RetryLevels()


class ClientRetriesAreWarnings(logging.Filter):
    """kopf's API client logs each failed attempt that it will retry ("Request attempt #1/9 failed; will
    retry", an apiserver starting up or briefly away) at ERROR; a retry is a WARNING until kopf gives up
    ("escalating"), which stays an ERROR."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.ERROR and record.name.startswith("kopf._cogs.clients") \
                and "failed; will retry" in str(record.msg):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
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
        handler.addFilter(ClientRetriesAreWarnings())
    logging.getLogger("kopf.objects").addFilter(RETRY_LEVELS)
