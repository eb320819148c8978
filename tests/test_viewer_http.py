"""HTTP-level tests of the viewer (Starlette TestClient on a small DuckDB database): pages, JSON twins, access rules."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys

import pandas as pd
import pytest

pytest.importorskip("starlette")
pytest.importorskip("argon2")
pytest.importorskip("httpx")

from starlette.testclient import TestClient  # noqa: E402

from rcdm.db import connect, create_schema, execute_sql, insert_table, query_sql  # noqa: E402
from rcdm.ddl import create_tables  # noqa: E402
from rcdm.errors import DatabaseError, UsageError  # noqa: E402
from rcdm.resources import read_template  # noqa: E402
from rcdm.sql import render, split_sql, translate  # noqa: E402
from rcdm.viewer import auth, queries  # noqa: E402
from rcdm.viewer.app import create_app  # noqa: E402
from rcdm.viewer.settings import ViewerSettings  # noqa: E402

PASSWORD = "correct horse battery"
HOSTILE = "' OR 1=1 --"


def fill_viewer_db(path) -> None:
    """3 persons, 4 studies (one unmapped protocol), 10 images; a concept table and a cohort."""
    with connect(path) as conn:
        fill_viewer_tables(conn, "cdm")


def fill_viewer_tables(conn, schema: str) -> None:
    if True:
        create_schema(conn, schema)
        create_tables(conn, schema, "rcdm")
        insert_table(conn, schema, "radiology_occurrence", pd.DataFrame({
            "radiology_occurrence_id": [101, 102, 103, 104],
            "person_id": [1, 1, 2, 3],
            "radiology_occurrence_date": [dt.date(2019, 3, 1), dt.date(2020, 5, 2), dt.date(2020, 7, 9),
                                          dt.date(2021, 1, 15)],
            "modality": ["CT", "MR", "CT", "CR"],
            "protocol_concept_id": [40000001, 40000002, 40000001, 0],
            "protocol_source_value": ["CT HEAD WO", "MR BRAIN", "CT HEAD W/O", "XR CHEST PA"],
            "count_of_series": [2, 1, 1, 1],
            "count_of_images": [4, 3, 2, 1],
        }))
        images = []
        # contrast source values as the ETL writes them: '<phase>:<rule that decided it>'
        rows = [  # study, series, body part, plane source, plane concept, contrast source, modality
            (101, 11, "HEAD", "AXIAL", None, "pre:contrast_bolus_agent_none", "CT"),
            (101, 11, "HEAD", "AXIAL", None, "pre:contrast_bolus_agent_none", "CT"),
            (101, 12, "HEAD", None, "RID10570", "post:contrast_bolus_agent", "CT"),
            (101, 12, "HEAD", None, "RID10570", "post:contrast_bolus_agent", "CT"),
            (102, 21, "BRAIN", "SAGITTAL", None, None, "MR"), (102, 21, "BRAIN", "SAGITTAL", None, None, "MR"),
            (102, 21, "BRAIN", "SAGITTAL", None, None, "MR"),
            (103, 31, "head", "AXIAL", None, None, "CT"), (103, 31, "head", "AXIAL", None, None, "CT"),
            (104, 41, "CHEST", None, None, None, "CR"),
        ]
        for i, (study, series, body, plane, plane_concept, contrast, modality) in enumerate(rows):
            images.append({"radiology_image_id": 1000 + i, "radiology_occurrence_id": study,
                           "radiology_series_id": series, "file_path": f"s{study}/{series}/{i}.dcm",
                           "body_part_source_value": body, "anatomical_plane_source_value": plane,
                           "anatomical_plane_concept_id": plane_concept, "series_type_source_value": contrast,
                           "modality": modality, "series_serial_number": i % 4 + 1, "instance_number": i})
        insert_table(conn, schema, "radiology_image", pd.DataFrame(images))
        insert_table(conn, schema, "concept", pd.DataFrame({
            "concept_id": [40000001, 40000002], "concept_name": ["CT Head without contrast", "MR Brain"],
            "vocabulary_id": ["LOINC", "LOINC"]}), create_table=True)
        insert_table(conn, schema, "cohort", pd.DataFrame({
            "cohort_definition_id": [7], "subject_id": [2], "cohort_start_date": [dt.date(2020, 1, 1)],
            "cohort_end_date": [dt.date(2020, 12, 31)]}), create_table=True)


@pytest.fixture(scope="module")
def viewer_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("viewer") / "viewer.duckdb"
    fill_viewer_db(path)
    return path


@pytest.fixture(scope="module")
def users_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("users") / "users.json"
    auth.add_user("alice", PASSWORD, path, role="analyst")  # these tests read row-level pages
    return path


@pytest.fixture(scope="module")
def app(viewer_db, users_file):
    app = create_app(lambda: connect(viewer_db, read_only=True), "cdm", users_file, "test-secret")
    yield app
    app.state.viewer.pool.close()


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF token in the form"
    return m[1]


def login(client: TestClient, name: str = "alice", password: str = PASSWORD, next_path: str = "/"):
    token = csrf_of(client.get("/login").text)
    return client.post("/login", data={"username": name, "password": password, "csrf_token": token,
                                       "next": next_path}, follow_redirects=False)


@pytest.fixture
def client(app):
    with TestClient(app, base_url="http://localhost") as c:
        yield c


@pytest.fixture
def user(client):
    response = login(client)
    assert response.status_code == 303
    return client


PAGES = ["/", "/overview", "/protocols", "/combinations", "/search", "/search?modality=CT"]
JSON = ["/api", "/api/overview", "/api/protocols", "/api/combinations", "/api/search", "/search/manifest.csv"]


# -- access rules -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_pages_redirect_to_login_without_a_session(client, path):
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize("path", JSON)
def test_json_and_csv_answer_401_without_a_session(client, path):
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 401
    assert response.json() == {"error": "Log in first.", "status": 401}


def test_every_route_is_covered_by_the_access_tests(app):
    """A new route must be added to PAGES or JSON (so its refusal without login is tested), or be public."""
    paths = {getattr(r, "path", None) for r in app.routes}
    public = {"/login", "/logout", "/static", "/favicon.ico"}
    tested = {p.split("?")[0] for p in PAGES + JSON}
    assert paths - public - tested == set()


def test_unknown_paths_and_forged_cookies_are_refused(client):
    assert client.get("/api/nothing", follow_redirects=False).status_code == 401
    client.cookies.set(auth.COOKIE_NAME, "forged.value.here")
    assert client.get("/api/overview").status_code == 401


@pytest.mark.slow
def test_wrong_password_and_unknown_user_fail(client):
    assert login(client, password="wrong password").status_code == 401
    assert login(client, name="mallory").status_code == 401
    assert client.get("/api/overview").status_code == 401


def test_login_without_or_with_a_wrong_csrf_token_is_refused(client):
    client.get("/login")
    no_token = client.post("/login", data={"username": "alice", "password": PASSWORD}, follow_redirects=False)
    assert no_token.status_code == 403
    wrong = client.post("/login", data={"username": "alice", "password": PASSWORD, "csrf_token": "x" * 43},
                        follow_redirects=False)
    assert wrong.status_code == 403
    assert client.get("/api/overview").status_code == 401


def test_cross_site_origin_is_refused(client):
    token = csrf_of(client.get("/login").text)
    response = client.post("/login", data={"username": "alice", "password": PASSWORD, "csrf_token": token},
                           headers={"Origin": "https://evil.example"}, follow_redirects=False)
    assert response.status_code == 403


@pytest.mark.slow
def test_session_cookie_flags_and_security_headers(client):
    response = login(client)
    cookie = response.headers["set-cookie"]
    assert auth.COOKIE_NAME in cookie and "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert "secure" not in cookie.lower().replace("samesite", "")  # plain http in tests
    page = client.get("/overview")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"


def test_secure_cookie_option(viewer_db, users_file):
    app = create_app(lambda: connect(viewer_db, read_only=True), "cdm", users_file, "s",
                     settings=ViewerSettings(https=True))
    with TestClient(app, base_url="http://localhost") as c:
        response = c.get("/login")
    assert "; secure" in response.headers["set-cookie"].lower()
    assert response.headers["strict-transport-security"].startswith("max-age=")


@pytest.mark.slow
def test_login_redirects_only_to_local_paths(client):
    assert login(client, next_path="https://evil.example/").headers["location"] == "/"
    client.cookies.clear()
    assert login(client, next_path="/protocols").headers["location"] == "/protocols"


def test_logout_needs_csrf_and_ends_the_session(user):
    page = user.get("/overview").text
    old_cookie = user.cookies.get(auth.COOKIE_NAME)
    assert user.post("/logout", data={}, follow_redirects=False).status_code == 403
    assert user.get("/api/overview").status_code == 200
    response = user.post("/logout", data={"csrf_token": csrf_of(page)}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert user.get("/api/overview").status_code == 401
    user.cookies.set(auth.COOKIE_NAME, old_cookie)  # replaying the old cookie does not bring the session back
    assert user.get("/api/overview").status_code == 401
    assert user.get("/overview", follow_redirects=False).status_code == 303


@pytest.mark.slow
def test_login_rate_limit(viewer_db, users_file):
    from rcdm.viewer.settings import ViewerSettings
    from rcdm.viewer.throttle import ThrottleSettings

    settings = ViewerSettings(throttle=ThrottleSettings(free_attempts=3, base_delay=600, max_delay=600))
    app = create_app(lambda: connect(viewer_db, read_only=True), "cdm", users_file, "s", settings=settings)
    with TestClient(app, base_url="http://localhost") as c:
        for _ in range(3):
            assert login(c, password="nope nope nope").status_code == 401
        refused = login(c)
        assert refused.status_code == 429  # even the right password, from this address, for a while
        assert 500 <= int(refused.headers["retry-after"]) <= 600


# -- pages and their JSON twins -------------------------------------------------------------------------------


def test_overview(user):
    data = user.get("/api/overview").json()
    assert data["summary"] == {"persons": 3, "studies": 4, "series": 5, "images": 10}
    assert {r["year"]: (r["studies"], r["images"]) for r in data["by_year"]} == {2019: (1, 4), 2020: (2, 5),
                                                                                 2021: (1, 1)}
    assert {r["modality"]: r["studies"] for r in data["by_modality"]} == {"CT": 2, "MR": 1, "CR": 1}
    plane = next(c for c in data["quality"]["radiology_image"] if c["column"] == "anatomical_plane_source_value")
    assert (plane["mapped"], plane["rows"]) == (7, 10)
    html = user.get("/overview").text
    assert 'id="chart-by-year"' in html and "/static/chart.umd.min.js" in html
    assert re.search(r'data-key="images">10<', html)
    assert "<meter" in html and "anatomical_plane_source_value" in html


def test_protocols(user):
    data = user.get("/api/protocols").json()
    assert [(p["protocol_concept_id"], p["concept_name"], p["studies"], p["images"]) for p in data["protocols"]] == [
        (40000001, "CT Head without contrast", 2, 6), (40000002, "MR Brain", 1, 3)]
    assert data["protocols"][0]["source_values"] == 2
    assert [(u["protocol_source_value"], u["studies"], u["images"]) for u in data["unmapped"]] == [
        ("XR CHEST PA", 1, 1)]
    assert data["mapped_studies"] == 3 and data["studies"] == 4
    html = user.get("/protocols").text
    assert "CT Head without contrast" in html and "XR CHEST PA" in html


def test_combinations_sort_and_filter(user):
    data = user.get("/api/combinations").json()
    rows = {(r["modality"], r["body_part"], r["anatomical_plane"], r["contrast_phase"], r["protocol_concept_id"]):
            (r["studies"], r["series"], r["images"]) for r in data["combinations"]}
    assert rows[("CT", "HEAD", "axial", None, 40000001)] == (1, 1, 2)  # 'head' upper-cased, study 103
    assert rows[("CT", "HEAD", "axial", "pre", 40000001)] == (1, 1, 2)
    assert rows[("CT", "HEAD", "coronal", "post", 40000001)] == (1, 1, 2)  # plane from the RadLex id
    assert rows[("MR", "BRAIN", "sagittal", None, 40000002)] == (1, 1, 3)
    assert data["total"] == 5
    images = [r["images"] for r in data["combinations"]]
    assert images == sorted(images, reverse=True)
    asc = user.get("/api/combinations?sort=modality&order=asc").json()["combinations"]
    assert [r["modality"] for r in asc] == sorted(r["modality"] for r in asc)
    assert user.get("/api/combinations?q=brain").json()["matched"] == 1
    assert user.get(f"/api/combinations?q={HOSTILE}").json()["matched"] == 0
    assert user.get("/api/combinations?sort=images;DROP").status_code == 400
    html = user.get("/combinations?q=sagittal").text
    assert "1 of 5 combinations" in html and "BRAIN" in html


def search(user, **params):
    response = user.get("/api/search", params=params)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.slow
def test_search_filters(user):
    assert search(user)["counts"] == {"persons": 3, "studies": 4, "series": 5, "images": 10}
    assert search(user, modality="ct")["counts"] == {"persons": 2, "studies": 2, "series": 3, "images": 6}
    assert search(user, body_part="head", plane="axial")["counts"]["images"] == 4
    assert search(user, plane="coronal")["counts"]["images"] == 2  # from anatomical_plane_concept_id
    assert search(user, contrast="post")["counts"]["images"] == 2
    assert search(user, contrast="pre")["counts"]["images"] == 2
    assert search(user, protocol_concept_id="0")["counts"]["studies"] == 1
    assert search(user, date_from="2020-01-01", date_to="2020-12-31")["counts"]["studies"] == 2
    assert search(user, cohort_id="7")["counts"] == {"persons": 1, "studies": 1, "series": 1, "images": 2}
    result = search(user, protocol_concept_id="40000001")
    assert [s["radiology_occurrence_id"] for s in result["studies"]] == [103, 101]  # newest first
    assert result["studies"][0]["radiology_occurrence_date"] == "2020-07-09"
    assert result["studies"][0]["concept_name"] == "CT Head without contrast"
    assert set(result["studies"][0]) >= {"person_id", "radiology_occurrence_id", "series", "images"}


def test_search_pages(user):
    first = search(user, page_size="10")
    assert first["pages"] == 1 and len(first["studies"]) == 4
    assert user.get("/api/search?page_size=7").status_code == 400
    assert user.get("/api/search?page=0").status_code == 400


@pytest.mark.parametrize("field", ["modality", "body_part"])
def test_hostile_text_is_bound_not_spliced(user, field):
    """Free-text values go to the driver as bound values: SQL in them matches nothing and runs nothing."""
    response = user.get("/api/search", params={field: "CT' OR '1'='1"})
    assert response.status_code in (200, 400)
    if response.status_code == 200:
        assert response.json()["counts"]["images"] == 0
    response = user.get("/api/search", params={field: HOSTILE})
    assert response.status_code in (200, 400)
    if response.status_code == 200:
        assert response.json()["counts"]["images"] == 0
    # passes the length/character check, so it reaches the database: bound as a value, it matches nothing
    response = user.get("/api/search", params={field: "CT; DROP TABLE cdm.radiology_image"})
    assert response.status_code == 200 and response.json()["counts"]["images"] == 0
    assert user.get("/api/search").json()["counts"]["images"] == 10


@pytest.mark.parametrize("params", [
    {"plane": HOSTILE}, {"contrast": "pre' OR 1=1 --"}, {"protocol_concept_id": "1 OR 1=1"},
    {"cohort_id": "7; DROP TABLE cdm.cohort"}, {"date_from": "2020-01-01' --"}, {"page_size": "25 --"},
    {"modality": "x" * 200}, {"date_from": "2021-01-01", "date_to": "2020-01-01"},
])
def test_invalid_filters_are_refused(user, params):
    response = user.get("/api/search", params=params)
    assert response.status_code == 400
    assert "error" in response.json()
    page = user.get("/search", params=params)
    assert page.status_code == 400 and 'id="search-error"' in page.text


def test_tables_are_intact_after_hostile_input(user, viewer_db):
    user.get("/api/search", params={"cohort_id": "7; DROP TABLE cdm.cohort"})
    user.get("/api/search", params={"modality": "CT'; DELETE FROM cdm.radiology_image; --"})
    assert search(user, cohort_id="7")["counts"]["images"] == 2
    assert search(user)["counts"]["images"] == 10


def test_search_page_and_manifest(user):
    html = user.get("/search?modality=CT&plane=axial").text
    assert re.search(r'data-key="images">4<', html)
    link = re.search(r'id="manifest-link" href="([^"]+)"', html)[1].replace("&amp;", "&")
    assert link == "/search/manifest.csv?modality=CT&plane=axial"
    csv = user.get(link)
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.strip().splitlines()
    assert lines[0].split(",") == list(queries.MANIFEST_COLUMNS)
    assert len(lines) == 1 + 4
    assert all(",axial," in line for line in lines[1:])
    assert "person_1/study_101/series_11/" in csv.text  # relative_path, as rcdm.extract lays files out


def test_no_patient_identifiers_in_search_results(user):
    body = user.get("/api/search").text
    for word in ("patient_id", "patient_name", "source_value\": \"1.2."):
        assert word not in body


def test_json_errors_are_uniform(user):
    response = user.get("/api/search?date_from=yesterday")
    assert response.json()["status"] == 400 and "YYYY-MM-DD" in response.json()["error"]


# -- the viewer opens the database read-only ------------------------------------------------------------------


def test_viewer_connections_refuse_writes(app, viewer_db):
    with app.state.viewer.pool.connection() as conn:
        assert conn.read_only
        with pytest.raises(DatabaseError):
            execute_sql(conn, "DELETE FROM cdm.radiology_image;")
        assert query_sql(conn, "SELECT COUNT(*) AS n FROM cdm.radiology_image;")["n"][0] == 10


def test_read_only_connect_on_sqlite(tmp_path):
    path = tmp_path / "ro.db"
    with connect(path) as conn:
        insert_table(conn, "main", "t", pd.DataFrame({"a": [1]}), create_table=True)
    with connect(path, read_only=True) as conn:
        with pytest.raises(DatabaseError):
            execute_sql(conn, "INSERT INTO main.t (a) VALUES (2);")
        assert query_sql(conn, "SELECT COUNT(*) AS n FROM main.t;")["n"][0] == 1


def test_read_only_connect_on_postgresql(postgres_url):
    with connect(postgres_url) as conn:
        execute_sql(conn, "DROP TABLE IF EXISTS public.rcdm_viewer_ro; CREATE TABLE public.rcdm_viewer_ro (a INT);")
    try:
        with connect(postgres_url, read_only=True) as conn:
            with pytest.raises(DatabaseError, match="read-only"):
                execute_sql(conn, "INSERT INTO public.rcdm_viewer_ro (a) VALUES (1);")
    finally:
        with connect(postgres_url) as conn:
            execute_sql(conn, "DROP TABLE IF EXISTS public.rcdm_viewer_ro;")


# -- summary tables ----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_build_summary_gives_the_same_pages(tmp_path, users_file):
    path = tmp_path / "summary.duckdb"
    fill_viewer_db(path)
    with connect(path) as conn:
        result = queries.build_summary(conn, "cdm")
    assert result["series_rows"] == 5  # one row per series: attributes are the same within each series here
    app = create_app(lambda: connect(path, read_only=True), "cdm", users_file, "s")
    with TestClient(app, base_url="http://localhost") as c:
        login(c)
        overview = c.get("/api/overview").json()
        assert overview["summary_built_at"] == result["built_at"]
        assert overview["summary"] == {"persons": 3, "studies": 4, "series": 5, "images": 10}
        assert c.get("/api/search", params={"modality": "CT"}).json()["counts"] == {
            "persons": 2, "studies": 2, "series": 3, "images": 6}
        assert c.get("/api/search", params={"plane": "coronal", "contrast": "post"}).json()["counts"]["images"] == 2
        assert len(c.get("/api/combinations").json()["combinations"]) == 5
        assert "From the summary built at" in c.get("/overview").text
    app.state.viewer.pool.close()


# -- users file and CLI ------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_users_file_holds_argon2_hashes_only(tmp_path):
    path = tmp_path / "u.json"
    auth.add_user("bob", "a long password", path)
    text = path.read_text()
    assert "a long password" not in text and "$argon2id$" in text
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    users = auth.load_users(path)
    assert auth.verify(users, "bob", "a long password")
    assert not auth.verify(users, "bob", "a long passwort")
    with pytest.raises(UsageError):
        auth.add_user("bob", "short", path)
    with pytest.raises(UsageError):
        auth.add_user("bob'; --", "a long password", path)


@pytest.mark.slow
def test_cli_add_user_with_password_stdin(tmp_path):
    path = tmp_path / "cli-users.json"
    out = subprocess.run([sys.executable, "-m", "rcdm", "viewer", "add-user", "carol", "--users", str(path),
                          "--password-stdin"], input="another long password\n", capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert auth.verify(auth.load_users(path), "carol", "another long password")


def test_cli_viewer_refuses_to_start_without_users(tmp_path, viewer_db):
    from rcdm.cli import main

    assert main(["viewer", "--db", str(viewer_db), "--users", str(tmp_path / "none.json")]) == 2


@pytest.mark.slow
def test_cli_build_summary(tmp_path, capsys):
    from rcdm.cli import main

    path = tmp_path / "cli-summary.duckdb"
    fill_viewer_db(path)
    assert main(["viewer", "build-summary", "--db", str(path), "--schema", "cdm"]) == 0
    assert "viewer summary built" in capsys.readouterr().out


def test_missing_viewer_extra_names_the_pip_command(monkeypatch):
    import importlib.util

    from rcdm.errors import MissingDriverError
    from rcdm.viewer import require

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "starlette" else real(name, *a))
    with pytest.raises(MissingDriverError, match=r"pip install 'rcdm\[viewer\]'"):
        require()


@pytest.mark.slow
def test_search_without_filters_uses_the_summary_totals(tmp_path, users_file):
    path = tmp_path / "totals.duckdb"
    fill_viewer_db(path)
    with connect(path) as conn:
        queries.build_summary(conn, "cdm")
    with connect(path, read_only=True) as conn:
        source = queries.ViewerSource.detect(conn, "cdm")
        stored = queries.read_summary(conn, source)
        assert stored["search_totals"] == {"persons": 3, "studies": 4, "series": 5, "images": 10}
        fake = {"persons": 1, "studies": 2, "series": 3, "images": 4}
        assert queries.search(conn, source, queries.SearchFilters(), totals=fake)["counts"] == fake
        assert queries.search(conn, source, queries.parse_filters({"modality": "MR"}), totals=fake)["counts"] == {
            "persons": 1, "studies": 1, "series": 1, "images": 3}


# -- the templates on other databases ------------------------------------------------------------------------------


VIEWER_TEMPLATES = [("ViewerProtocols.sql", {"use_vocabulary": "TRUE"}), ("ViewerCombinations.sql", {}),
                    ("ViewerBuildSummary.sql", {})] + [
    ("ViewerSearch.sql", {"output": output, "use_summary": summary, "filter_modality": "TRUE", "filter_plane": "TRUE",
                          "filter_cohort": "TRUE"})
    for output in ("counts", "studies", "images") for summary in ("TRUE", "FALSE")]


@pytest.mark.parametrize("name,params", VIEWER_TEMPLATES,
                         ids=[f"{n[:-4]}-{'-'.join(p.values())}" if p else n[:-4] for n, p in VIEWER_TEMPLATES])
@pytest.mark.parametrize("dialect", ["sql server", "postgresql", "oracle", "bigquery", "snowflake", "spark", "redshift",
                                     "synapse", "sqlite", "duckdb"])
def test_viewer_templates_translate_to_every_dialect(dialect, name, params):
    sql = translate(render(read_template(name), **params), dialect, temp_emulation_schema="scratch")
    assert split_sql(sql), (name, params)


def test_viewer_queries_on_postgresql(postgres_url):
    schema = "viewer_http_test"
    with connect(postgres_url) as conn:
        execute_sql(conn, f"DROP SCHEMA IF EXISTS {schema} CASCADE;")
        fill_viewer_tables(conn, schema)
        summary = queries.build_summary(conn, schema)
        assert summary["series_rows"] == 5
    try:
        with connect(postgres_url, read_only=True) as conn:
            source = queries.ViewerSource.detect(conn, schema)
            assert source.has_summary and source.has_vocabulary and source.has_cohort
            live = queries.ViewerSource(**{**source.__dict__, "has_summary": False})
            assert queries.overview(conn, live)["summary"] == {"persons": 3, "studies": 4, "series": 5, "images": 10}
            assert queries.protocols(conn, live)["protocols"][0]["concept_name"] == "CT Head without contrast"
            assert len(queries.combinations(conn, live)) == 5
            for src in (source, live):
                ct = queries.search(conn, src, queries.parse_filters({"modality": "CT", "plane": "axial"}))
                assert ct["counts"] == {"persons": 2, "studies": 2, "series": 2, "images": 4}
                assert [s["radiology_occurrence_id"] for s in ct["studies"]] == [103, 101]
                cohort = queries.search(conn, src, queries.parse_filters({"cohort_id": "7", "date_from": "2020-01-01"}))
                assert cohort["counts"]["images"] == 2
                hostile = queries.search(conn, src, queries.parse_filters({"body_part": "HEAD; DROP TABLE cohort"}))
                assert hostile["counts"]["images"] == 0
            manifest = queries.manifest_csv(queries.manifest_frame(conn, source,
                                                                   queries.parse_filters({"contrast": "post"})))
            assert len(manifest.strip().splitlines()) == 3
    finally:
        with connect(postgres_url) as conn:
            execute_sql(conn, f"DROP SCHEMA IF EXISTS {schema} CASCADE;")
