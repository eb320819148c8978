"""The viewer attacks of issue 12, each as a test that must fail to get through.

Password guessing (single address, many addresses, in parallel, in a burst), forged forwarded addresses, flooded
anonymous sessions, foreign Host headers, plain-http cookies, formula cells in the manifest, and row-level data
or small counts reaching an ``aggregate`` account. Real components throughout: the app over a DuckDB file, real
argon2 hashes, and a real uvicorn server on 127.0.0.1 for the concurrency attacks. Delays are checked against a
fake clock, never the wall clock.
"""

from __future__ import annotations

import datetime as dt
import re
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest

pytest.importorskip("starlette")
pytest.importorskip("argon2")
httpx = pytest.importorskip("httpx")
uvicorn = pytest.importorskip("uvicorn")

from starlette.testclient import TestClient  # noqa: E402

from rcdm.db import connect, create_schema, insert_table  # noqa: E402
from rcdm.ddl import create_tables  # noqa: E402
from rcdm.errors import UsageError  # noqa: E402
from rcdm.viewer import auth, privacy, queries  # noqa: E402
from rcdm.viewer.app import create_app  # noqa: E402
from rcdm.viewer.settings import ViewerSettings, client_address, is_https  # noqa: E402
from rcdm.viewer.throttle import HashGate, LoginThrottle, ThrottleSettings  # noqa: E402

PASSWORD = "correct horse battery"
MODALITIES = {"CT": 30, "MR": 3, "CR": 7, "US": 1}
"""Studies per modality: MR (3) and US (1) are small cells; the issue's subtraction attack is 33 - 30 = 3."""


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- a site with small groups ------------------------------------------------------------------------------------


def fill_site(path, modalities=MODALITIES) -> None:
    """41 studies of 41 persons (one per study) with the modalities above; every text cell of the first CT study
    starts like a spreadsheet formula."""
    studies, images = [], []
    sid = 0
    for modality, n in modalities.items():
        for _ in range(n):
            sid += 1
            studies.append({"radiology_occurrence_id": sid, "person_id": 500 + sid,
                            "radiology_occurrence_date": dt.date(2018 + sid % 4, 1 + sid % 12, 1 + sid % 28),
                            "modality": modality, "protocol_concept_id": 0 if modality == "US" else 40000001,
                            "protocol_source_value": "US OF JOHN DOE" if modality == "US"
                            else "@SUM(A1)" if sid == 1 else f"{modality} ROUTINE",
                            "count_of_series": 1, "count_of_images": 2})
            for i in range(2):
                images.append({"radiology_image_id": sid * 10 + i, "radiology_occurrence_id": sid,
                               "radiology_series_id": sid * 10, "file_path": f"site/{sid}/{i}.dcm",
                               "body_part_source_value": "HEAD", "modality": modality, "instance_number": i})
    images[0].update(body_part_source_value="=HYPERLINK(\"http://evil.example\",\"x\")",
                     file_path="+cmd|' /C calc'!A0", anatomical_plane_source_value="-2+3")
    images[1].update(body_part_source_value="\tTAB", file_path="\rCR")
    with connect(path) as conn:
        create_schema(conn, "cdm")
        create_tables(conn, "cdm", "rcdm")
        insert_table(conn, "cdm", "radiology_occurrence", pd.DataFrame(studies))
        insert_table(conn, "cdm", "radiology_image", pd.DataFrame(images))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("attacks")
    db = folder / "site.duckdb"
    fill_site(db)
    users = folder / "users.json"
    auth.add_user("ana", PASSWORD, users, role="analyst")
    auth.add_user("agg", PASSWORD, users)  # default role
    return db, users


def make_app(site, **settings):
    db, users = site
    return create_app(lambda: connect(db, read_only=True), "cdm", users, "secret",
                      settings=ViewerSettings(**settings))


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html)[1]


def login(client, name: str, password: str = PASSWORD, **kwargs):
    token = csrf_of(client.get("/login", **kwargs).text)
    return client.post("/login", data={"username": name, "password": password, "csrf_token": token},
                       follow_redirects=False, **kwargs)


@pytest.fixture(scope="module")
def app(site):
    app = make_app(site)
    yield app
    app.state.viewer.pool.close()


def client_for(app, name: str) -> TestClient:
    client = TestClient(app, base_url="http://localhost")
    assert login(client, name).status_code == 303
    return client


# -- roles and suppression -----------------------------------------------------------------------------------------

ANALYST_ONLY = ["/search", "/search?modality=CT", "/api/search", "/api/search?modality=MR",
                "/search/manifest.csv", "/search/manifest.csv?modality=US"]


@pytest.mark.parametrize("path", ANALYST_ONLY)
def test_aggregate_users_get_no_row_level_pages(app, path):
    with client_for(app, "agg") as agg:
        response = agg.get(path, follow_redirects=False)
        assert response.status_code == 403
        assert "person" not in response.text.replace("persons", "") and "site/" not in response.text


