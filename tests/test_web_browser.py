"""The web app in a real browser: Playwright for Python driving Debian's Chromium, launched by
path (never a downloaded browser), against the app served by uvicorn on 127.0.0.1.

Every request that would leave 127.0.0.1 is intercepted, recorded and aborted; every dialog is
recorded (and dismissed). A screenshot of each page goes to build/test-artifacts/web/ (or
$NARRATIVE_TRACKER_TEST_ARTIFACTS).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import delete, func, select

from narrative_tracker.storage.database import Database, open_database
from narrative_tracker.storage.models import Article, Label, LabelledText, ModelVersion, Source
from narrative_tracker.web.server import BackgroundServer

from helpers.models import install_model
from helpers.web import (
    PASSWORD,
    RUSSIAN_WORD,
    WebWorld,
    build_web_world,
    fast_password_hashing,
    small_pipeline,
    small_training_data,
)
from helpers.world import ARMS_PAUSE

CHROMIUM = Path(os.environ.get("NARRATIVE_TRACKER_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(os.environ.get("NARRATIVE_TRACKER_TEST_ARTIFACTS", Path(__file__).parent.parent / "build"
                                / "test-artifacts")) / "web"
TIMEOUT_MS = 15_000

sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the dev extras)")

if not CHROMIUM.exists():
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"{CHROMIUM} is missing: .ci/run installs it with apt-get install chromium")
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)


class Served:
    def __init__(self, world: WebWorld, server: BackgroundServer) -> None:
        self.world, self.server = world, server
        self.outside: list[str] = []
        self.dialogs: list[str] = []


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("browser")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NARRATIVE_TRACKER_HOME", str(home / "home"))
        fast_password_hashing(patch)
        database = open_database(f"sqlite:///{home / 'tracker.db'}")
        world = build_web_world(database)
        _models(world, database)
        server = BackgroundServer(world.settings, database).start()
        try:
            yield Served(world, server)
        finally:
            server.stop()
            database.dispose()


def _models(world: WebWorld, database: Database) -> None:
    """The world's active model m1 gets its files (the queue loads it) and a candidate m2 joins it."""
    from narrative_tracker.classifier.registry import save_model

    pipeline = small_pipeline()
    save_model(world.settings.models_dir, "m1", pipeline, {"taxonomy_hash": "", "labels": [], "cv": None})
    install_model(world.settings.models_dir, database, "m2", pipeline=pipeline, active=False)


@pytest.fixture(scope="module")
def browser(served: Served) -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any, served: Served) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")
    context.set_default_timeout(TIMEOUT_MS)

    def guard_route(route: Any) -> None:
        host = urlsplit(route.request.url).hostname
        if host == "127.0.0.1":
            route.continue_()
        else:
            served.outside.append(route.request.url)
            route.abort()

    context.route("**/*", guard_route)
    tab = context.new_page()

    def on_dialog(dialog: Any) -> None:
        served.dialogs.append(dialog.message)
        dialog.dismiss()

    tab.on("dialog", on_dialog)
    yield tab
    context.close()
    assert served.outside == [], f"requests left 127.0.0.1: {served.outside}"
    assert served.dialogs == [], f"dialogs opened: {served.dialogs}"


