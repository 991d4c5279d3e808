"""The tokens of the local Label Studio API server: JSON Web Tokens signed with HS256, as Label Studio's
personal access tokens (refresh) and the access tokens exchanged for them are."""

import base64
import hashlib
import hmac
import json
import secrets
import time


def signed(key: bytes, token_type: str, lifetime: float) -> str:
    header = _b64({"alg": "HS256", "typ": "JWT"})
    claims = _b64({"token_type": token_type, "exp": int(time.time() + lifetime), "jti": secrets.token_hex(16),
                   "user_id": 1})
    signature = hmac.new(key, f"{header}.{claims}".encode(), hashlib.sha256).digest()
    return f"{header}.{claims}.{base64.urlsafe_b64encode(signature).decode().rstrip('=')}"


def valid(key: bytes, token: str, token_type: str) -> bool:
    """Whether `token` was signed with `key`, is of `token_type` and has not expired."""
    try:
        header, claims, signature = token.split(".")
        expected = hmac.new(key, f"{header}.{claims}".encode(), hashlib.sha256).digest()
        given = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
        payload = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    except ValueError:
        return False
    return hmac.compare_digest(expected, given) and payload.get("token_type") == token_type and \
        payload.get("exp", 0) > time.time()


def _b64(value: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")
