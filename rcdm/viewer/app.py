"""The viewer's web application (Starlette): thin routes over ``rcdm.viewer.queries``, all behind a login.

``create_app(conn_factory, schema, users_file, secret_key, ...)`` returns an ASGI app. Every page has a JSON twin
(``/overview`` ↔ ``/api/overview``, ...). Access is default-deny: ``AuthMiddleware`` lets through only the login
page and the static files; any other path needs a live session (pages redirect to ``/login``, ``/api/*`` and
the CSV export answer 401 in JSON), and any path outside ``AGGREGATE_PATHS`` needs the ``analyst`` role (403
otherwise); ``aggregate`` users get the aggregate pages through ``rcdm.viewer.privacy`` (small cells hidden).
Every POST must carry the session's CSRF token, and a cross-site ``Origin`` is refused; a ``Host`` outside the
settings' ``allowed_hosts`` gets 400. Database work runs in worker threads on a small pool of read-only
connections; the page aggregates (overview, protocols, combinations) are kept in memory for ``settings.cache_seconds``.
"""

from __future__ import annotations

import math
import queue
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from rcdm._version import __version__
from rcdm.errors import GateFull, RcdmError, UsageError
from rcdm.identifiers import check_identifier, check_schema
from rcdm.report import RULES
from rcdm.viewer import auth, privacy, queries
from rcdm.viewer.settings import ViewerSettings, ViewerTables, client_address, is_https
from rcdm.viewer.throttle import HashGate, LoginThrottle

HERE = Path(__file__).parent
PUBLIC_PATHS = ("/login", "/static/", "/favicon.ico")
"""The only paths served without a session; everything else (pages, JSON, CSV) needs a login."""

AGGREGATE_PATHS = frozenset({"/", "/logout", "/overview", "/protocols", "/combinations", "/api", "/api/overview",
                             "/api/protocols", "/api/combinations"})
"""What an ``aggregate`` user may open (besides the public paths); every other path needs the analyst role."""

SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
                                "frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",  # "no-referrer" makes Chromium send "Origin: null" on form POSTs
    "Cache-Control": "no-store",
}


# --------------------------------------------------------------------------------------------------------------
# Database access: a small pool of connections, and a time-limited cache of the page aggregates


class ConnectionPool:
    """Up to ``size`` connections from ``factory``, lent to one request thread at a time."""

    def __init__(self, factory: Callable[[], Any], size: int = 4) -> None:
        self.factory = factory
        self.size = size
        self._idle: queue.LifoQueue = queue.LifoQueue()
        self._made = 0
        self._lock = threading.Lock()

    @contextmanager
    def connection(self) -> Iterator[Any]:
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            with self._lock:
                make = self._made < self.size
                if make:
                    self._made += 1
            if make:
                try:
                    conn = self.factory()
                except BaseException:
                    with self._lock:
                        self._made -= 1
                    raise
            else:
                conn = self._idle.get()
        try:
            yield conn
        except BaseException:
            self._discard(conn)
            raise
        self._idle.put(conn)

    def _discard(self, conn: Any) -> None:
        with self._lock:
            self._made -= 1
        try:
            conn.close()
        except Exception:  # noqa: BLE001 - a broken connection may not close cleanly
            pass

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return


@dataclass
class TimedCache:
    """Values kept for ``seconds`` (0: no caching); one computation at a time per key."""

    seconds: float
    _values: dict[str, tuple[float, Any]] = field(default_factory=dict)
    _locks: dict[str, threading.Lock] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: str, compute: Callable[[], Any], keep: int = 1024) -> Any:
        """The cached value of ``key``, else ``compute()`` (stored; at most ``keep`` entries, oldest dropped)."""
        if self.seconds <= 0:
            return compute()
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            hit = self._values.get(key)
            if hit is not None and time.monotonic() < hit[0]:
                return hit[1]
            value = compute()
            with self._guard:
                while len(self._values) >= keep:
                    oldest = min(self._values, key=lambda k: self._values[k][0])
                    self._values.pop(oldest)
                    self._locks.pop(oldest, None)
                self._values[key] = (time.monotonic() + self.seconds, value)
            return value


