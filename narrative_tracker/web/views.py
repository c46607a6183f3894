"""The HTML pages. Each endpoint is wrapped by ``guard(permission)``; reading pages need no script."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from narrative_tracker.errors import NarrativeTrackerError
from narrative_tracker.vocabulary import STANCES
from narrative_tracker.web import charts, data, todaycache
from narrative_tracker.web.accounts import Account, end_sessions, verify_password
from narrative_tracker.web.auth import (
    SESSION_COOKIE,
    check_csrf,
    client_key,
    guard,
    identify,
    safe_next,
    session_cookie,
)
from narrative_tracker.web.taxonomy import names as cached_names
from narrative_tracker.web.taxonomy import taxonomy as cached_taxonomy

QUEUE_POOL = 400


def render(request: Request, name: str, context: dict[str, Any], *, status: int = 200) -> HTMLResponse:
    state = request.app.state
    account = getattr(request.state, "account", None)
    page = state.templates.get_template(name).render(
        {**context, "account": account, "csrf_token": state.csrf_token(request), "path": request.url.path}
    )
    response = HTMLResponse(page, status_code=status)
    state.set_csrf_cookie(request, response)
    return response


def _names(request: Request) -> dict[str, str]:
    return cached_names(request.app.state.settings.taxonomy_file)


def _day(request: Request) -> date:
    try:
        value = data.parse_day(request.query_params.get("date"), "date")
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    if value is not None:
        return value
    return data.latest_alert_day(request.app.state.database) or datetime.now(UTC).date()


# ---------------------------------------------------------------- sign in / out
async def login_form(request: Request) -> Response:
    return render(request, "login.html", {"next": safe_next(request.query_params.get("next")), "error": None})


async def login(request: Request) -> Response:
    await check_csrf(request)  # login CSRF: SameSite alone does not stop it
    form = await request.form()
    name, password = str(form.get("username", "")), str(form.get("password", ""))
    target = safe_next(str(form.get("next", "/")))
    limiter = request.app.state.login_limiter
    keys = (f"ip:{client_key(request)}", f"user:{name.lower()}")
    if any(limiter.blocked(k) for k in keys):
        return render(request, "login.html",
                      {"next": target, "error": "Too many failed attempts: wait a few minutes and try again."},
                      status=429)
    user = await run_in_threadpool(verify_password, request.app.state.database, name, password)
    if user is None:
        for key in keys:
            limiter.failed(key)
        return render(request, "login.html", {"next": target, "error": "Wrong user name or password."}, status=401)
    limiter.reset(f"user:{name.lower()}")
    request.app.state.last_sign_in[user.name] = datetime.now(UTC)  # the users page shows it
    response = RedirectResponse(target, status_code=303)
    config = request.app.state.auth
    response.set_cookie(SESSION_COOKIE, session_cookie(config, user.id, user.session_version), httponly=True,
                        samesite="lax", secure=config.secure_cookies, max_age=int(config.session_seconds), path="/")
    return response


async def logout(request: Request) -> Response:
    await check_csrf(request)
    account = await run_in_threadpool(identify, request)
    if account is not None and account.user_id is not None:
        await run_in_threadpool(end_sessions, request.app.state.database, account.user_id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# ---------------------------------------------------------------- Today
@guard("read")
async def today(request: Request, account: Account) -> Response:
    day = _day(request)
    database = request.app.state.database
    timezone = request.app.state.settings.digest.timezone

    def build(names: dict[str, str]) -> dict[str, Any]:
        from narrative_tracker.trends.digest.content import build_digest

        alerts = data.stored_alerts(database, day)
        digest = build_digest(database, day, alerts, timezone=timezone, names=names)
        svgs = {name: charts.line_chart(s.days, s.by_group, title=f"{s.narrative_id}: flagged articles per day")
                for name, s in digest.series.items()}
        return {"digest": digest, "charts": svgs, "day": day}

    def cached() -> dict[str, Any]:
        # Gathered again only when the trends, the day's alerts, the model, the feeds or the names changed.
        names = _names(request)
        key = (todaycache.fingerprint(database, day), timezone, tuple(names.items()))
        return request.app.state.today_cache.get(day, key, lambda: build(names))

    return render(request, "today.html", await run_in_threadpool(cached))


# ---------------------------------------------------------------- narratives
@guard("read")
async def narratives(request: Request, account: Account) -> Response:
    def build() -> dict[str, Any]:
        taxonomy = cached_taxonomy(request.app.state.settings.taxonomy_file)
        end = data.latest_alert_day(request.app.state.database) or datetime.now(UTC).date()
        with request.app.state.database.session() as session:
            lines = data.sparklines(session, end)
        rows = [
            {"id": n.id, "name": n.name, "coarse": "/" not in n.id, "total": sum(lines.get(n.id, [])),
             "spark": charts.sparkline(lines.get(n.id, [0] * 28))}
            for n in taxonomy.narratives.values()
        ]
        return {"rows": rows, "end": end}

    return render(request, "narratives.html", await run_in_threadpool(build))


@guard("read")
async def narrative(request: Request, account: Account) -> Response:
    narrative_id = request.path_params["narrative_id"]
    by = request.query_params.get("by", "group")
    if by not in ("group", "stance", "lang"):
        raise HTTPException(400, "by: choose group, stance or lang")

    def build() -> dict[str, Any]:
        taxonomy = cached_taxonomy(request.app.state.settings.taxonomy_file)
        item = taxonomy.narratives.get(narrative_id)
        if item is None:
            raise HTTPException(404, "no such narrative in the taxonomy")
        database = request.app.state.database
        end = data.parse_day(request.query_params.get("until"), "until") or data.latest_alert_day(database) \
            or datetime.now(UTC).date()
        start = data.parse_day(request.query_params.get("since"), "since") or end - timedelta(days=27)
        if start > end or (end - start).days > 730:
            raise HTTPException(400, "since/until: give a range of at most two years, since before until")
        with database.session() as session:
            days, series = data.daily_series(session, narrative_id, start, end, by=by)
            outlets = data.top_outlets(session, narrative_id, start, end)
            history = data.alert_history(session, narrative_id)
        recent, _ = data.search_articles(database, data.ArticleFilters(narrative=narrative_id), limit=15)
        return {"item": item, "chart": charts.line_chart(days, series, title=f"{narrative_id} by {by}"),
                "by": by, "since": start, "until": end, "outlets": outlets, "history": history, "recent": recent}

    try:
        context = await run_in_threadpool(build)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    return render(request, "narrative.html", context)


# ---------------------------------------------------------------- articles
def filters_from(request: Request) -> data.ArticleFilters:
    params = request.query_params
    try:
        filters = data.ArticleFilters(
            q=params.get("q", "")[:200], narrative=params.get("narrative", ""), stance=params.get("stance", ""),
            group=params.get("group", ""), source=params.get("source", ""), lang=params.get("lang", ""),
            since=data.parse_day(params.get("since"), "since"), until=data.parse_day(params.get("until"), "until"),
        )
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    if filters.stance and filters.stance not in STANCES:
        raise HTTPException(400, f"stance: choose one of {', '.join(STANCES)}")
    return filters


@guard("read")
async def articles(request: Request, account: Account) -> Response:
    filters = filters_from(request)
    try:
        cursor = data.decode_cursor(request.query_params.get("cursor"))
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    found, after = await run_in_threadpool(data.search_articles, request.app.state.database, filters, cursor=cursor)
    next_url = f"/articles?{urlencode({**filters.as_query(), 'cursor': data.encode_cursor(after)})}" if after else None
    return render(request, "articles.html", {"filters": filters, "articles": found, "next_url": next_url,
                                              "groups": data.known_groups(), "stances": STANCES})


@guard("read")
async def article(request: Request, account: Account) -> Response:
    record = await run_in_threadpool(data.article_record, request.app.state.database,
                                     int(request.path_params["article_id"]))
    if record is None:
        raise HTTPException(404, "no such article")
    return render(request, "article.html", {"article": record, "names": _names(request), "stances": STANCES,
                                             "sentences": _marked(record)})


def _marked(record: dict[str, Any]) -> list[tuple[str, bool]]:
    """The text as (paragraph, holds evidence) pairs; the template escapes and marks them."""
    evidence = {s.strip() for sentences in record["evidence"].values() for s in sentences if s.strip()}
    paragraphs = [p.strip() for p in (record["text"] or "").split("\n") if p.strip()]
    return [(p, any(s in p for s in evidence)) for p in paragraphs]


@guard("label")
async def label_article(request: Request, account: Account) -> Response:
    article_id = int(request.path_params["article_id"])
    form = await request.form()
    verdicts = _verdicts(form)
    await run_in_threadpool(store_labels, request, article_id, verdicts, account)
    back = safe_next(str(form.get("next", f"/articles/{article_id}")))
    return RedirectResponse(back, status_code=303)


def _verdicts(form: Any) -> dict[str, tuple[bool, str | None]]:
    """Form fields ``verdict:<narrative>`` = accept | reject and ``stance:<narrative>``."""
    verdicts: dict[str, tuple[bool, str | None]] = {}
    for key, value in form.multi_items():
        if key.startswith("verdict:") and value in ("accept", "reject"):
            narrative_id = key[len("verdict:"):]
            stance = str(form.get(f"stance:{narrative_id}", "")) or None
            if stance is not None and stance not in STANCES:
                raise HTTPException(400, f"stance: choose one of {', '.join(STANCES)}")
            verdicts[narrative_id] = (value == "accept", stance)
    extra = str(form.get("extra_narrative", ""))
    if extra:
        stance = str(form.get("extra_stance", "")) or None
        if stance is not None and stance not in STANCES:
            raise HTTPException(400, f"stance: choose one of {', '.join(STANCES)}")
        verdicts[extra] = (True, stance)
    if not verdicts:
        raise HTTPException(400, "nothing to label: accept or reject at least one narrative")
    return verdicts


def store_labels(request: Request, article_id: int, verdicts: dict[str, tuple[bool, str | None]],
                 account: Account) -> None:
    from narrative_tracker.classifier.labels import store_analyst_label
    known = cached_taxonomy(request.app.state.settings.taxonomy_file).narratives
    unknown = [n for n in verdicts if n not in known]
    if unknown:
        raise HTTPException(400, f"unknown narrative {unknown[0]!r}: see /narratives")
    try:
        for narrative_id, (positive, stance) in verdicts.items():
            store_analyst_label(request.app.state.database, article_id, narrative_id, positive=positive,
                                stance=stance, labeller=account.name)
    except LookupError:
        raise HTTPException(404, "no such article") from None


def store_record(request: Request, article_id: int, positives: dict[str, str], account: Account) -> None:
    """A whole verdict on an article, as ``labels import`` stores a record: the narratives given
    are present (with their stance), every other one is absent (a complete record), replacing
    what was labelled for the article before. An empty list says it carries none."""
    from sqlalchemy import update

    from narrative_tracker.classifier.dataset import Record
    from narrative_tracker.classifier.labels import ANALYST_DATASET, import_records
    from narrative_tracker.storage.models import Article, LabelledText

    known = cached_taxonomy(request.app.state.settings.taxonomy_file).narratives
    unknown = [n for n in positives if n not in known]
    if unknown:
        raise HTTPException(400, f"unknown narrative {unknown[0]!r}: see /api/v1/narratives")
    database = request.app.state.database
    with database.session() as session:
        article = session.get(Article, article_id)
        if article is None:
            raise HTTPException(404, "no such article")
        title, text, lang = article.title, article.text, article.lang
    external = f"article-{article_id}"  # the key the labelling queue stores under too
    record = Record(id=external, text=text or title, title=title, lang=lang, positives=positives, complete=True)
    import_records(database, [record], dataset=ANALYST_DATASET, labeller=account.name)
    with database.session() as session:
        session.execute(
            update(LabelledText)
            .where(LabelledText.dataset == ANALYST_DATASET, LabelledText.external_id == external)
            .values(article_id=article_id)
        )


# ---------------------------------------------------------------- labelling queue
@guard("label")
async def queue(request: Request, account: Account) -> Response:
    skipped = {int(s) for s in request.query_params.get("skip", "").split(",") if s.isdigit()}

    def build() -> dict[str, Any]:
        from narrative_tracker.classifier.queue import pick_queue
        from narrative_tracker.classifier.service import load_version
        from narrative_tracker.storage.queries import active_model_version

        database = request.app.state.database
        with database.session() as session:
            active = active_model_version(session)
        if active is None:
            return {"item": None, "reason": "No model serves yet: train and promote one first."}
        try:
            model = load_version(request.app.state.settings, database, active)  # checked against its recorded hash
        except NarrativeTrackerError as exc:
            return {"item": None, "reason": f"The active model cannot be loaded: {exc}"}
        items = [i for i in pick_queue(database, model, limit=len(skipped) + 1, pool=QUEUE_POOL)
                 if i.article_id not in skipped]
        if not items:
            return {"item": None, "reason": "The queue is empty: every recent article is labelled or skipped."}
        return {"item": items[0], "reason": None}

    context = await run_in_threadpool(build)
    context["skip"] = ",".join(str(s) for s in sorted(skipped))
    context["names"] = _names(request)
    context["stances"] = STANCES
    return render(request, "queue.html", context)


# ---------------------------------------------------------------- models
@guard("read")
async def models(request: Request, account: Account) -> Response:
    from narrative_tracker.classifier.registry import list_versions

    versions = await run_in_threadpool(list_versions, request.app.state.database)
    return render(request, "models.html", {"versions": versions, "training": request.app.state.training.snapshot(),
                                            "message": request.query_params.get("message", "")[:300]})


@guard("read")
async def training_status(request: Request, account: Account) -> Response:
    """How far the web app's training run is (the models page's script polls it)."""
    return JSONResponse(request.app.state.training.snapshot())


@guard("train")
async def train_model(request: Request, account: Account) -> Response:
    state = request.app.state
    started = state.training.start(state.settings, state.database, account)
    message = "Training started." if started else "A training run is going already."
    return RedirectResponse(f"/models?{urlencode({'message': message})}", status_code=303)


@guard("promote")
async def confirm_promote(request: Request, account: Account) -> Response:
    return render(request, "confirm.html", {"action": "promote", "version": request.path_params["version"]})


@guard("promote")
async def promote(request: Request, account: Account) -> Response:
    from narrative_tracker.classifier.service import promote as promote_model

    version = request.path_params["version"]
    form = await request.form()
    try:
        result = await run_in_threadpool(promote_model, request.app.state.settings, request.app.state.database,
                                         version, force=form.get("force") == "yes")
        message = f"Model {version} serves now (was {result['previous'] or 'none'})."
    except NarrativeTrackerError as exc:
        message = f"Not promoted: {exc}"
    return RedirectResponse(f"/models?{urlencode({'message': message})}", status_code=303)


@guard("promote")
async def confirm_rollback(request: Request, account: Account) -> Response:
    return render(request, "confirm.html", {"action": "rollback", "version": None})


@guard("promote")
async def rollback(request: Request, account: Account) -> Response:
    from narrative_tracker.classifier.registry import rollback as rollback_model

    try:
        old, new = await run_in_threadpool(rollback_model, request.app.state.database)
        message = f"Rolled back from {old} to {new}."
    except NarrativeTrackerError as exc:
        message = f"Not rolled back: {exc}"
    return RedirectResponse(f"/models?{urlencode({'message': message})}", status_code=303)


# ---------------------------------------------------------------- sources and jobs
@guard("read")
async def sources(request: Request, account: Account) -> Response:
    def build() -> dict[str, Any]:
        end = datetime.now(UTC).date()
        rows = data.sources_overview(request.app.state.database, end)
        for row in rows:
            row["spark"] = charts.sparkline(row["volume"])
        return {"rows": rows}

    return render(request, "sources.html", await run_in_threadpool(build))


@guard("read")
async def jobs(request: Request, account: Account) -> Response:
    def build() -> dict[str, Any]:
        from sqlalchemy import select

        from narrative_tracker.jobs.history import list_runs
        from narrative_tracker.storage.models import SchedulerInstance

        database = request.app.state.database
        with database.session() as session:
            leader = session.scalars(select(SchedulerInstance).where(SchedulerInstance.role == "leader")).first()
            next_runs = dict(leader.next_runs) if leader else {}
        return {"runs": list_runs(database, limit=50), "next_runs": next_runs, "leader": leader,
                "names": sorted(DEFAULT_REGISTRY), "message": request.query_params.get("message", "")[:300]}

    from narrative_tracker.jobs.registry import DEFAULT_REGISTRY

    return render(request, "jobs.html", await run_in_threadpool(build))


@guard("run-jobs")
async def run_job_now(request: Request, account: Account) -> Response:
    """Start a job as ``jobs run`` does (its lock, history and child process), in the background."""
    from narrative_tracker.jobs.registry import DEFAULT_REGISTRY
    from narrative_tracker.jobs.runner import run_job

    name = request.path_params["name"]
    if name not in DEFAULT_REGISTRY:
        raise HTTPException(404, "no such job")
    settings, database = request.app.state.settings, request.app.state.database
    threading.Thread(
        target=run_job, args=(settings, database, name),
        kwargs={"trigger": "manual", "stop": request.app.state.stop}, name=f"web-job-{name}", daemon=True,
    ).start()
    message = f"Job {name} started by {account.name}; reload to follow it in the history."
    return RedirectResponse(f"/jobs?{urlencode({'message': message})}", status_code=303)


ROUTES = [
    Route("/", today),
    Route("/narratives", narratives),
    Route("/narratives/{narrative_id:path}", narrative),
    Route("/articles", articles),
    Route("/articles/{article_id:int}", article),
    Route("/articles/{article_id:int}/labels", label_article, methods=["POST"]),
    Route("/queue", queue),
    Route("/models", models),
    Route("/models/train", train_model, methods=["POST"]),
    Route("/models/training", training_status, methods=["GET"]),
    Route("/models/rollback", confirm_rollback, methods=["GET"]),
    Route("/models/rollback", rollback, methods=["POST"]),
    Route("/models/{version}/promote", confirm_promote, methods=["GET"]),
    Route("/models/{version}/promote", promote, methods=["POST"]),
    Route("/sources", sources),
    Route("/jobs", jobs),
    Route("/jobs/{name}/run", run_job_now, methods=["POST"]),
]