def test_every_route_outside_the_aggregate_list_needs_the_analyst_role(app):
    """Default-deny: a new route is analyst-only unless it is added to AGGREGATE_PATHS."""
    from rcdm.viewer.app import AGGREGATE_PATHS

    paths = {getattr(r, "path", None) for r in app.routes} - {"/login", "/static", "/favicon.ico"}
    with client_for(app, "agg") as agg:
        for path in sorted(paths - AGGREGATE_PATHS):
            assert agg.get(path, follow_redirects=False).status_code == 403, path


def _all_aggregate_text(client) -> str:
    return "\n".join(client.get(p).text for p in ("/", "/overview", "/protocols", "/combinations", "/api",
                                                     "/api/overview", "/api/protocols", "/api/combinations"))


@pytest.mark.slow
def test_aggregate_pages_carry_no_row_level_values(app):
    with client_for(app, "agg") as agg:
        text = _all_aggregate_text(agg)
    for word in ("site/1/", "JOHN DOE", "/search?", "2019-02-02", "2018-01-01"):
        assert word not in text, word
    assert not re.search(r'"person_id":\s*\d|"radiology_occurrence_id":|"file_path":', text)
    with client_for(app, "ana") as ana:
        assert "/search?" in ana.get("/protocols").text  # the analyst's links are there


def _hidden_rows_are_safe(rows, key, total, k):
    """The attacker's view: ``total`` is published; each hidden row lies in [1, H - n + 1] with H = total minus
    the shown rows. Safe when every row is hidden, or n >= 2 and that interval is at least k wide."""
    hidden = [r for r in rows if r[key] is None]
    shown = sum(r[key] for r in rows if r[key] is not None)
    if not hidden:
        return all(r[key] >= k for r in rows)
    if total is None or len(hidden) == len(rows):
        return True
    return len(hidden) >= 2 and (total - shown) - len(hidden) >= k


@pytest.mark.slow
def test_small_modalities_cannot_be_recovered_by_subtraction(app):
    with client_for(app, "agg") as agg:
        data = agg.get("/api/overview").json()
    total = data["summary"]["studies"]
    assert total == 41
    by_modality = {r["modality"]: r for r in data["by_modality"]}
    assert by_modality["MR"]["studies"] is None and by_modality["US"]["studies"] is None
    assert by_modality["MR"]["images"] is None  # images of a hidden row would bound it
    # 41 - 30 - 7 = 4 would be MR + US = 4: both are hidden, each lies in [1, 3]: not enough; CR goes too
    assert by_modality["CR"]["studies"] is None and by_modality["CT"]["studies"] == 30
    assert _hidden_rows_are_safe(data["by_modality"], "studies", total, 5)
    assert _hidden_rows_are_safe(data["by_year"], "studies", total, 5)
    with client_for(app, "ana") as ana:  # the analyst sees the real counts
        raw = {r["modality"]: r["studies"] for r in ana.get("/api/overview").json()["by_modality"]}
    assert raw == MODALITIES


def test_protocol_free_text_of_a_small_cell_is_hidden(app):
    with client_for(app, "agg") as agg:
        data = agg.get("/api/protocols").json()
        html = agg.get("/protocols").text
    assert "JOHN DOE" not in str(data) and "JOHN DOE" not in html
    rows = data["protocols"] + data["unmapped"]
    assert _hidden_rows_are_safe(rows, "studies", 41, 5)
    assert data["mapped_studies"] is None  # 41 - 40 = 1 unmapped study would follow from it


def test_combinations_hide_small_cells(app):
    with client_for(app, "agg") as agg:
        rows = agg.get("/api/combinations").json()["combinations"]
        html = agg.get("/combinations").text
    assert all(r["studies"] is None or r["studies"] >= 5 for r in rows)
    assert all(r["images"] is None for r in rows if r["studies"] is None)
    assert 'id="suppression-note"' in html


def test_min_cell_count_setting(site):
    app = make_app(site, min_cell_count=2)
    with client_for(app, "agg") as agg:
        by_modality = {r["modality"]: r["studies"] for r in agg.get("/api/overview").json()["by_modality"]}
        assert agg.get("/api").json()["min_cell_count"] == 2
    # US (1) is hidden; MR (3) goes with it, or US would be 41 - 30 - 7 - 3
    assert by_modality == {"CT": 30, "CR": 7, "MR": None, "US": None}
    with pytest.raises(UsageError):
        make_app(site, min_cell_count=0)