@dataclass
class Viewer:
    """Everything the routes share: where the data is, the pool, the cache, users, sessions and templates."""

    pool: ConnectionPool
    schema: str
    users_file: Path
    sessions: auth.SessionStore
    throttle: LoginThrottle
    gate: HashGate
    cache: TimedCache
    settings: ViewerSettings = field(default_factory=ViewerSettings)
    vocabulary_schema: str | None = None
    cohort_schema: str | None = None
    cohort_table: str = "cohort"
    results_schema: str | None = None
    _source: queries.ViewerSource | None = None

    def source(self, conn: Any) -> queries.ViewerSource:
        if self._source is None:
            self._source = queries.ViewerSource.detect(conn, self.schema, self.vocabulary_schema,
                                                       self.cohort_schema, self.cohort_table, self.results_schema)
        return self._source

    def run(self, work: Callable[[Any, queries.ViewerSource], Any]) -> Any:
        with self.pool.connection() as conn:
            return work(conn, self.source(conn))

    def cached(self, key: str, work: Callable[[Any, queries.ViewerSource], Any]) -> Any:
        return self.cache.get(key, lambda: self.run(work))

    # the page data, one method per page (the routes call these in a worker thread)
    def summary(self) -> dict[str, Any] | None:
        """The stored aggregates of ``rcdm viewer build-summary``, or None when there are none."""
        return self.cached("summary", lambda c, s: queries.read_summary(c, s) if s.has_summary else None)

    def _page_data(self, name: str, work: Callable[[Any, queries.ViewerSource], Any]) -> tuple[Any, str | None]:
        """A page's aggregate and when its summary was built: stored by build-summary, else computed (cached)."""
        stored = self.summary()
        if stored:
            return stored[name], stored["built_at"]
        return self.cached(name, work), None

    def overview(self) -> dict[str, Any]:
        data, built_at = self._page_data("overview", queries.overview)
        return {**data, "summary_built_at": built_at}

    def all_protocols(self) -> dict[str, Any]:
        data, built_at = self._page_data("protocols", lambda c, s: queries.protocols(c, s, top_n=None))
        return {**data, "summary_built_at": built_at}

    def protocols(self, top_n: int = 50) -> dict[str, Any]:
        data = self.all_protocols()
        return {**data, "protocols": data["protocols"][:top_n], "unmapped": data["unmapped"][:top_n]}

    def combinations(self) -> list[dict[str, Any]]:
        return self._page_data("combinations", queries.combinations)[0]

    def search(self, filters: queries.SearchFilters, page: int, page_size: int) -> dict[str, Any]:
        names = queries.concept_names(self.all_protocols())
        stored = self.summary()
        totals = stored.get("search_totals") if stored else None
        key = f"search?{filters.query_string()}&page={page}&page_size={page_size}"
        return self.cache.get(key, lambda: self.run(
            lambda c, s: queries.search(c, s, filters, page, page_size, names, totals)), keep=256)

    def manifest(self, filters: queries.SearchFilters) -> str:
        return self.run(lambda c, s: queries.manifest_csv(queries.manifest_frame(c, s, filters)))

    def visible(self, page: str, analyst: bool) -> Any:
        """``page``'s aggregate (overview, all_protocols, combinations) as a role sees it: as is for analysts,
        with small cells suppressed (``rcdm.viewer.privacy``) for everyone else; both kept in the cache."""
        data = getattr(self, page)()
        if analyst:
            return data
        if page == "combinations":  # in the suppression groups of the overview's modalities and the protocols
            def suppress(rows: Any, min_cell: int) -> Any:
                return privacy.combinations(
                    rows, min_cell,
                    hidden_modalities=privacy.hidden_modalities(self.visible("overview", False)["by_modality"]),
                    hidden_protocols=privacy.hidden_protocols(self.visible("all_protocols", False)))
        else:
            suppress = getattr(privacy, "protocols" if page == "all_protocols" else page)
        return self.cache.get(f"aggregate:{page}", lambda: suppress(data, self.settings.min_cell_count))

    def has_cohort(self) -> bool:
        return self.run(lambda c, s: s.has_cohort)


