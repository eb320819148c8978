"""Viewer accounts and sessions: argon2-hashed users in a JSON file, server-side sessions, CSRF tokens, rate limits.

* Users live in a JSON file (default ``~/.rcdm/viewer_users.json``, mode 0600): ``{"users": {name: {"hash":
  argon2id hash, "created": ISO time}}}``. ``add_user`` writes it atomically; passwords are never stored.
* A session is a random id kept in server memory (user, CSRF token, times); the browser holds only that id,
  signed (itsdangerous, with a per-process secret) in an HttpOnly, SameSite=Lax cookie (Secure over https or
  with ``secure_cookies``). Logging out deletes the server-side session, so an old cookie is worthless; a new
  id is issued at login (no session fixation). Sessions end after ``idle_seconds`` without a request and
  after ``max_seconds`` in all.
* Every session, also the anonymous one the login form gets, has a CSRF token; every POST must send it back.
* ``RateLimiter`` refuses logins after repeated failures, per client address and per user name.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import os
import re
import secrets
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from rcdm.errors import UsageError

DEFAULT_USERS_FILE = Path("~/.rcdm/viewer_users.json")
"""Where ``rcdm viewer add-user`` writes and ``rcdm viewer`` reads accounts unless ``--users FILE`` is given."""

COOKIE_NAME = "rcdm_session"
USER_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
MIN_PASSWORD_LENGTH = 8


def _hasher():
    try:
        from argon2 import PasswordHasher
    except ImportError:  # pragma: no cover - the viewer extra is missing
        from rcdm.viewer import missing_extra

        raise missing_extra("argon2-cffi") from None
    return PasswordHasher()  # argon2id, RFC 9106 low-memory profile: 3 passes, 64 MiB


def users_path(path: str | os.PathLike | None = None) -> Path:
    return Path(path).expanduser() if path else DEFAULT_USERS_FILE.expanduser()


def load_users(path: str | os.PathLike | None = None) -> dict[str, dict[str, str]]:
    """name → {"hash", "created"}; an absent file is no users. A malformed file is a UsageError naming it."""
    file = users_path(path)
    if not file.is_file():
        return {}
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        users = data["users"]
        if not isinstance(users, dict) or not all(isinstance(v, dict) and "hash" in v for v in users.values()):
            raise ValueError("each user needs a 'hash'")
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"Cannot read the viewer users file {file}: {exc}") from None
    return users


def add_user(name: str, password: str, path: str | os.PathLike | None = None) -> Path:
    """Add or replace ``name`` with an argon2id hash of ``password``; return the users file written."""
    if not USER_NAME.match(name or ""):
        raise UsageError(f"Invalid user name {name!r}: 1 to 64 letters, digits and . _ @ -")
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise UsageError(f"The password is too short: at least {MIN_PASSWORD_LENGTH} characters.")
    file = users_path(path)
    users = load_users(file)
    users[name] = {"hash": _hasher().hash(password),
                   "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    file.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=".viewer_users.", dir=file.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump({"users": users}, out, indent=2, sort_keys=True)
        os.chmod(temp, 0o600)
        os.replace(temp, file)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return file


_DUMMY_HASH: list[str] = []


def verify(users: dict[str, dict[str, str]], name: str, password: str) -> bool:
    """Whether ``password`` is ``name``'s. An unknown name costs the same hash check (no user enumeration)."""
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

    hasher = _hasher()
    entry = users.get(name or "")
    if entry is None:
        if not _DUMMY_HASH:
            _DUMMY_HASH.append(hasher.hash(secrets.token_hex(16)))
        stored, known = _DUMMY_HASH[0], False
    else:
        stored, known = entry["hash"], True
    try:
        hasher.verify(stored, password or "")
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return known


# --------------------------------------------------------------------------------------------------------------
# Sessions


@dataclass
class Session:
    """One browser's session: who (None before login), its CSRF token, when it began and was last used."""

    sid: str
    user: str | None
    csrf: str
    created: float
    last_seen: float