def test_suppress_rows_complementary_rule():
    rows = [{"studies": 30}, {"studies": 3}, {"studies": 7}]
    out = privacy.suppress_rows(rows, 5)
    assert [r["studies"] for r in out] == [30, None, None]  # 3 alone would be 40 - 37; 3 + 7 - 2 >= 5
    out = privacy.suppress_rows([{"studies": 100}, {"studies": 1}, {"studies": 1}, {"studies": 50}], 5)
    assert [r["studies"] for r in out] == [None, None, None, None] or _hidden_rows_are_safe(out, "studies", 152, 5)
    assert [r["studies"] for r in privacy.suppress_rows([{"studies": 9}, {"studies": 5}], 5)] == [9, 5]
    assert privacy.suppress_rows([{"studies": 0}], 5)[0]["studies"] == 0  # zero reveals no one


def test_users_without_a_role_are_aggregate_and_roles_are_checked(tmp_path):
    import json

    path = tmp_path / "old.json"
    auth.add_user("old", PASSWORD, path)
    data = json.loads(path.read_text())
    del data["users"]["old"]["role"]  # a file written before roles existed
    path.write_text(json.dumps(data))
    assert auth.role_of(auth.load_users(path), "old") == "aggregate"
    data["users"]["old"]["role"] = "admin"
    path.write_text(json.dumps(data))
    with pytest.raises(UsageError, match="unknown role"):
        auth.load_users(path)
    with pytest.raises(UsageError, match="Unknown role"):
        auth.add_user("x", PASSWORD, tmp_path / "n.json", role="root")


@pytest.mark.slow
def test_cli_add_user_role(tmp_path):
    from rcdm.cli import main

    path = tmp_path / "cli.json"
    import io
    import sys

    stdin = sys.stdin
    try:
        sys.stdin = io.StringIO(PASSWORD + "\n")
        assert main(["viewer", "add-user", "carol", "--users", str(path), "--password-stdin", "--role",
                     "analyst"]) == 0
        sys.stdin = io.StringIO(PASSWORD + "\n")
        assert main(["viewer", "add-user", "dave", "--users", str(path), "--password-stdin"]) == 0
    finally:
        sys.stdin = stdin
    users = auth.load_users(path)
    assert (auth.role_of(users, "carol"), auth.role_of(users, "dave")) == ("analyst", "aggregate")
    with pytest.raises(SystemExit) as exit_:
        main(["viewer", "add-user", "eve", "--users", str(path), "--role", "admin"])
    assert exit_.value.code == 2


# -- manifest CSV ------------------------------------------------------------------------------------------------


def test_manifest_cells_never_start_like_a_formula(app):
    import csv
    import io

    with client_for(app, "ana") as ana:
        text = ana.get("/search/manifest.csv").text
    rows = list(csv.reader(io.StringIO(text)))
    cells = [c for row in rows[1:] for c in row]
    assert not [c for c in cells if c[:1] in privacy.FORMULA_LEADS]
    assert "'=HYPERLINK(\"http://evil.example\",\"x\")" in cells and "'+cmd|' /C calc'!A0" in cells
    assert "'\tTAB" in cells and "'@SUM(A1)" in cells and "'-2+3" in cells and "'\rCR" in cells
    assert len(rows) == 1 + 2 * 41  # the CR inside a cell is quoted: it starts no new row


# -- password guessing ---------------------------------------------------------------------------------------------


def test_delays_grow_per_user_and_address():
    clock = Clock()
    throttle = LoginThrottle(ThrottleSettings(free_attempts=3, base_delay=1, max_delay=300), clock=clock)
    waits = []
    for _ in range(12):
        decision = throttle.begin("alice", "10.0.0.1")
        while not decision.allowed:
            waits.append(decision.retry_after)
            clock.now += decision.retry_after
            decision = throttle.begin("alice", "10.0.0.1")
        throttle.end("alice", "10.0.0.1", ok=False)
    assert waits == [1, 2, 4, 8, 16, 32, 64, 128, 256]  # doubling after 3 free failures, capped at 300 next
    decision = throttle.begin("alice", "10.0.0.1")
    assert not decision.allowed and decision.retry_after == 300


def test_the_real_user_is_never_locked_out():
    """Hundreds of failures from many addresses: the right password from a fresh address gets in after at most
    max_user_delay, and from an address that failed a little, after its own short delay."""
    clock = Clock()
    s = ThrottleSettings(max_user_delay=60)
    throttle = LoginThrottle(s, clock=clock)
    for i in range(500):
        address = f"203.0.113.{i % 50}"
        decision = throttle.begin("alice", address)
        if decision.allowed:
            throttle.end("alice", address, ok=False)
        clock.now += 0.5
    first = throttle.begin("alice", "198.51.100.7")  # the real user, from home
    assert not first.allowed and first.retry_after <= 60
    clock.now += first.retry_after
    assert throttle.begin("alice", "198.51.100.7").allowed
    throttle.end("alice", "198.51.100.7", ok=True)
    assert throttle.begin("alice", "198.51.100.7").allowed  # and the user's failures are cleared
    throttle.end("alice", "198.51.100.7", ok=True)


