"""The web app through Starlette's TestClient: sign-in, roles, CSRF, escaping, the JSON API."""

from __future__ import annotations

import re
import stat
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select
from starlette.testclient import TestClient

from narrative_tracker.storage.database import open_database
from narrative_tracker.storage.models import ApiToken, Label, LabelledText, WebUser
from narrative_tracker.web.accounts import create_token, set_role
from narrative_tracker.web.app import create_app, load_secret
from narrative_tracker.web.auth import guard

from helpers.web import (
    ACTIVE_PATTERN,
    PASSWORD,
    RUSSIAN_WORD,
    SECRET,
    WebWorld,
    build_web_world,
    fast_password_hashing,
)
from helpers.world import ARMS_PAUSE, World

PAGES = ["/", "/narratives", f"/narratives/{ARMS_PAUSE}", "/articles", "/models", "/sources", "/jobs"]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[WebWorld]:
    """One world for the module (building it and hashing passwords is the slow part); tests that
    store labels remove them again."""
    home = tmp_path_factory.mktemp("web")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NARRATIVE_TRACKER_HOME", str(home / "home"))
        fast_password_hashing(patch)
        database = open_database(f"sqlite:///{home / 'home' / 'tracker.db'}")  # the settings' default
        yield build_web_world(database)
    database.dispose()


@pytest.fixture(autouse=True)
def _no_labels_left(world) -> Iterator[None]:
    yield
    with world.database.session() as session:
        session.execute(delete(Label))
        session.execute(delete(LabelledText))
        session.execute(delete(ApiToken))


@pytest.fixture
def app(world):
    return create_app(world.settings, world.database, secret=SECRET)


def _csrf(client: TestClient, path: str = "/login") -> str:
    page = client.get(path)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text[:500]
    return match.group(1)


