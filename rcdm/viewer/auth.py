"""Viewer accounts and sessions: argon2-hashed users in a JSON file, server-side sessions, CSRF tokens.

* Users live in a JSON file (default ``~/.rcdm/viewer_users.json``, mode 0600): ``{"users": {name: {"hash":
  argon2id hash, "created": ISO time, "role": "aggregate" | "analyst"}}}``. ``add_user`` writes it atomically;
  passwords are never stored. A user without ``role`` (files written before roles existed) is ``aggregate``.
* A session is a random id kept in server memory (user, CSRF token, times); the browser holds only that id,
  signed (itsdangerous, with a per-process secret) in an HttpOnly, SameSite=Lax cookie (Secure over https or
  with ``secure_cookies``). Logging out deletes the server-side session, so an old cookie is worthless; a new
  id is issued at login (no session fixation). Sessions end after ``idle_seconds`` without a request and
  after ``max_seconds`` in all. Anonymous sessions (the login form's, for its CSRF token) are kept apart: at most
  ``max_anonymous`` (the least recently used goes first) and only ``anonymous_idle_seconds`` without a request,
  so a flood of login-page requests costs bounded memory and never evicts a logged-in session.
* Every session, also the anonymous one the login form gets, has a CSRF token; every POST must send it back.
* Login throttling and the hash gate are in ``rcdm.viewer.throttle``.
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
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rcdm.errors import UsageError
from rcdm.viewer import missing_extra
from rcdm.viewer.privacy import DEFAULT_ROLE, ROLES

DEFAULT_USERS_FILE = Path("~/.rcdm/viewer_users.json")
"""Where ``rcdm viewer add-user`` writes and ``rcdm viewer`` reads accounts unless ``--users FILE`` is given."""

COOKIE_NAME = "rcdm_session"
USER_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
MIN_PASSWORD_LENGTH = 8


def _hasher():
    try:
        from argon2 import PasswordHasher
    except ImportError:  # pragma: no cover - the viewer extra is missing
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
        bad = sorted(n for n, v in users.items() if v.get("role", DEFAULT_ROLE) not in ROLES)
        if bad:
            raise ValueError(f"unknown role of {', '.join(bad)} (use {' or '.join(ROLES)})")
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"Cannot read the viewer users file {file}: {exc}") from None
    return users


def role_of(users: dict[str, dict[str, str]], name: str) -> str:
    """``name``'s role; ``aggregate`` when the entry has none (least privilege)."""
    return users.get(name, {}).get("role", DEFAULT_ROLE)


def add_user(name: str, password: str, path: str | os.PathLike | None = None, role: str = DEFAULT_ROLE) -> Path:
    """Add or replace ``name`` with an argon2id hash of ``password`` and ``role``; return the users file written."""
    if role not in ROLES:
        raise UsageError(f"Unknown role {role!r}: use {' or '.join(ROLES)}.")
    if not USER_NAME.match(name or ""):
        raise UsageError(f"Invalid user name {name!r}: 1 to 64 letters, digits and . _ @ -")
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise UsageError(f"The password is too short: at least {MIN_PASSWORD_LENGTH} characters.")
    file = users_path(path)
    users = load_users(file)
    users[name] = {"hash": _hasher().hash(password), "role": role,
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
    """One browser's session: who (None before login) with which role, its CSRF token, when it began and was
    last used."""

    sid: str
    user: str | None
    csrf: str
    created: float
    last_seen: float
    role: str = DEFAULT_ROLE

    @property
    def analyst(self) -> bool:
        return self.user is not None and self.role == "analyst"


@dataclass
class SessionStore:
    """Server-side sessions keyed by random ids; cookies carry the id signed with ``secret_key``."""

    secret_key: str
    idle_seconds: int = 8 * 3600
    max_seconds: int = 24 * 3600
    max_sessions: int = 10_000
    max_anonymous: int = 2_000
    anonymous_idle_seconds: int = 15 * 60
    clock: Callable[[], float] = time.time
    _sessions: dict[str, Session] = field(default_factory=dict)
    _anonymous: OrderedDict[str, Session] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _serializer(self):
        from itsdangerous import URLSafeTimedSerializer

        return URLSafeTimedSerializer(self.secret_key, salt="rcdm-viewer-session")

    def new(self, user: str | None = None, role: str = DEFAULT_ROLE) -> Session:
        now = self.clock()
        session = Session(secrets.token_urlsafe(32), user, secrets.token_urlsafe(32), now, now, role)
        with self._lock:
            if user is None:
                self._prune_anonymous(now)
                self._anonymous[session.sid] = session
            else:
                self._prune(now)
                self._sessions[session.sid] = session
        return session

    def _prune_anonymous(self, now: float) -> None:
        """Drop expired anonymous sessions (oldest first, O(expired)) and the least recently used over the cap."""
        while self._anonymous:
            sid, oldest = next(iter(self._anonymous.items()))
            if len(self._anonymous) < self.max_anonymous and not self._expired(oldest, now):
                break
            del self._anonymous[sid]

    def _prune(self, now: float) -> None:
        if len(self._sessions) < self.max_sessions:
            return
        for sid in [sid for sid, s in self._sessions.items() if self._expired(s, now)]:
            del self._sessions[sid]
        while len(self._sessions) >= self.max_sessions:  # the least recently used logged-in session goes
            victim = min(self._sessions.values(), key=lambda s: s.last_seen)
            del self._sessions[victim.sid]

    def _expired(self, session: Session, now: float) -> bool:
        idle = self.idle_seconds if session.user is not None else self.anonymous_idle_seconds
        return now - session.last_seen > idle or now - session.created > self.max_seconds

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
        if not isinstance(sid, str):
            return None
        now = self.clock()
        with self._lock:
            store = self._sessions if sid in self._sessions else self._anonymous
            session = store.get(sid)
            if session is None:
                return None
            if self._expired(session, now):
                del store[sid]
                return None
            session.last_seen = now
            if store is self._anonymous:
                self._anonymous.move_to_end(sid)
            return session

    def login(self, old: Session | None, user: str, role: str = DEFAULT_ROLE) -> Session:
        """A fresh session for ``user``; the anonymous one it replaces is dropped."""
        if old is not None:
            self.end(old)
        return self.new(user, role)

    def end(self, session: Session) -> None:
        with self._lock:
            self._sessions.pop(session.sid, None)
            self._anonymous.pop(session.sid, None)

    @property
    def anonymous(self) -> int:
        return len(self._anonymous)

    def __len__(self) -> int:
        return len(self._sessions) + len(self._anonymous)


def csrf_ok(session: Session | None, token: str | None) -> bool:
    """The form's token equals the session's (constant-time comparison)."""
    return session is not None and bool(token) and hmac.compare_digest(session.csrf, str(token))


__all__ = [
    "COOKIE_NAME",
    "DEFAULT_USERS_FILE",
    "Session",
    "SessionStore",
    "add_user",
    "csrf_ok",
    "load_users",
    "role_of",
    "users_path",
    "verify",
]