@pytest.mark.slow
def test_a_distributed_guesser_gets_one_guess_per_address_per_delay():
    clock = Clock()
    throttle = LoginThrottle(ThrottleSettings(user_soft_limit=10, user_delay=2, max_user_delay=60), clock=clock)
    checked = 0
    for _minute in range(30):  # 30 minutes, 100 addresses, each trying every second
        for _second in range(60):
            for a in range(100):
                if throttle.begin("alice", f"10.1.0.{a}").allowed:
                    checked += 1
                    throttle.end("alice", f"10.1.0.{a}", ok=False)
            clock.now += 1
    # one guess per address per minute once the per-user delay is at its cap (and 10 free failures in all)
    assert checked <= 10 + 100 * (30 + 6)


def test_many_right_logins_at_once_from_one_address_wait_a_second_not_minutes():
    """An office behind one NAT address, 30 logins being checked at once: those beyond the address allowance
    are asked to retry in a second (the attempts in flight may all be right), and are let in once they are."""
    clock = Clock()
    throttle = LoginThrottle(ThrottleSettings(address_free_attempts=20), clock=clock)
    decisions = [throttle.begin(f"user{i}", "192.0.2.1") for i in range(30)]
    allowed = [i for i, d in enumerate(decisions) if d.allowed]
    assert len(allowed) == 20 and all(d.retry_after == 1.0 for d in decisions if not d.allowed)
    for i in allowed:
        throttle.end(f"user{i}", "192.0.2.1", ok=True)
    clock.now += 1
    assert all(throttle.begin(f"user{i}", "192.0.2.1").allowed for i in range(20, 30))


def test_throttle_memory_is_bounded():
    throttle = LoginThrottle(ThrottleSettings(max_entries=1000), clock=Clock())
    for i in range(5000):
        if throttle.begin(f"user{i}", f"10.2.{i // 256}.{i % 256}").allowed:
            throttle.end(f"user{i}", f"10.2.{i // 256}.{i % 256}", ok=False)
    assert len(throttle) <= 1000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """uvicorn serving ``app`` on 127.0.0.1 in a thread."""

    def __init__(self, app) -> None:
        self.port = _free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="off", proxy_headers=False))  # as rcdm.viewer.serve
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def _guess(base: str, name: str, password: str, headers: dict | None = None) -> int:
    with httpx.Client(base_url=base, headers=headers or {}, timeout=60) as c:
        token = csrf_of(c.get("/login").text)
        return c.post("/login", data={"username": name, "password": password, "csrf_token": token}).status_code


class CountingVerify:
    """Wraps the real ``auth.verify`` to count checks and the most that ran at once."""

    def __init__(self, monkeypatch) -> None:
        self.real = auth.verify
        self.calls = self.running = self.peak = 0
        self.lock = threading.Lock()
        monkeypatch.setattr(auth, "verify", self)

    def __call__(self, *args):
        with self.lock:
            self.calls += 1
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            return self.real(*args)
        finally:
            with self.lock:
                self.running -= 1


@pytest.mark.slow
def test_parallel_guesses_do_not_bypass_the_throttle(site, monkeypatch):
    """60 wrong passwords at once from one address against a limit of 3 free failures: at most 3 are checked."""
    counter = CountingVerify(monkeypatch)
    app = make_app(site, throttle=ThrottleSettings(free_attempts=3, base_delay=600))
    with Server(app) as base, ThreadPoolExecutor(20) as pool:
        codes = list(pool.map(lambda i: _guess(base, "agg", f"wrong password {i}"), range(60)))
    app.state.viewer.pool.close()
    assert codes.count(401) <= 3 and codes.count(401) + codes.count(429) == 60
    assert counter.calls <= 3


@pytest.mark.slow
def test_a_burst_of_logins_hashes_a_bounded_number_at_once(site, monkeypatch):
    """80 logins for 80 different names at once (the throttle lets each through): at most 2 argon2 hashes run
    at the same time (64 MiB each) and the requests beyond the waiting room are told to come back (503)."""
    counter = CountingVerify(monkeypatch)
    app = make_app(site, max_parallel_hashes=2, max_waiting_logins=6,
                   throttle=ThrottleSettings(address_free_attempts=1000))
    with Server(app) as base, ThreadPoolExecutor(40) as pool:
        codes = list(pool.map(lambda i: _guess(base, f"user{i}", "wrong password"), range(80)))
    app.state.viewer.pool.close()
    assert counter.peak <= 2
    assert set(codes) <= {401, 503} and codes.count(401) == counter.calls
    assert app.state.viewer.gate.queued == 0