# --------------------------------------------------------------------------------------------------------------
# Templates and responses


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE / "templates")),
                             autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["count"] = lambda v: "-" if v is None else f"{int(v):,}"
    env.filters["pct"] = lambda v: "-" if v is None else f"{float(v):.2f}"
    env.filters["label"] = lambda v, missing="(unknown)": missing if v in (None, "") else v
    env.globals.update(version=__version__, rules=RULES)
    return env


ENV = _environment()


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    session: auth.Session | None = request.state.session
    html = ENV.get_template(template).render(
        user=session.user if session else None, csrf=session.csrf if session else "",
        analyst=bool(session and session.analyst), min_cell=viewer_of(request).settings.min_cell_count,
        path=request.url.path, **context)
    return HTMLResponse(html, status_code=status_code)


def api(data: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status_code)


def error(request: Request, message: str, status_code: int) -> Response:
    """One error body for every failure: JSON for /api/ and the CSV export, a page otherwise."""
    if _wants_json(request.url.path):
        return api({"error": message, "status": status_code}, status_code)
    return page(request, "error.html.j2", status_code=status_code, message=message, status=status_code)


def _wants_json(path: str) -> bool:
    return path.startswith("/api/") or path == "/api" or path.endswith(".csv")


def viewer_of(request: Request) -> Viewer:
    return request.app.state.viewer


def _set_cookie(request: Request, response: Response, session: auth.Session) -> None:
    viewer = viewer_of(request)
    response.set_cookie(auth.COOKIE_NAME, viewer.sessions.cookie_value(session), max_age=viewer.sessions.max_seconds,
                        path="/", httponly=True, samesite="lax", secure=request.state.https)


def _safe_next(target: str | None) -> str:
    """Only a local path may follow the login (no open redirect to another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


# --------------------------------------------------------------------------------------------------------------
# Middleware: sessions, default-deny access, CSRF, security headers


class AuthMiddleware:
    """Find the request's session; refuse data paths without a login and POSTs without the CSRF token."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        viewer: Viewer = scope["app"].state.viewer
        peer = request.client.host if request.client else None
        request.state.client = client_address(peer, request.headers, viewer.settings)
        request.state.https = https = is_https(request.url.scheme, peer, request.headers, viewer.settings)
        send = _with_security_headers(send, viewer.settings.hsts_seconds if https else 0)
        session = viewer.sessions.from_cookie(request.cookies.get(auth.COOKIE_NAME))
        request.state.session = session
        path = request.url.path
        public = path == "/login" or any(path.startswith(p) for p in PUBLIC_PATHS if p.endswith("/"))
        if not public and (session is None or session.user is None):
            if _wants_json(path):
                response: Response = api({"error": "Log in first.", "status": 401}, 401)
                response.headers["WWW-Authenticate"] = 'Cookie realm="rcdm viewer"'
            else:
                query = urlencode({"next": path + (f"?{request.url.query}" if request.url.query else "")})
                response = RedirectResponse(f"/login?{query}", status_code=303)
            await response(scope, receive, send)
            return
        if not public and path not in AGGREGATE_PATHS and not session.analyst:
            await error(request, "Your account sees aggregate counts only (role aggregate): search, study lists "
                                 "and manifests need the analyst role.", 403)(scope, receive, send)
            return
        if request.method not in ("GET", "HEAD", "OPTIONS") and not path.startswith("/static/"):
            origin = request.headers.get("origin")
            if origin and (origin == "null" or urlsplit(origin).netloc != request.headers.get("host", "")):
                await error(request, "Cross-site request refused.", 403)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _with_security_headers(send: Send, hsts_seconds: int = 0) -> Send:
    """``send`` adding ``SECURITY_HEADERS`` (and HSTS over https) to every response."""
    extra = dict(SECURITY_HEADERS)
    if hsts_seconds:
        extra["Strict-Transport-Security"] = f"max-age={hsts_seconds}; includeSubDomains"

    async def wrapped(message: dict) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            present = {k.lower() for k, _ in headers}
            for name, value in extra.items():
                if name.lower().encode() not in present:
                    headers.append((name.lower().encode(), value.encode()))
            message = {**message, "headers": headers}
        await send(message)

    return wrapped


