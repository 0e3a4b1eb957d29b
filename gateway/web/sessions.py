"""Logins and sessions of the status page: who may operate the breaker and the tariff.

A login with the configured `web.username` / `web.password` opens a session: a random token in an HttpOnly,
SameSite=Strict cookie, and a second random token, the CSRF token, that every form of the page carries and every
POST must send back (a synchronizer token: another site can make a browser send the cookie, never read the token).
Sessions live in memory (a restart logs everyone out), expire after `IDLE_S` without use, and are at most
`MAX_SESSIONS` (the oldest goes first). Time comes in as an argument (monotonic seconds): nothing here reads a clock.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from pydantic import SecretStr

__all__ = ["COOKIE", "Session", "Sessions"]

COOKIE = "omnipower_session"
IDLE_S = 12 * 3600.0
MAX_SESSIONS = 64


@dataclass(slots=True)
class Session:
    token: str
    csrf: str
    username: str
    last_used: float


class Sessions:
    def __init__(self, username: str | None, password: SecretStr | None) -> None:
        self._username = username
        self._password = password
        self._by_token: dict[str, Session] = {}

    @property
    def read_only(self) -> bool:
        """No credentials configured: nobody can log in, so nothing can be operated from the page."""
        return self._username is None or self._password is None

    def check(self, username: str, password: str) -> bool:
        """Whether the credentials are the configured ones; compared in constant time, both always."""
        if self._username is None or self._password is None:
            return False
        user_ok = hmac.compare_digest(username.encode(), self._username.encode())
        password_ok = hmac.compare_digest(password.encode(), self._password.get_secret_value().encode())
        return user_ok and password_ok

    def open(self, username: str, now: float) -> Session:
        self._expire(now)
        while len(self._by_token) >= MAX_SESSIONS:
            oldest = min(self._by_token.values(), key=lambda s: s.last_used)
            del self._by_token[oldest.token]
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), username, now)
        self._by_token[session.token] = session
        return session

    def find(self, cookie_header: str | None, now: float) -> Session | None:
        """The live session whose token the Cookie header carries (and it is used now), or None."""
        self._expire(now)
        token = cookie_value(cookie_header, COOKIE)
        session = self._by_token.get(token) if token else None
        if session is not None:
            session.last_used = now
        return session

    def close(self, session: Session) -> None:
        self._by_token.pop(session.token, None)

    def _expire(self, now: float) -> None:
        for token in [t for t, s in self._by_token.items() if now - s.last_used > IDLE_S]:
            del self._by_token[token]


def csrf_ok(session: Session, sent: str | None) -> bool:
    return sent is not None and hmac.compare_digest(sent.encode(), session.csrf.encode())


def cookie_value(header: str | None, name: str) -> str | None:
    """The value of cookie `name` in a Cookie header (RFC 6265 §5.4), or None."""
    for part in (header or "").split(";"):
        key, eq, value = part.strip().partition("=")
        if eq and key == name:
            return value.strip('"')
    return None