def test_hash_gate_refuses_beyond_its_waiting_room():
    import anyio

    gate = HashGate(max_parallel=1, max_waiting=1)
    results = []

    async def main():
        async def hold(i):
            try:
                async with gate.slot():
                    await anyio.sleep(0.2)
                    results.append(i)
            except Exception as exc:  # noqa: BLE001
                results.append(type(exc).__name__)

        async with anyio.create_task_group() as tg:
            for i in range(4):
                tg.start_soon(hold, i)

    anyio.run(main)
    assert sorted(map(str, results)) == ["0", "1", "GateFull", "GateFull"]


# -- forwarded addresses ---------------------------------------------------------------------------------------


def test_forwarded_for_is_believed_only_from_trusted_proxies():
    none = ViewerSettings()
    proxy = ViewerSettings(trusted_proxies=("10.0.0.5", "192.168.0.0/16"))
    spoof = {"x-forwarded-for": "1.2.3.4"}
    assert client_address("198.51.100.1", spoof, none) == "198.51.100.1"  # no proxy configured
    assert client_address("198.51.100.1", spoof, proxy) == "198.51.100.1"  # not from the proxy
    assert client_address("10.0.0.5", spoof, proxy) == "1.2.3.4"
    # the client prepends a fake hop; the proxy appends the real one: the right-most untrusted address counts
    assert client_address("10.0.0.5", {"x-forwarded-for": "6.6.6.6, 203.0.113.9"}, proxy) == "203.0.113.9"
    assert client_address("10.0.0.5", {"x-forwarded-for": "203.0.113.9, 192.168.3.3"}, proxy) == "203.0.113.9"
    assert client_address("10.0.0.5", {"x-forwarded-for": "1.1.1.1, not-an-ip"}, proxy) == "10.0.0.5"
    assert client_address("10.0.0.5", {}, proxy) == "10.0.0.5"
    assert is_https("http", "10.0.0.5", {"x-forwarded-proto": "https"}, proxy)
    assert not is_https("http", "198.51.100.1", {"x-forwarded-proto": "https"}, proxy)
    with pytest.raises(UsageError, match="trusted proxy"):
        ViewerSettings(trusted_proxies=("10.0.0.300",)).check()


@pytest.mark.slow
def test_forged_forwarded_for_does_not_reset_the_throttle(site):
    app = make_app(site, throttle=ThrottleSettings(free_attempts=2, base_delay=600))
    with Server(app) as base:
        codes = [_guess(base, "agg", "wrong password", {"X-Forwarded-For": f"10.9.0.{i}"}) for i in range(4)]
    app.state.viewer.pool.close()
    assert codes == [401, 401, 429, 429]


@pytest.mark.slow
def test_behind_a_trusted_proxy_users_do_not_share_one_address(site):
    """Behind the proxy (127.0.0.1 here), a guesser at one address does not slow the user at another."""
    app = make_app(site, trusted_proxies=("127.0.0.1",), throttle=ThrottleSettings(free_attempts=2, base_delay=600))
    with Server(app) as base:
        attacker = [_guess(base, "agg", "wrong password", {"X-Forwarded-For": "203.0.113.66"}) for _ in range(3)]
        user = _guess(base, "agg", PASSWORD, {"X-Forwarded-For": "198.51.100.20"})
    app.state.viewer.pool.close()
    assert attacker == [401, 401, 429] and user == 303


# -- sessions, hosts, https -------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_anonymous_session_flood_is_capped_and_keeps_logged_in_users(site):
    app = make_app(site, max_anonymous_sessions=50)
    with client_for(app, "agg") as agg:
        with TestClient(app, base_url="http://localhost") as flood:
            for _ in range(300):
                flood.cookies.clear()
                assert flood.get("/login").status_code == 200
        sessions = app.state.viewer.sessions
        assert sessions.anonymous <= 50
        assert agg.get("/api/overview").status_code == 200  # the logged-in session survived


def test_anonymous_sessions_expire():
    clock = Clock()
    store = auth.SessionStore("k", anonymous_idle_seconds=600, clock=clock)
    anonymous = store.new()
    user = store.new("alice", "analyst")
    clock.now += 601
    assert store.from_cookie(store.cookie_value(anonymous)) is None
    assert store.from_cookie(store.cookie_value(user)).user == "alice"
    store.new()
    assert store.anonymous == 1  # the expired one was pruned


@pytest.mark.parametrize("host", ["evil.example", "localhost.evil.example", "127.0.0.1.nip.io"])
def test_foreign_host_headers_are_refused(app, host):
    with TestClient(app, base_url="http://localhost") as c:
        assert c.get("/login", headers={"Host": host}).status_code == 400
        assert c.get("/login").status_code == 200


def test_allowed_hosts_setting(site):
    app = make_app(site, allowed_hosts=("viewer.example.org",))
    with TestClient(app, base_url="http://viewer.example.org") as c:
        assert c.get("/login").status_code == 200
        assert c.get("/login", headers={"Host": "localhost"}).status_code == 400


