"""ID tokens that signed in, and the workbench session each one opened.

Streamlit keeps the ID token of a single sign-on in its identity cookie for
30 days. The sign-in page uses the token once, to open a workbench session,
and afterwards only as a handle that finds that session again after a reload
of the page. Tokens are stored by SHA-256 digest, in the memory of the
server process.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

# Every token that signed in stays recorded while its session may live and,
# after that, until it has expired, so it cannot open a second session. The
# oldest entries go first when the limit is reached.
MAX_RECORDED_TOKENS = 50_000


@dataclass
class TokenUse:
    """Record of one ID token: the workbench session it opened, while that lives.

    `session_token` is None once the session ended or when the token was
    rejected. `expires_at` is the token's `exp` plus the allowed clock leeway,
    in seconds since the epoch. After that time the entry may be dropped, but
    only while no session is attached.
    """

    session_token: str | None
    expires_at: float


def token_digest(id_token: str) -> str:
    return hashlib.sha256(id_token.encode("utf-8")).hexdigest()


class SignInTokens:
    """The ID tokens of this server process that were used to sign in.

    Thread-safe: every browser session of the server shares one instance.
    NOTE: the record lives in process memory. After a restart, an identity
    cookie whose ID token has not expired yet signs in once more, and a
    second server process does not know the tokens of the first.
    """

    def __init__(self, max_tokens: int = MAX_RECORDED_TOKENS) -> None:
        self._uses: OrderedDict[str, TokenUse] = OrderedDict()
        self._max_tokens = max_tokens
        self._lock = threading.Lock()

    def claim(self, id_token: str, expires_at: float) -> bool:
        """Record the token as used. Return False if it was used before."""
        digest = token_digest(id_token)
        with self._lock:
            if digest in self._uses:
                return False
            self._drop_expired(time.time())
            self._uses[digest] = TokenUse(None, expires_at)
            while len(self._uses) > self._max_tokens:
                self._uses.popitem(last=False)
            return True

    def lookup(self, id_token: str) -> TokenUse | None:
        """Return what the token did, or None for a token never used here."""
        with self._lock:
            use = self._uses.get(token_digest(id_token))
            return None if use is None else TokenUse(use.session_token, use.expires_at)

    def attach(self, id_token: str, session_token: str) -> None:
        """Attach the workbench session that a claimed token opened."""
        with self._lock:
            use = self._uses.get(token_digest(id_token))
            if use is not None:
                use.session_token = session_token

    def detach(self, id_token: str) -> None:
        """Forget the token's session, which has ended. The token stays used."""
        with self._lock:
            use = self._uses.get(token_digest(id_token))
            if use is not None:
                use.session_token = None

    def __len__(self) -> int:
        with self._lock:
            return len(self._uses)

    def _drop_expired(self, now: float) -> None:
        expired = [
            digest
            for digest, use in self._uses.items()
            if use.session_token is None and use.expires_at < now
        ]
        for digest in expired:
            del self._uses[digest]