async def _form_with_csrf(request: Request) -> Any:
    """The POSTed form, or None when its CSRF token is missing or wrong."""
    form = await request.form()
    return form if auth.csrf_ok(request.state.session, form.get("csrf_token")) else None


# --------------------------------------------------------------------------------------------------------------
# Routes (thin: parse, call the Viewer, render)


async def login_form(request: Request) -> Response:
    session = request.state.session
    if session is not None and session.user is not None:
        return RedirectResponse(_safe_next(request.query_params.get("next")), status_code=303)
    fresh = session is None
    if fresh:
        session = viewer_of(request).sessions.new()
        request.state.session = session
    response = page(request, "login.html.j2", next=_safe_next(request.query_params.get("next")), message=None)
    if fresh:
        _set_cookie(request, response, session)
    return response


async def login(request: Request) -> Response:
    viewer = viewer_of(request)
    form = await _form_with_csrf(request)
    if form is None:
        return error(request, "The form expired or was not sent by this site (CSRF check failed): reload the "
                              "login page and try again.", 403)
    name = str(form.get("username", ""))[:64]
    password = str(form.get("password", ""))[:1024]
    client = request.state.client
    next_path = _safe_next(str(form.get("next", "/")))
    decision = viewer.throttle.begin(name, client)
    if not decision.allowed:
        wait = max(1, math.ceil(decision.retry_after))
        response = page(request, "login.html.j2", status_code=429, next=next_path,
                        message=f"Too many failed logins: wait {wait} seconds and try again.")
        response.headers["Retry-After"] = str(wait)
        return response
    ok: bool | None = False
    try:
        async with viewer.gate.slot():
            users = await run_in_threadpool(auth.load_users, viewer.users_file)
            ok = await run_in_threadpool(auth.verify, users, name, password)
    except GateFull:
        ok = None  # not checked: the attempt does not count
        response = page(request, "login.html.j2", status_code=503, next=next_path,
                        message="The server is busy checking other logins: try again in a few seconds.")
        response.headers["Retry-After"] = "2"
        return response
    finally:
        viewer.throttle.end(name, client, ok)
    if not ok:
        return page(request, "login.html.j2", status_code=401, next=next_path,
                    message="Unknown user name or wrong password.")
    session = viewer.sessions.login(request.state.session, name, auth.role_of(users, name))
    response = RedirectResponse(next_path, status_code=303)
    _set_cookie(request, response, session)
    return response


async def logout(request: Request) -> Response:
    if await _form_with_csrf(request) is None:
        return error(request, "CSRF check failed: log out from a page of this site.", 403)
    viewer_of(request).sessions.end(request.state.session)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(auth.COOKIE_NAME, path="/")
    return response


async def home(request: Request) -> Response:
    return page(request, "home.html.j2", schema=viewer_of(request).schema)


async def api_index(request: Request) -> Response:
    session = request.state.session
    endpoints = ["/api/overview", "/api/protocols", "/api/combinations"]
    if session.analyst:
        endpoints += ["/api/search", "/search/manifest.csv"]
    return api({"endpoints": endpoints, "user": session.user, "role": session.role,
                "min_cell_count": None if session.analyst else viewer_of(request).settings.min_cell_count})