@pytest.mark.slow
def test_hsts_and_secure_cookies_over_https_only(site):
    plain = make_app(site)
    with TestClient(plain, base_url="http://localhost") as c:
        response = c.get("/login")
        assert "strict-transport-security" not in response.headers
        assert "; secure" not in response.headers["set-cookie"].lower()
        forged = c.get("/login", headers={"X-Forwarded-Proto": "https"})  # not from a trusted proxy
        assert "strict-transport-security" not in forged.headers
    proxied = make_app(site, trusted_proxies=("127.0.0.1",))
    with Server(proxied) as base:
        response = httpx.get(f"{base}/login", headers={"X-Forwarded-Proto": "https"})
    proxied.state.viewer.pool.close()
    assert response.headers["strict-transport-security"].startswith("max-age=31536000")
    assert "; secure" in response.headers["set-cookie"].lower()
    with TestClient(make_app(site, https=True), base_url="http://localhost") as c:
        response = c.get("/login")  # behind a TLS proxy that does not say so: the setting decides
        assert "; secure" in response.headers["set-cookie"].lower()
        assert "includeSubDomains" in response.headers["strict-transport-security"]
    with TestClient(make_app(site, https=True), base_url="https://localhost") as c:
        response = login(c, "agg")
        assert response.status_code == 303
        assert "; secure" in response.headers["set-cookie"].lower()
        assert "includeSubDomains" in response.headers["strict-transport-security"]


def test_queries_manifest_escapes_without_the_app(site):
    db, _ = site
    with connect(db, read_only=True) as conn:
        source = queries.ViewerSource.detect(conn, "cdm")
        text = queries.manifest_csv(queries.manifest_frame(conn, source, queries.parse_filters({"modality": "CT"})))
    assert "\n=" not in text and ",=" not in text and ",+" not in text and ",@" not in text


@pytest.mark.parametrize("option", [["--trusted-proxy", "10.0.0.300"], ["--min-cell-count", "0"],
                                    ["--allowed-host", ""]])
def test_cli_refuses_bad_site_settings(site, option):
    from rcdm.cli import main

    db, users = site
    assert main(["viewer", "--db", str(db), "--users", str(users), *option]) == 2


def test_a_hidden_combination_is_not_pinned_by_its_protocol_total():
    """Protocol P's images are published on the protocols page; with one hidden combination of P and the others
    shown, its images (hence a bound on its studies) would follow by subtraction: a second one is hidden."""
    rows = [
        {"modality": "CT", "protocol_concept_id": 1, "body_part": "HEAD", "studies": 40, "images": 400},
        {"modality": "CT", "protocol_concept_id": 1, "body_part": "NECK", "studies": 9, "images": 90},
        {"modality": "CT", "protocol_concept_id": 1, "body_part": "FOOT", "studies": 2, "images": 3},
        {"modality": "MR", "protocol_concept_id": 2, "body_part": "HEAD", "studies": 50, "images": 800},
        {"modality": "MR", "protocol_concept_id": 2, "body_part": "KNEE", "studies": 30, "images": 300},
    ]
    out = privacy.combinations(rows, 5)
    for columns in privacy.COMBINATION_GROUPS:
        for value in {tuple(r[c] for c in columns) for r in rows}:
            group = [r for r in out if tuple(r[c] for c in columns) == value]
            total = sum(r["images"] for r in rows if tuple(r[c] for c in columns) == value)
            assert _hidden_rows_are_safe(group, "images", total, 5), (columns, value)
    assert out[2]["studies"] is None and out[1]["studies"] is None  # FOOT, and NECK with it


def test_refused_requests_with_made_up_names_do_not_evict_the_targets_state():
    """Pushing 'user:alice' out of the bounded table would reset her per-user delay: refused requests store
    nothing, so a throttled address sending 10,000 made-up names leaves alice's state in place."""
    clock = Clock()
    throttle = LoginThrottle(ThrottleSettings(max_entries=500, address_free_attempts=20), clock=clock)
    for i in range(60):  # alice under pressure from 60 addresses
        if throttle.begin("alice", f"10.3.0.{i}").allowed:
            throttle.end("alice", f"10.3.0.{i}", ok=False)
    for i in range(10_000):
        if throttle.begin(f"made-up-{i}", "10.4.0.1").allowed:
            throttle.end(f"made-up-{i}", "10.4.0.1", ok=False)
    assert len(throttle) <= 500
    decision = throttle.begin("alice", "10.5.0.1")  # a fresh address still waits for alice
    assert not decision.allowed and decision.retry_after > 1


