"""Which AWS account and region a request to the sandbox's endpoint is for, as AWS decides it: the region from the
signature's credential scope, the account from the access key. moto binds the keys AssumeRole hands out to the
role's account; the proxy learns the same binding from the AssumeRole answers that pass through it, so that it can
keep Lambda's quotas per account and region as Lambda does. Keys it never saw handed out are moto's default
account's (the sandbox's own credentials).
"""

import re
import threading

DEFAULT_ACCOUNT = "123456789012"  # moto's
_SCOPE = re.compile(r"Credential=([A-Za-z0-9]+)/\d{8}/([a-z0-9-]+)/")
_ASSUMED_KEY = re.compile(rb"<AccessKeyId>([A-Za-z0-9]+)</AccessKeyId>")
_ASSUMED_ROLE = re.compile(rb"<Arn>arn:aws[a-z-]*:sts::(\d{12}):assumed-role/")


class Accounts:
    def __init__(self) -> None:
        self._by_key: dict[str, str] = {}
        self._guard = threading.Lock()

    def of(self, authorization: str | None, default_region: str) -> tuple[str, str]:
        """(account, region) of a request with this Authorization header."""
        match = _SCOPE.search(authorization or "")
        if not match:
            return DEFAULT_ACCOUNT, default_region
        with self._guard:
            return self._by_key.get(match.group(1), DEFAULT_ACCOUNT), match.group(2)

    def learn(self, answer: bytes) -> None:
        """Remember the account of the key an AssumeRole answer hands out (any other answer is ignored)."""
        if b"<AssumeRoleResult>" not in answer:
            return
        key, role = _ASSUMED_KEY.search(answer), _ASSUMED_ROLE.search(answer)
        if key and role:
            with self._guard:
                self._by_key[key.group(1).decode()] = role.group(1).decode()