def signed_in(app, role: str) -> TestClient:
    client = TestClient(app, base_url="http://127.0.0.1")
    token = _csrf(client)
    answer = client.post("/login", data={"username": role, "password": PASSWORD, "csrf_token": token},
                         follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return client


def _labels(world: WebWorld) -> int:
    with world.database.session() as session:
        return session.scalar(select(func.count()).select_from(Label)) or 0


def test_every_page_without_a_session_goes_to_login_and_the_api_answers_401(app):
    client = TestClient(app, base_url="http://127.0.0.1")
    for path in PAGES:
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login?next="), path
    assert client.get("/api/v1/articles").status_code == 401
    assert client.get("/api/v1/openapi.json").status_code == 401
    assert client.get("/healthz").status_code == 200
    assert client.get("/static/app.css").status_code == 200


def test_every_route_but_login_and_health_is_guarded(app):
    for route in app.routes:
        path = getattr(route, "path", "")
        if path in ("/login", "/logout", "/healthz") or path.startswith("/static"):
            continue
        assert hasattr(route.endpoint, "permission"), f"{path} has no guard"
    assert guard  # the one wrapper every endpoint goes through


def test_a_wrong_password_says_so_and_a_burst_is_rate_limited(app):
    client = TestClient(app, base_url="http://127.0.0.1")
    token = _csrf(client)
    answers = [
        client.post("/login", data={"username": "viewer", "password": "nope", "csrf_token": token})
        for _ in range(7)
    ]
    assert answers[0].status_code == 401 and "Wrong user name or password" in answers[0].text
    assert answers[-1].status_code == 429 and "Too many failed attempts" in answers[-1].text
    # Even the right password is refused while the limit holds.
    right = client.post("/login", data={"username": "viewer", "password": PASSWORD, "csrf_token": token})
    assert right.status_code == 429


def test_login_without_its_csrf_token_is_refused(app):
    client = TestClient(app, base_url="http://127.0.0.1")
    client.get("/login")
    answer = client.post("/login", data={"username": "viewer", "password": PASSWORD}, follow_redirects=False)
    assert answer.status_code == 403
    assert "nt_session" not in answer.cookies


def test_next_after_login_stays_on_this_site(app):
    client = TestClient(app, base_url="http://127.0.0.1")
    token = _csrf(client)
    answer = client.post("/login", data={"username": "viewer", "password": PASSWORD, "csrf_token": token,
                                         "next": "//evil.example/x"}, follow_redirects=False)
    assert answer.headers["location"] == "/"


def test_session_cookie_is_httponly_and_samesite(app):
    client = TestClient(app, base_url="http://127.0.0.1")
    token = _csrf(client)
    answer = client.post("/login", data={"username": "viewer", "password": PASSWORD, "csrf_token": token},
                         follow_redirects=False)
    cookie = answer.headers["set-cookie"]
    assert "nt_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie


def test_pages_render_for_a_viewer_with_a_strict_csp_and_hostile_text_inert(app, world):
    client = signed_in(app, "viewer")
    for path in [*PAGES, f"/articles/{world.hostile_id}", f"/articles?q={RUSSIAN_WORD}"]:
        answer = client.get(path)
        assert answer.status_code == 200, (path, answer.text[:300])
        csp = answer.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert not ACTIVE_PATTERN.search(answer.text), (path, ACTIVE_PATTERN.search(answer.text))
        assert "<script>" not in answer.text.replace('<script src="/static/app.js" defer></script>', "")
        assert 'href="javascript' not in answer.text.lower()
        for link in re.findall(r'<a [^>]*href="http[^>]*>', answer.text):
            assert 'rel="noopener noreferrer"' in link, link


def test_today_shows_the_crossover_with_evidence_and_a_chart(app, world):
    page = signed_in(app, "viewer").get("/").text
    assert "crossover" in page and "Russian state media pushed it 61 times" in page
    assert "Pause in arms deliveries" in page
    assert '<svg class="chart"' in page


def test_today_is_gathered_again_when_the_alerts_or_the_trends_change(app, world):
    from dataclasses import replace

    from narrative_tracker.trends.alerts.reporting import store_alerts
    from narrative_tracker.trends.daily import update_trends
    from narrative_tracker.web.data import stored_alerts

    client, cache = signed_in(app, "viewer"), app.state.today_cache
    assert "pushed it 61 times" in client.get("/").text
    assert "pushed it 61 times" in client.get("/").text
    assert cache.builds == 1  # the second answer came from the cache
    original = stored_alerts(world.database, world.day)
    try:
        # An evaluation replaces the day's rows (the same ids come back after the delete in SQLite).
        changed = [replace(alert, reason="Russian state media pushed it 99 times") for alert in original]
        with world.database.session() as session:
            store_alerts(session, changed, world.day)
        assert "pushed it 99 times" in client.get("/").text and cache.builds == 2
    finally:
        with world.database.session() as session:
            store_alerts(session, original, world.day)
    assert "pushed it 61 times" in client.get("/").text and cache.builds == 3
    update_trends(world.database, "UTC")  # a trends run may have changed the table and the charts
    client.get("/")
    assert cache.builds == 4
    client.get("/", params={"date": (world.day - timedelta(days=1)).isoformat()})
    assert cache.builds == 5 and "pushed it 61 times" in client.get("/").text and cache.builds == 5


def test_search_finds_an_article_by_a_russian_word(app, world):
    page = signed_in(app, "viewer").get("/articles", params={"q": RUSSIAN_WORD}).text
    assert "Вашингтон и перемирие" in page
    assert "Pause in arms deliveries" not in page


def test_a_viewer_cannot_label_and_nothing_is_stored(app, world):
    client = signed_in(app, "viewer")
    token = _csrf(client, f"/articles/{world.plain_id}")
    answer = client.post(f"/articles/{world.plain_id}/labels",
                         data={"csrf_token": token, f"verdict:{ARMS_PAUSE}": "accept"}, follow_redirects=False)
    assert answer.status_code == 403
    api = client.post("/api/v1/labels", json={"article_id": world.plain_id, "narratives": [ARMS_PAUSE]},
                      headers={"X-CSRF-Token": token})
    assert api.status_code == 403
    assert _labels(world) == 0


def test_an_analyst_labels_through_the_form_and_a_form_without_csrf_is_refused(app, world):
    client = signed_in(app, "analyst")
    refused = client.post(f"/articles/{world.plain_id}/labels", data={f"verdict:{ARMS_PAUSE}": "accept"},
                          follow_redirects=False)
    assert refused.status_code == 403 and _labels(world) == 0
    token = _csrf(client, f"/articles/{world.plain_id}")
    done = client.post(f"/articles/{world.plain_id}/labels",
                       data={"csrf_token": token, f"verdict:{ARMS_PAUSE}": "accept", f"stance:{ARMS_PAUSE}": "reports"},
                       follow_redirects=False)
    assert done.status_code == 303
    with world.database.session() as session:
        label = session.scalars(select(Label)).one()
        assert (label.narrative_id, label.positive, label.stance, label.labeller) == (ARMS_PAUSE, True, "reports",
                                                                                      "analyst")


def test_a_cross_site_post_is_refused_even_with_a_token(app, world):
    client = signed_in(app, "analyst")
    token = _csrf(client, f"/articles/{world.plain_id}")
    answer = client.post(f"/articles/{world.plain_id}/labels",
                         data={"csrf_token": token, f"verdict:{ARMS_PAUSE}": "accept"},
                         headers={"Sec-Fetch-Site": "cross-site"}, follow_redirects=False)
    assert answer.status_code == 403 and _labels(world) == 0


def test_role_change_and_sign_out_end_sessions(app, world):
    client = signed_in(app, "analyst")
    assert client.get("/queue", follow_redirects=False).status_code != 303
    set_role(world.database, "analyst", "viewer")
    assert client.get("/", follow_redirects=False).status_code == 303
    set_role(world.database, "analyst", "analyst")
    client = signed_in(app, "viewer")
    old_cookie = client.cookies.get("nt_session")
    token = _csrf(client, "/")
    client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    replay = TestClient(app, base_url="http://127.0.0.1", cookies={"nt_session": old_cookie})
    assert replay.get("/", follow_redirects=False).status_code == 303


def test_a_tampered_session_cookie_is_ignored(app, world):
    client = signed_in(app, "admin")
    value = client.cookies.get("nt_session")
    forged = TestClient(app, base_url="http://127.0.0.1", cookies={"nt_session": value[:-2] + "xx"})
    assert forged.get("/", follow_redirects=False).status_code == 303


def test_admin_only_actions_answer_403_to_an_analyst(app, world):
    client = signed_in(app, "analyst")
    token = _csrf(client, "/models")
    assert client.get("/models/rollback").status_code == 403
    assert client.post("/models/rollback", data={"csrf_token": token}).status_code == 403
    assert client.post("/models/m1/promote", data={"csrf_token": token}).status_code == 403


# ---------------------------------------------------------------- API
def test_api_with_a_bearer_token(app, world):
    token = create_token(world.database, "reader", "viewer")
    client = TestClient(app, base_url="http://127.0.0.1", headers={"Authorization": f"Bearer {token}"})
    spec = client.get("/api/v1/openapi.json").json()
    assert {"/alerts", "/trends", "/narratives", "/articles", "/articles/{id}", "/labels"} <= set(spec["paths"])
    alerts = client.get("/api/v1/alerts", params={"date": world.day.isoformat()}).json()
    assert alerts["alerts"][0]["kind"] == "crossover"
    trends = client.get("/api/v1/trends", params={"narrative": ARMS_PAUSE, "group": "russian-state", "days": 7})
    assert trends.status_code == 200 and trends.json()["rows"]
    assert any(n["id"] == ARMS_PAUSE for n in client.get("/api/v1/narratives").json()["narratives"])
    one = client.get(f"/api/v1/articles/{world.plain_id}").json()
    fields = ("url", "source", "group", "title", "text", "lang", "published_at", "fetched_at", "duplicate_of",
              "narratives")
    assert set(fields) <= set(one) and one["id"] == world.plain_id
    assert client.get("/api/v1/articles/999999").status_code == 404
    assert client.get("/api/v1/articles", params={"since": "yesterday"}).json()["error"].startswith("since=")
    denied = client.post("/api/v1/labels", json={"article_id": world.plain_id, "narratives": [ARMS_PAUSE]})
    assert denied.status_code == 403 and _labels(world) == 0
    assert TestClient(app, headers={"Authorization": "Bearer ntk_wrong"}).get("/api/v1/alerts").status_code == 401


def test_api_articles_pages_with_a_keyset_cursor_and_filters(app, world):
    token = create_token(world.database, "reader", "viewer")
    client = TestClient(app, base_url="http://127.0.0.1", headers={"Authorization": f"Bearer {token}"})
    seen: list[int] = []
    cursor = None
    for _ in range(50):  # bounded
        page = client.get("/api/v1/articles", params={"limit": 40, **({"cursor": cursor} if cursor else {})}).json()
        seen += [a["id"] for a in page["articles"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen)) and len(seen) > 40
    russian = client.get("/api/v1/articles", params={"q": RUSSIAN_WORD, "lang": "ru"}).json()["articles"]
    assert [a["id"] for a in russian] == [world.russian_id]
    reports = client.get("/api/v1/articles", params={"narrative": ARMS_PAUSE, "stance": "reports"}).json()
    assert [a["id"] for a in reports["articles"]] == [world.plain_id]
    western = client.get("/api/v1/articles", params={"group": "western", "source": "wire", "limit": 200}).json()
    assert western["articles"] and all(a["group"] == "western" for a in western["articles"])


def test_api_labels_by_an_analyst_token_are_stored_like_imported_labels(app, world):
    token = create_token(world.database, "labeller", "analyst")
    client = TestClient(app, base_url="http://127.0.0.1", headers={"Authorization": f"Bearer {token}"})
    answer = client.post("/api/v1/labels", json={"article_id": world.plain_id, "narratives": [ARMS_PAUSE],
                                                 "stance": {ARMS_PAUSE: "refutes"}})
    assert answer.status_code == 201, answer.text
    with world.database.session() as session:
        label = session.scalars(select(Label)).one()
        assert (label.stance, label.labeller, label.positive) == ("refutes", "labeller", True)
        text = session.scalars(select(LabelledText)).one()
        assert (text.article_id, text.complete, text.dataset) == (world.plain_id, True, "analyst")
    # Labelled again, as carrying none: the earlier label goes, the record stays complete.
    none = client.post("/api/v1/labels", json={"article_id": world.plain_id, "narratives": [], "stance": {}})
    assert none.status_code == 201
    with world.database.session() as session:
        assert session.scalars(select(Label)).all() == []
        assert session.scalars(select(LabelledText.complete)).one() is True
    bad = client.post("/api/v1/labels", json={"article_id": world.plain_id, "narratives": ["no-such"]})
    assert bad.status_code == 400 and "no-such" in bad.json()["error"]
    assert client.post("/api/v1/labels", json={"article_id": 999999, "narratives": []}).status_code == 404


def test_a_session_cookie_on_the_api_still_needs_the_csrf_header(app, world):
    client = signed_in(app, "analyst")
    answer = client.post("/api/v1/labels", json={"article_id": world.plain_id, "narratives": [ARMS_PAUSE]})
    assert answer.status_code == 403 and _labels(world) == 0


def test_the_session_secret_is_made_once_and_owner_only(tmp_path):
    first = load_secret(tmp_path / "home")
    assert load_secret(tmp_path / "home") == first and len(first) > 40
    mode = stat.S_IMODE((tmp_path / "home" / "web-secret").stat().st_mode)
    assert mode == 0o600


def test_passwords_are_stored_as_argon2_hashes(world):
    with world.database.session() as session:
        stored = session.scalars(select(WebUser.password_hash)).all()
    assert stored and all(h.startswith("$argon2") and PASSWORD not in h for h in stored)


def test_only_an_admin_runs_a_job_now_and_it_lands_in_the_history(app, world):
    from narrative_tracker.jobs.history import list_runs

    from helpers.polling import wait_for

    analyst = signed_in(app, "analyst")
    token = _csrf(analyst, "/jobs")
    assert analyst.post("/jobs/trends/run", data={"csrf_token": token}).status_code == 403
    assert list_runs(world.database, job="trends") == []
    admin = signed_in(app, "admin")
    token = _csrf(admin, "/jobs")
    assert admin.post("/jobs/no-such-job/run", data={"csrf_token": token}).status_code == 404
    answer = admin.post("/jobs/trends/run", data={"csrf_token": token})
    assert answer.status_code == 200 and "Job trends started by admin" in answer.text
    runs = wait_for(lambda: [r for r in list_runs(world.database, job="trends") if r.status != "running"], 60,
                    "the trends job started from the web app to finish")
    assert [r.status for r in runs] == ["success"], runs


def test_cookies_are_secure_when_the_public_address_is_https(world):
    from dataclasses import replace

    from narrative_tracker.settings import WebSettings

    settings = replace(world.settings, web=WebSettings(base_url="https://tracker.example.org"))
    # Behind the proxy the browser speaks https: it sends Secure cookies back only then.
    client = TestClient(create_app(settings, world.database, secret=SECRET), base_url="https://127.0.0.1")
    token = _csrf(client)
    answer = client.post("/login", data={"username": "viewer", "password": PASSWORD, "csrf_token": token},
                         follow_redirects=False)
    assert answer.status_code == 303
    assert all("Secure" in cookie for cookie in answer.headers.get_list("set-cookie"))


def test_search_folds_case_in_russian_on_both_databases(database):
    from datetime import date

    from narrative_tracker.web.data import ArticleFilters, search_articles

    world = World(database)
    world.source("rt-ru", "russian-state")
    [capitalised] = world.articles("rt-ru", date(2026, 11, 30), lang="ru", title="Перемирие сорвано", text="Текст.")
    [lower] = world.articles("rt-ru", date(2026, 11, 30), lang="ru", title="Новости", text="Снова о перемирие.")
    world.articles("rt-ru", date(2026, 11, 30), lang="ru", title="Погода", text="Морозы.")
    found, _ = search_articles(database, ArticleFilters(q="перемирие"))
    assert sorted(a["id"] for a in found) == sorted([capitalised, lower])
    found, _ = search_articles(database, ArticleFilters(q="ПЕРЕМИРИЕ сорвано"))
    assert [a["id"] for a in found] == [capitalised]
    found, _ = search_articles(database, ArticleFilters(q="100%_"))  # wildcards are only characters
    assert found == []


def test_the_today_fingerprint_follows_feeds_model_and_alerts_on_both_databases(database):
    from datetime import UTC, date, datetime

    from sqlalchemy import update

    from narrative_tracker.storage.models import ModelVersion
    from narrative_tracker.trends.alerts import AlertRecord
    from narrative_tracker.trends.alerts.reporting import store_alerts
    from narrative_tracker.web.todaycache import fingerprint

    day = date(2026, 11, 30)
    world = World(database)
    world.source("wire", "western")
    world.feed("wire", "https://wire.example/a.xml")
    seen = [fingerprint(database, day)]
    world.feed("wire", "https://wire.example/b.xml", failures=6, healthy=False)
    seen.append(fingerprint(database, day))
    assert seen[1][3] == (2, 1)  # two feeds, one unhealthy
    with database.session() as session:  # a promotion: the evidence stances are the new model's
        session.execute(update(ModelVersion).values(status="retired"))
        session.add(ModelVersion(version="m2", status="active", promoted_at=datetime(2026, 11, 29, tzinfo=UTC)))
    seen.append(fingerprint(database, day))
    with database.session() as session:
        store_alerts(session, [AlertRecord(day, "spike", f"{ARMS_PAUSE}|western", ARMS_PAUSE, 5.0, "r", {})], day)
    seen.append(fingerprint(database, day))
    assert len(set(seen)) == 4
    assert fingerprint(database, day - timedelta(days=1)) != seen[-1]  # another day's alerts are apart