@pytest.mark.parametrize("seed", range(20))
def test_suppression_leaves_every_hidden_cell_uncertain_in_every_group(seed):
    """Random tables with many small cells: in the whole table and in every protocol and modality group, each
    hidden row stays uncertain by at least the minimum (or the whole group is hidden)."""
    import random

    rng = random.Random(seed)
    rows = [{"modality": rng.choice("ABC"), "protocol_concept_id": rng.randint(1, 4), "studies": s,
             "images": s * rng.randint(1, 5)} for s in (rng.choice([1, 2, 3, 4, 5, 8, 20, 60]) for _ in range(25))]
    k = rng.choice([3, 5, 11])
    out = privacy.combinations(rows, k)
    assert all(r["studies"] is None or r["studies"] >= k for r in out)
    for columns in privacy.COMBINATION_GROUPS:
        for value in {tuple(r[c] for c in columns) for r in rows}:
            members = [i for i, r in enumerate(rows) if tuple(r[c] for c in columns) == value]
            total = sum(rows[i]["images"] for i in members)
            assert _hidden_rows_are_safe([out[i] for i in members], "images", total, k), (columns, value)
    by_year = privacy.suppress_rows([{"studies": r["studies"]} for r in rows], k)
    assert _hidden_rows_are_safe(by_year, "studies", sum(r["studies"] for r in rows), k)


# -- sums over suppressed cells published by another table (review F2 and its siblings) --------------------------


@pytest.mark.slow
def test_quality_rows_do_not_give_back_a_hidden_modality(tmp_path):
    """Review F2: 30 CT and 3 MR-only studies hide both modalities, but the quality row on "CT images" published
    CT images (rows 66, applicable 60), so MR = 66 - 60 = 6 images. The row joins by_modality's suppression
    group: it is hidden whole while its modality is."""
    db = tmp_path / "site.duckdb"
    fill_site(db, {"CT": 30, "MR": 3})
    users = tmp_path / "users.json"
    auth.add_user("agg", PASSWORD, users)
    app = make_app((db, users))
    try:
        with client_for(app, "agg") as agg:
            data = agg.get("/api/overview").json()
            html = agg.get("/").text
    finally:
        app.state.viewer.pool.close()
    by_modality = {r["modality"]: r for r in data["by_modality"]}
    assert by_modality["CT"]["images"] is None and by_modality["MR"]["images"] is None
    images = data["summary"]["images"]
    assert images == 66
    per_modality = [r for rows in data["quality"].values() for r in rows if r["applies_to"] != "all"]
    assert per_modality, "the site's quality table has rows on one modality's images"
    for row in per_modality:
        assert row["suppressed"] is True
        assert all(row[k] is None for k in ("rows", "mapped", "unmapped", "applicable", "applicable_mapped",
                                            "applicable_pct", "mapped_pct")), row
    # no published number on the page is CT's 60 images or MR's 6 (or 66 minus either)
    numbers = {v for rows in data["quality"].values() for r in rows for v in r.values()
               if isinstance(v, int) and not isinstance(v, bool)}
    assert not numbers & {60, 6}
    assert ">60<" not in html


def test_quality_row_on_a_shown_modality_stays_published():
    data = {"summary": {"persons": 41, "studies": 41, "series": 41, "images": 82},
            "by_year": [{"year": 2020, "studies": 41, "images": 82}],
            "by_modality": [{"modality": m, "studies": n, "images": 2 * n} for m, n in MODALITIES.items()],
            "quality": {"radiology_image": [{"column": "x", "applies_to": "CT images", "rows": 82, "mapped": 60,
                                              "unmapped": 22, "applicable": 60, "applicable_mapped": 60}]}}
    row = privacy.overview(data, 5)["quality"]["radiology_image"][0]
    assert row["suppressed"] is False and row["applicable"] == 60  # CT is shown: its images are no secret


def test_withheld_sums_keep_every_part_of_the_hidden_cells_uncertain():
    cells = {"CT": 30, "MR": 3, "CR": 7, "US": 50}
    # CT alone out of {CT, MR} would pin both; CT + MR together is their known total
    assert privacy.withheld_sums(cells, {"CT", "MR"}, {"a": {"CT"}, "b": {"CT", "MR"}, "c": {"US"}}, 5) == {"a"}
    # a split leaving two parts that each keep the rule is allowed
    cells = {"A": 10, "B": 10, "C": 10, "D": 10}
    assert privacy.withheld_sums(cells, set(cells), {"ab": {"A", "B"}}, 5) == set()
    assert privacy.withheld_sums(cells, set(cells), {"ab": {"A", "B"}, "a": {"A"}}, 5) == {"a"}