@pytest.fixture(autouse=True)
def _no_labels_left(served: Served) -> Iterator[None]:
    yield
    with served.world.database.session() as session:
        session.execute(delete(Label))
        session.execute(delete(LabelledText))


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(page: Any, served: Served, role: str, password: str = PASSWORD) -> None:
    page.goto(served.server.url + "/login")
    page.fill("input[name=username]", role)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def _labels(served: Served) -> list[tuple[int | None, str, bool, str | None, str]]:
    with served.world.database.session() as session:
        rows = session.execute(
            select(LabelledText.article_id, Label.narrative_id, Label.positive, Label.stance, Label.labeller)
            .join(LabelledText, LabelledText.id == Label.text_id)
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def test_a_page_without_a_session_goes_to_login(page, served):
    page.goto(served.server.url + "/narratives")
    assert urlsplit(page.url).path == "/login"
    assert page.locator("input[name=csrf_token]").count() == 1
    shot(page, "login")


def test_a_wrong_password_says_so_and_a_burst_is_rate_limited(page, served):
    sign_in(page, served, "nobody-here", "wrong-password")
    assert "Wrong user name or password" in page.locator("#login-error").inner_text()
    shot(page, "login-wrong-password")
    for _ in range(6):  # bounded burst
        sign_in(page, served, "nobody-here", "wrong-password")
    assert "Too many failed attempts" in page.locator("#login-error").inner_text()
    shot(page, "login-rate-limited")
    served.server.server.config.app.state.login_limiter._failures.clear()  # the other tests sign in from here too


def test_a_viewer_sees_the_crossover_opens_the_narrative_and_finds_a_russian_word(page, served):
    sign_in(page, served, "viewer")
    assert urlsplit(page.url).path == "/"
    alert = page.locator("article.alert-crossover").first
    assert "Russian state media pushed it 61 times" in alert.inner_text()
    assert alert.locator("svg.chart polyline").count() >= 2
    shot(page, "today")
    alert.locator("h2 a").click()
    assert urlsplit(page.url).path == f"/narratives/{ARMS_PAUSE}"
    assert page.locator("svg.chart").count() == 1
    shot(page, "narrative")
    page.select_option("select[name=by]", "stance")
    page.click("form.inline button")
    assert "promotes" in page.locator("svg.chart").inner_html()
    page.goto(served.server.url + "/narratives")
    assert page.locator("svg.spark").count() > 3
    shot(page, "narratives")
    page.goto(served.server.url + "/articles")
    page.fill("input[name=q]", RUSSIAN_WORD)
    page.click("form.filters button")
    rows = page.locator("table.articles tbody tr")
    assert rows.count() == 1 and "Вашингтон и перемирие" in rows.first.inner_text()
    shot(page, "articles-search")
    rows.first.locator("a").click()
    assert urlsplit(page.url).path == f"/articles/{served.world.russian_id}"
    assert page.locator("form.label-form").count() == 0  # viewers get no labelling form
    shot(page, "article")
    for name in ("sources", "jobs", "models"):
        page.goto(f"{served.server.url}/{name}")
        shot(page, name)


def _long_article(database: Database) -> int:
    """An article of several paragraphs, one with a link too long to break at a space."""
    paragraph = ("Officials said on Tuesday that the pause in arms deliveries was a technical matter, while state "
                 "television called it proof that support is running out: https://example.org/" + "a" * 150)
    with database.session() as session:
        wire = session.scalar(select(Source.id).where(Source.slug == "wire"))
        article = Article(source_id=wire, url="https://wire.example/long", url_hash="l" * 40, lang="en",
                          title="A long article about the pause in arms deliveries and what television made of it",
                          text="\n".join([paragraph, "Short line.", paragraph, paragraph]))
        session.add(article)
        session.flush()
        return article.id


def test_the_article_text_reads_in_a_wide_column_and_stands_alone_on_a_narrow_screen(page, served):
    article_id = _long_article(served.world.database)
    sign_in(page, served, "analyst")  # the widest sidebar: the labelling form
    page.goto(f"{served.server.url}/articles/{article_id}")
    text, aside = page.locator(".article-page .text"), page.locator(".article-page aside")
    box, side = text.bounding_box(), aside.bounding_box()
    assert box["width"] >= 600 and side["x"] >= box["x"] + box["width"]  # a reading column, the rest beside it
    assert text.evaluate("e => e.scrollWidth <= e.clientWidth")  # a long link wraps instead of running over
    shot(page, "article-long")
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    box, side = text.bounding_box(), aside.bounding_box()
    assert box["width"] >= 340 and side["y"] >= box["y"] + box["height"]  # the whole width, the rest below
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scrolling
    shot(page, "article-narrow")
    page.goto(f"{served.server.url}/articles?q=pause")
    assert page.locator("table.articles tbody tr").count() >= 2
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot(page, "articles-search-narrow")


def test_hostile_titles_stay_inert_on_every_page(page, served):
    sign_in(page, served, "admin")
    paths = ["/", f"/narratives/{ARMS_PAUSE}", "/articles", f"/articles/{served.world.hostile_id}", "/sources",
             "/queue", "/users", "/models", "/jobs", "/narratives"]
    for path in paths:
        page.goto(served.server.url + path)
        page.wait_for_load_state("load")
        assert page.locator("main script, main img, main iframe").count() == 0, path
    page.goto(served.server.url + f"/articles/{served.world.hostile_id}")
    assert "<script>" in page.locator("h1").inner_text()  # shown as text, not run
    shot(page, "article-hostile")
    # the dialog and outside-request checks run when the page fixture closes


def test_an_analyst_labels_three_articles_from_the_queue_with_the_keyboard(page, served):
    sign_in(page, served, "analyst")
    page.goto(served.server.url + "/queue")
    shot(page, "queue")
    seen = []
    for key in ("a", "r", "a"):
        article_id = int(page.locator(".queue-item").get_attribute("data-article"))
        seen.append(article_id)
        if key == "a":
            page.keyboard.press("2")  # stance: refutes
        with page.expect_navigation():
            page.keyboard.press(key)
        page.wait_for_selector(".queue-item, #queue-empty")
    labels = _labels(served)
    assert sorted(r[0] for r in labels) == sorted(seen) and len(set(seen)) == 3
    assert all(r[4] == "analyst" for r in labels)
    assert [r[2] for r in sorted(labels, key=lambda r: seen.index(r[0]))] == [True, False, True]
    assert all(r[3] == "refutes" for r in labels if r[2])


def test_a_viewers_label_attempt_gets_403_and_stores_nothing(page, served):
    sign_in(page, served, "viewer")
    answer = page.goto(served.server.url + "/queue")
    assert answer.status == 403
    shot(page, "forbidden")
    page.goto(served.server.url + f"/articles/{served.world.plain_id}")
    status = page.evaluate(
        """async ([id, narrative]) => {
            const token = document.querySelector('input[name=csrf_token]').value;
            const body = new URLSearchParams({csrf_token: token, ['verdict:' + narrative]: 'accept'});
            const r = await fetch('/articles/' + id + '/labels', {method: 'POST', body});
            return r.status;
        }""",
        [served.world.plain_id, ARMS_PAUSE],
    )
    assert status == 403
    assert _labels(served) == []


def test_a_form_posted_without_its_csrf_token_is_refused(page, served):
    sign_in(page, served, "analyst")
    page.goto(served.server.url + f"/articles/{served.world.plain_id}")
    page.check(f"input[name='verdict:{ARMS_PAUSE}'][value=accept]")
    page.evaluate("document.querySelector('form.label-form input[name=csrf_token]').remove()")
    with page.expect_navigation():
        page.click("form.label-form button[type=submit]")
    assert "CSRF token" in page.locator("#error-message").inner_text()
    assert _labels(served) == []
    shot(page, "csrf-refused")


def test_an_admin_promotes_and_rolls_back_a_model(page, served):
    sign_in(page, served, "admin")
    page.goto(served.server.url + "/models")
    page.click("tr[data-version=m2] a.button")
    assert "Promote model m2?" in page.locator("h1").inner_text()
    shot(page, "promote-confirm")
    page.click("#confirm")
    assert "Model m2 serves now" in page.locator("#models-message").inner_text()
    assert _status(served, "m2") == "active"
    shot(page, "models-promoted")
    page.click("#rollback")
    page.click("#confirm")
    assert "Rolled back from m2 to m1" in page.locator("#models-message").inner_text()
    assert (_status(served, "m1"), _status(served, "m2")) == ("active", "retired")


def test_an_admin_adds_a_user_who_signs_in_and_a_viewer_gets_403_on_users(page, served):
    from narrative_tracker.web.accounts import list_users

    sign_in(page, served, "admin")
    page.click("#nav-users")
    assert urlsplit(page.url).path == "/users"
    assert page.locator("tr[data-user=viewer] td.role").inner_text() == "viewer"
    form = page.locator("#add-user")
    form.locator("input[name=name]").fill("newcomer")
    form.locator("select[name=role]").select_option("analyst")
    form.locator("input[name=password]").fill("newcomers-password")
    form.locator("input[name=password_again]").fill("newcomers-password")
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    assert "User newcomer added (analyst)." in page.locator("#users-message").inner_text()
    assert page.locator("tr[data-user=newcomer] td.role").inner_text() == "analyst"
    shot(page, "users")
    page.goto(served.server.url + "/jobs")
    shot(page, "jobs-admin")
    page.click("header form.who button")
    sign_in(page, served, "newcomer", "newcomers-password")
    assert urlsplit(page.url).path == "/"
    assert "newcomer (analyst)" in page.locator("header .who").inner_text()
    assert page.locator("#nav-users").count() == 0  # admins only
    page.click("header form.who button")
    sign_in(page, served, "viewer")
    answer = page.goto(served.server.url + "/users")
    assert answer.status == 403 and "may not do this" in page.locator("#error-message").inner_text()
    shot(page, "users-forbidden")
    assert {u.name: u.role for u in list_users(served.world.database)}["newcomer"] == "analyst"


def test_the_models_page_follows_a_training_run_live(page, served, monkeypatch):
    from narrative_tracker.web.training import TrainingState

    small_training_data(monkeypatch)
    reached, release = threading.Event(), threading.Event()
    original = TrainingState.fitted

    def held(self: TrainingState, step: str, done: int, total: int) -> None:
        original(self, step, done, total)
        if step == "narratives" and not reached.is_set():
            reached.set()
            release.wait(120)

    monkeypatch.setattr(TrainingState, "fitted", held)
    sign_in(page, served, "analyst")
    page.goto(served.server.url + "/models")
    try:
        with page.expect_navigation():
            page.click("#train")
        assert page.locator("#training").get_attribute("data-running") == "true"
        assert page.locator("#train").is_disabled()
        page.evaluate("window.stillTheSamePage = true")
        assert reached.wait(120)
        # The script polls GET /models/training and writes what it reads into the page.
        sync_api.expect(page.locator("#training-count")).to_contain_text("narratives fitted", timeout=TIMEOUT_MS)
        assert "The final fit" in page.locator("#training-phase").inner_text()
        assert "fitting the narratives" in page.locator("#training-step").inner_text()
        shot(page, "models-training")
    finally:
        release.set()
    page.wait_for_selector("#training-outcome:not([hidden])", timeout=120_000)
    assert page.evaluate("window.stillTheSamePage") is True  # updated in place, not reloaded
    assert page.locator("#training-message").inner_text().startswith("Candidate ")
    assert page.locator("#training-running").is_hidden() and page.locator("#train").is_enabled()
    shot(page, "models-trained")
    version = page.locator("#training-message").inner_text().split()[1]
    page.click("#training-reload")
    assert page.locator(f"tr[data-version='{version}'] td").nth(1).inner_text() == "candidate"


def _status(served: Served, version: str) -> str:
    with served.world.database.session() as session:
        return session.scalar(select(ModelVersion.status).where(ModelVersion.version == version)) or ""


def test_no_label_rows_from_page_visits(served):
    with served.world.database.session() as session:
        assert (session.scalar(select(func.count()).select_from(Label)) or 0) == 0