@dataclass
class SessionStore:
    """Server-side sessions keyed by random ids; cookies carry the id signed with ``secret_key``."""

    secret_key: str
    idle_seconds: int = 8 * 3600
    max_seconds: int = 24 * 3600
    max_sessions: int = 10_000
    _sessions: dict[str, Session] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _serializer(self):
        from itsdangerous import URLSafeTimedSerializer

        return URLSafeTimedSerializer(self.secret_key, salt="rcdm-viewer-session")

    def new(self, user: str | None = None) -> Session:
        now = time.time()
        session = Session(secrets.token_urlsafe(32), user, secrets.token_urlsafe(32), now, now)
        with self._lock:
            self._prune(now)
            self._sessions[session.sid] = session
        return session

    def _prune(self, now: float) -> None:
        dead = [sid for sid, s in self._sessions.items() if self._expired(s, now)]
        for sid in dead:
            del self._sessions[sid]
        while len(self._sessions) >= self.max_sessions:  # oldest anonymous sessions go first
            victim = min(self._sessions.values(), key=lambda s: (s.user is not None, s.last_seen))
            del self._sessions[victim.sid]

    def _expired(self, session: Session, now: float) -> bool:
        return now - session.last_seen > self.idle_seconds or now - session.created > self.max_seconds

    def cookie_value(self, session: Session) -> str:
        return self._serializer().dumps(session.sid)

    def from_cookie(self, value: str | None) -> Session | None:
        """The live session a cookie names, or None (missing, forged, expired or logged out)."""
        if not value:
            return None
        from itsdangerous import BadSignature

        try:
            sid = self._serializer().loads(value, max_age=self.max_seconds)
        except BadSignature:
            return None
        now = time.time()
        with self._lock:
            session = self._sessions.get(sid)
            if session is None:
                return None
            if self._expired(session, now):
                del self._sessions[sid]
                return None
            session.last_seen = now
            return session

    def login(self, old: Session | None, user: str) -> Session:
        """A fresh session for ``user``; the anonymous one it replaces is dropped."""
        if old is not None:
            self.end(old)
        return self.new(user)

    def end(self, session: Session) -> None:
        with self._lock:
            self._sessions.pop(session.sid, None)

    def __len__(self) -> int:
        return len(self._sessions)


def csrf_ok(session: Session | None, token: str | None) -> bool:
    """The form's token equals the session's (constant-time comparison)."""
    return session is not None and bool(token) and hmac.compare_digest(session.csrf, str(token))


# --------------------------------------------------------------------------------------------------------------
# Login rate limiting


@dataclass
class RateLimiter:
    """At most ``per_user`` failed logins per user name and ``per_client`` per client in ``window`` seconds."""

    per_user: int = 5
    per_client: int = 20
    window: float = 900.0
    _failures: dict[str, list[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _recent(self, key: str, now: float) -> list[float]:
        times = [t for t in self._failures.get(key, []) if now - t < self.window]
        if times:
            self._failures[key] = times
        else:
            self._failures.pop(key, None)
        return times

    def blocked(self, client: str, user: str) -> bool:
        now = time.time()
        with self._lock:
            return (len(self._recent(f"user:{user.lower()}", now)) >= self.per_user
                    or len(self._recent(f"client:{client}", now)) >= self.per_client)

    def failed(self, client: str, user: str) -> None:
        now = time.time()
        with self._lock:
            for key in (f"user:{user.lower()}", f"client:{client}"):
                self._failures.setdefault(key, []).append(now)

    def succeeded(self, user: str) -> None:
        with self._lock:
            self._failures.pop(f"user:{user.lower()}", None)


__all__ = [
    "COOKIE_NAME",
    "DEFAULT_USERS_FILE",
    "RateLimiter",
    "Session",
    "SessionStore",
    "add_user",
    "csrf_ok",
    "load_users",
    "users_path",
    "verify",
]