def test_mapped_studies_do_not_split_hidden_protocol_rows():
    """Sibling of F2 on the protocols page: concept Q (3 studies) is covered by unmapped source value U1 (8);
    mapped_studies = 40 + 3 would give Q exactly, then U1 = 101 - 43 - 50 = 8."""
    data = {"studies": 101, "mapped_studies": 43, "mapped_pct": 42.57, "concepts": 2, "unmapped_source_values": 2,
            "protocols": [{"protocol_concept_id": 1, "concept_name": "CT head", "source_values": 1, "studies": 40,
                           "images": 400},
                          {"protocol_concept_id": 2, "concept_name": "MR knee", "source_values": 1, "studies": 3,
                           "images": 30}],
            "unmapped": [{"protocol_source_value": "U2", "protocol_concept_id": 0, "studies": 50, "images": 500},
                         {"protocol_source_value": "U1", "protocol_concept_id": 0, "studies": 8, "images": 80}]}
    out = privacy.protocols(data, 5)
    assert out["protocols"][1]["studies"] is None and out["unmapped"][1]["studies"] is None
    assert out["mapped_studies"] is None and out["mapped_pct"] is None
    # with the hidden rows on one side of the sum, it stays published
    data["unmapped"][1].update(studies=60, images=600)
    data["protocols"].append({"protocol_concept_id": 3, "concept_name": "US", "source_values": 1, "studies": 7,
                              "images": 70})
    data.update(studies=160, mapped_studies=50)
    out = privacy.protocols(data, 5)
    assert out["mapped_studies"] == 50


def test_combinations_do_not_give_back_a_modality_the_overview_hides():
    """Sibling of F2 on the combinations page: CT (8 studies) is hidden on the overview only to cover MR (3);
    its one combination, shown with 8 studies and 80 images, would give CT, then MR by subtraction. Every
    modality (and protocol) the other pages hide keeps a hidden combination, and their hidden rows form one
    group."""
    rows = [
        {"modality": "US", "protocol_concept_id": 3, "body_part": "ABDOMEN", "studies": 44, "images": 440},
        {"modality": "US", "protocol_concept_id": 3, "body_part": "NECK", "studies": 6, "images": 60},
        {"modality": "CT", "protocol_concept_id": 1, "body_part": "HEAD", "studies": 8, "images": 80},
        {"modality": "MR", "protocol_concept_id": 2, "body_part": "KNEE", "studies": 3, "images": 30},
    ]
    overview = privacy.overview({"summary": {"studies": 61, "images": 610}, "by_year": [], "quality": {},
                                 "by_modality": [{"modality": m, "studies": s, "images": 10 * s}
                                                 for m, s in (("US", 50), ("CT", 8), ("MR", 3))]}, 5)
    hidden = privacy.hidden_modalities(overview["by_modality"])
    assert hidden == {"CT", "MR"}
    out = privacy.combinations(rows, 5, hidden_modalities=hidden)
    shown = {r["modality"] for r in out if not r["suppressed"]}
    assert "CT" not in shown and "MR" not in shown
    hidden_images = 610 - sum(r["images"] for r in out if not r["suppressed"])
    assert hidden_images - sum(r["suppressed"] for r in out) >= 5
    # without the overview's hidden set the old grouping showed CT's one combination
    assert not privacy.combinations(rows, 5)[2]["suppressed"]


def test_combinations_page_uses_the_other_pages_hidden_sets(app):
    with client_for(app, "agg") as agg:
        hidden = {r["modality"] for r in agg.get("/api/overview").json()["by_modality"] if r["suppressed"]}
        rows = agg.get("/api/combinations").json()["combinations"]
    for modality in hidden:
        members = [r for r in rows if r["modality"] == modality]
        assert not members or any(r["suppressed"] for r in members), modality


def _etl_overview(files, quarantine):
    return {"summary": {}, "by_year": [], "by_modality": [], "quality": {},
            "files": [{"status": s, "files": n} for s, n in files],
            "quarantine": [{"status": s, "reason": r, "files": n} for s, r, n in quarantine]}


def test_quarantine_reasons_do_not_split_a_status_total():
    """Sibling of F2 on the ETL tables: files per status are sums of the quarantine rows (status, reason). A
    hidden reason (3 files) covered by a row of another status would come back as quarantined 33 - truncated 30;
    a status hidden in the files table would come back from its shown reasons."""
    out = privacy.overview(_etl_overview([("loaded", 500), ("quarantined", 33), ("skipped", 10)],
                                         [("quarantined", "truncated", 30), ("quarantined", "bad", 3),
                                          ("skipped", "x", 10)]), 5)
    rows = {r["reason"]: r for r in out["quarantine"]}
    assert rows["bad"]["files"] is None and rows["truncated"]["files"] is None
    out = privacy.overview(_etl_overview([("loaded", 500), ("duplicate", 8), ("skipped", 3)],
                                         [("duplicate", None, 8), ("skipped", "r", 3)]), 5)
    files = {r["status"]: r["files"] for r in out["files"]}
    assert files["duplicate"] is None and files["skipped"] is None
    assert all(r["files"] is None for r in out["quarantine"])  # duplicate 8 would give skipped = 511 - 500 - 8