async def _visible(request: Request, name: str) -> Any:
    """A page's aggregate as the session's role may see it (in a worker thread: suppression is CPU work)."""
    return await run_in_threadpool(viewer_of(request).visible, name, request.state.session.analyst)


async def _protocols(request: Request, top_n: int = 50) -> dict[str, Any]:
    """The protocols page: suppression is decided on all rows, then the ``top_n`` largest are shown."""
    data = await _visible(request, "all_protocols")
    return {**data, "protocols": data["protocols"][:top_n], "unmapped": data["unmapped"][:top_n]}


async def overview_page(request: Request) -> Response:
    data = await _visible(request, "overview")
    return page(request, "overview.html.j2", data=data, chart_data={"by_year": data["by_year"],
                                                                    "by_modality": data["by_modality"]})


async def overview_api(request: Request) -> Response:
    return api(await _visible(request, "overview"))


async def protocols_page(request: Request) -> Response:
    return page(request, "protocols.html.j2", data=await _protocols(request))


async def protocols_api(request: Request) -> Response:
    return api(await _protocols(request))


def _combination_args(request: Request) -> dict[str, Any]:
    params = request.query_params
    equals = {c: params.get(c, "") for c in queries.COMBINATION_COLUMNS[:5] if params.get(c)}
    return {"q": params.get("q", "")[:100], "sort": params.get("sort", "images"),
            "order": params.get("order", "desc"), **equals}


async def _combinations(request: Request) -> tuple[dict[str, Any], list[dict[str, Any]], int]:
    args = _combination_args(request)
    rows = await _visible(request, "combinations")
    shown = queries.filter_combinations(rows, **args)
    return args, shown, len(rows)


async def combinations_page(request: Request) -> Response:
    args, shown, total = await _combinations(request)
    limit = 500
    return page(request, "combinations.html.j2", args=args, rows=shown[:limit], matched=len(shown), total=total,
                limit=limit, columns=queries.COMBINATION_COLUMNS)


async def combinations_api(request: Request) -> Response:
    args, shown, total = await _combinations(request)
    return api({"filters": args, "total": total, "matched": len(shown), "combinations": shown})


def _page_args(request: Request) -> tuple[int, int]:
    params = request.query_params
    try:
        page_number = int(params.get("page", "1"))
        page_size = int(params.get("page_size", "25"))
    except ValueError:
        raise UsageError("Invalid page or page size: give whole numbers.") from None
    if page_number < 1:
        raise UsageError("Invalid page: pages start at 1.")
    return page_number, page_size


async def search_page(request: Request) -> Response:
    viewer = viewer_of(request)
    options = queries.filter_options(await run_in_threadpool(viewer.combinations))
    names = queries.concept_names(await run_in_threadpool(viewer.all_protocols))
    context = {"params": dict(request.query_params), "options": options, "names": names,
               "planes": list(queries.PLANES), "contrasts": list(queries.CONTRAST_PHASES),
               "page_sizes": queries.PAGE_SIZES, "has_cohort": await run_in_threadpool(viewer.has_cohort)}
    try:
        filters = queries.parse_filters(request.query_params)
        page_number, page_size = _page_args(request)
    except UsageError as exc:
        return page(request, "search.html.j2", status_code=400, message=str(exc), result=None, query="", **context)
    result = await run_in_threadpool(viewer.search, filters, page_number, page_size)
    return page(request, "search.html.j2", message=None, result=result, query=filters.query_string(), **context)


async def search_api(request: Request) -> Response:
    filters = queries.parse_filters(request.query_params)
    page_number, page_size = _page_args(request)
    return api(await run_in_threadpool(viewer_of(request).search, filters, page_number, page_size))


async def manifest_csv(request: Request) -> Response:
    filters = queries.parse_filters(request.query_params)
    text = await run_in_threadpool(viewer_of(request).manifest, filters)
    return PlainTextResponse(text, media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": 'attachment; filename="rcdm-manifest.csv"'})


async def favicon(request: Request) -> Response:
    return Response(status_code=204)


async def _usage_error(request: Request, exc: Exception) -> Response:
    return error(request, str(exc), 400)


async def _rcdm_error(request: Request, exc: Exception) -> Response:
    return error(request, f"The database query failed: {type(exc).__name__}. See the server log.", 500)


async def _not_found(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 404)
    return error(request, "Not found." if status == 404 else "Method not allowed.", status)


# --------------------------------------------------------------------------------------------------------------
# The app


def create_app(
    conn_factory: Callable[[], Any],
    schema: str,
    users_file: str | Path | None = None,
    secret_key: str | None = None,
    *,
    tables: ViewerTables | None = None,
    settings: ViewerSettings | None = None,
    pool_size: int = 4,
) -> Starlette:
    """The viewer app reading ``schema`` through connections from ``conn_factory`` (open them read-only:
    ``lambda: rcdm.db.connect(url, read_only=True)``). ``secret_key`` signs session cookies (random if None:
    sessions then end when the process stops, as they do anyway: sessions live in memory). ``settings``: the
    site settings (allowed hosts, trusted proxies, https, minimum cell count, cache time, limits); ``tables``:
    the schemas of the vocabulary, the cohort table and the stored summaries (``ViewerTables``)."""
    from starlette.middleware.trustedhost import TrustedHostMiddleware


    tables = tables or ViewerTables()
    vocabulary_schema, cohort_schema, cohort_table, results_schema = (
        tables.vocabulary_schema, tables.cohort_schema, tables.cohort_table, tables.results_schema)
    check_schema(schema, "cdm schema")
    if vocabulary_schema:
        check_schema(vocabulary_schema, "vocabulary schema")
    if cohort_schema:
        check_schema(cohort_schema, "cohort schema")
    check_identifier(cohort_table, "cohort table")
    if results_schema:
        check_schema(results_schema, "results schema")
    settings = (settings or ViewerSettings()).check()
    viewer = Viewer(
        pool=ConnectionPool(conn_factory, pool_size), schema=schema, users_file=auth.users_path(users_file),
        sessions=auth.SessionStore(secret_key or secrets.token_urlsafe(32),
                                   max_anonymous=settings.max_anonymous_sessions,
                                   anonymous_idle_seconds=settings.anonymous_idle_seconds),
        throttle=LoginThrottle(settings.throttle),
        gate=HashGate(settings.max_parallel_hashes, settings.max_waiting_logins),
        cache=TimedCache(settings.cache_seconds),
        settings=settings, vocabulary_schema=vocabulary_schema, cohort_schema=cohort_schema,
        cohort_table=cohort_table, results_schema=results_schema)
    routes = [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/", home),
        Route("/overview", overview_page),
        Route("/protocols", protocols_page),
        Route("/combinations", combinations_page),
        Route("/search", search_page),
        Route("/search/manifest.csv", manifest_csv),
        Route("/api", api_index),
        Route("/api/overview", overview_api),
        Route("/api/protocols", protocols_api),
        Route("/api/combinations", combinations_api),
        Route("/api/search", search_api),
        Route("/favicon.ico", favicon),
        Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(routes=routes, middleware=[
                        Middleware(TrustedHostMiddleware, allowed_hosts=settings.host_patterns(), www_redirect=False),
                        Middleware(AuthMiddleware)],
                    exception_handlers={UsageError: _usage_error, RcdmError: _rcdm_error,
                                        404: _not_found, 405: _not_found})
    app.state.viewer = viewer
    return app


__all__ = ["ConnectionPool", "TimedCache", "Viewer", "create_app"]
