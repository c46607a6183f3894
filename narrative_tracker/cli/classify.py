"""Commands of the classifier: labels, label, train, evaluate, models, classify, classify-text.

scikit-learn and the classifier package are imported inside the commands, so that
``narrative-tracker --help`` stays fast.
"""

from __future__ import annotations

import json
import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import click

from narrative_tracker.cli.context import AppContext
from narrative_tracker.cli.output import echo_json, summary, to_json
from narrative_tracker.errors import UsageError

pass_app = click.make_pass_decorator(AppContext)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _notify(message: str) -> None:
    click.echo(message, err=True)


def _safe(text: str) -> str:
    """Crawled text shown on a terminal: no control characters (escape sequences)."""
    return _CONTROL.sub(" ", text)


def _parse_date(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise UsageError(f"--since {value!r}: write the date as YYYY-MM-DD") from None


def _bar(done: int, total: int | None) -> None:
    if sys.stderr.isatty() and total:
        click.echo(f"\r  {done}/{total}", err=True, nl=False)


# ---------------------------------------------------------------- labels
@click.group()
def labels() -> None:
    """Import and export analyst labels (JSONL, the EUvsDisinfo format)."""


@labels.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dataset", help="Name the records are stored under (default: the file name).")
@click.option("--labeller", default=lambda: os.environ.get("USER", "import"), help="Who labelled them.")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@pass_app
def import_labels(app: AppContext, file: Path, dataset: str | None, labeller: str, as_json: bool) -> None:
    """Import labelled records from FILE (one JSON object per line).

    Each line: {"id", "lang", "text", "title"?, "narratives": [ids], "stance": {id: stance}}.
    Records are complete (a narrative not listed is absent) unless they say "complete": false.
    Importing the same file again replaces its records' labels.
    """
    from narrative_tracker.classifier.labels import import_records
    from narrative_tracker.classifier.records import read_records
    from narrative_tracker.classifier.taxonomy import load_taxonomy

    taxonomy = load_taxonomy(app.settings.taxonomy_file)
    records = read_records(file, taxonomy)
    counts = import_records(app.database, records, dataset=dataset or file.name, labeller=labeller)
    if as_json:
        echo_json(counts)
    summary(
        f"imported {counts['records']} records from {file} ({counts['created']} new, "
        f"{counts['updated']} replaced, {counts['labels']} labels)"
    )


@labels.command("export")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE instead of stdout.")
@pass_app
def export_labels(app: AppContext, out: Path | None) -> None:
    """Export every stored label as JSONL records (the import format)."""
    from narrative_tracker.classifier.labels import iter_stored_records
    from narrative_tracker.classifier.records import write_records

    records = (record for _dataset, record in iter_stored_records(app.database))
    if out is None:
        count = write_records(records, sys.stdout)
    else:
        with out.open("w", encoding="utf-8") as handle:
            count = write_records(records, handle)
    summary(f"exported {count} records")


# ---------------------------------------------------------------- label (queue)
@click.command()
@click.option("--limit", default=20, show_default=True, help="Articles to ask about.")
@click.option("--labeller", default=lambda: os.environ.get("USER", "analyst"), help="Who is labelling.")
@pass_app
def label(app: AppContext, limit: int, labeller: str) -> None:
    """Label the most useful stored articles, one at a time.

    The queue favours articles whose score is closest to a narrative's threshold, spread over
    outlets and languages. Keys: a = accept (with the shown stance), r = reject, s = skip,
    1 / 2 / 3 = accept as promotes / refutes / reports, q = quit.
    """
    from narrative_tracker.classifier.labels import store_analyst_label
    from narrative_tracker.classifier.queue import pick_queue
    from narrative_tracker.classifier.service import ensure_model
    from narrative_tracker.classifier.taxonomy import load_taxonomy

    taxonomy = load_taxonomy(app.settings.taxonomy_file)
    model = ensure_model(app.settings, app.database, notify=_notify)
    queue = pick_queue(app.database, model, limit=limit)
    if not queue:
        summary("nothing to label: no stored article is waiting (crawl first)")
        return
    stances = {"1": "promotes", "2": "refutes", "3": "reports"}
    counts = {"accepted": 0, "rejected": 0, "skipped": 0}
    for n, item in enumerate(queue, 1):
        click.echo("")
        click.echo(f"[{n}/{len(queue)}] {_safe(item.title)}")
        click.echo(f"  {item.source} ({item.group}) · {item.lang} · article {item.article_id}")
        click.echo(f"  {_safe(item.excerpt)}")
        click.echo(
            f"  narrative? {item.narrative} — {taxonomy.name_of(item.narrative)} "
            f"(score {item.score:.2f}, threshold {item.threshold:.2f}, stance {item.stance})"
        )
        try:
            key = click.prompt(
                "  [a]ccept [r]eject [s]kip [1]promotes [2]refutes [3]reports [q]uit",
                type=click.Choice(["a", "r", "s", "1", "2", "3", "q"]),
                show_choices=False,
            )
        except click.exceptions.Abort:
            key = "q"
        if key == "q":
            break
        if key == "s":
            counts["skipped"] += 1
            continue
        positive = key != "r"
        stance = stances.get(key, item.stance) if positive else None
        store_analyst_label(
            app.database, item.article_id, item.narrative, positive=positive, stance=stance, labeller=labeller
        )
        counts["accepted" if positive else "rejected"] += 1
    summary(f"labelled: {counts['accepted']} accepted, {counts['rejected']} rejected, {counts['skipped']} skipped")


# ---------------------------------------------------------------- train / evaluate
def _figures(metrics: dict[str, Any] | None) -> str:
    if not metrics:
        return "n/a"
    stance = metrics.get("stance_accuracy")
    return (
        f"coarse macro-F1 {metrics['coarse']['macro_f1']:.3f}, micro-F1 {metrics['coarse']['micro_f1']:.3f}; "
        f"fine macro-F1 {metrics['macro_f1']:.3f}; stance accuracy "
        f"{'n/a' if stance is None else f'{stance:.3f}'}"
    )


@click.command()
@click.option("--promote", "do_promote", is_flag=True, help="Promote the new model if it is not worse.")
@click.option("--force", is_flag=True, help="With --promote: promote even if it scores worse.")
@click.option("--cv-folds", default=5, show_default=True, help="Grouped cross-validation folds (0: skip).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_app
def train(app: AppContext, do_promote: bool, force: bool, cv_folds: int, as_json: bool) -> None:
    """Train a model on the taxonomy examples and every stored label; save it as a candidate."""
    from narrative_tracker.classifier import service

    result = service.train(
        app.settings,
        app.database,
        cv_folds=cv_folds,
        notify=_notify,
        progress=lambda done, total: _notify(f"  fold {done}/{total} done"),
    )
    if do_promote:
        result["promotion"] = service.promote(app.settings, app.database, result["version"], force=force)
    if as_json:
        echo_json(result)
    summary(
        f"model {result['version']} trained on {result['counts']['records']} records in {result['seconds']} s; "
        f"cross-validated: {_figures(result['cv'])}"
        + (f"; promoted (was {result['promotion']['previous'] or 'none'})" if do_promote else "; candidate")
    )


@click.command()
@click.option("--model", "version", help="Model version (default: the active model).")
@click.option(
    "--dataset",
    "dataset",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Labelled records (JSONL, the labels import format).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@click.option(
    "--predictions",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write one line per record: {id, narratives: [{id, score, stance}]}.",
)
@pass_app
def evaluate(app: AppContext, version: str | None, dataset: Path, as_json: bool, predictions: Path | None) -> None:
    """Score a model against labelled records: per narrative, per level, per language, stance."""
    from narrative_tracker.classifier.service import evaluate_file

    metrics, records, predicted, used = evaluate_file(
        app.settings, app.database, dataset, version=version, notify=_notify
    )
    if predictions is not None:
        with predictions.open("w", encoding="utf-8") as handle:
            for record, flags in zip(records, predicted, strict=True):
                line = {
                    "id": record.id,
                    "narratives": [{"id": f.id, "score": f.score, "stance": f.stance} for f in flags],
                }
                handle.write(json.dumps(line, ensure_ascii=False) + "\n")
    if as_json:
        echo_json(
            {
                k: metrics[k]
                for k in ("micro_f1", "macro_f1", "coarse", "per_narrative", "per_language", "stance_accuracy")
            }
        )
    else:
        click.echo(f"{'narrative':70} {'P':>6} {'R':>6} {'F1':>6} {'n':>5}")
        for narrative, row in metrics["per_narrative"].items():
            click.echo(
                f"{narrative:70} {row['precision']:6.3f} {row['recall']:6.3f} {row['f1']:6.3f} {row['support']:5d}"
            )
    summary(f"model {used} on {len(records)} records: {_figures(metrics)}")


# ---------------------------------------------------------------- models
@click.group()
def models() -> None:
    """List, inspect, promote and roll back model versions."""


@models.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_app
def models_list(app: AppContext, as_json: bool) -> None:
    """Every model version, newest first."""
    from narrative_tracker.classifier.registry import list_versions

    rows = list_versions(app.database)
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        cv = (row["metrics"] or {}).get("cv")
        figure = f"cv coarse macro-F1 {cv['coarse']['macro_f1']:.3f}" if cv else "no cv"
        click.echo(f"{row['version']:28} {row['status']:9} {row['created_at']:%Y-%m-%d %H:%M} {figure} {row['notes']}")
    if not rows:
        summary("no model yet: `narrative-tracker train`, or any command that needs one trains it")


@models.command("show")
@click.argument("version", required=False)
@pass_app
def models_show(app: AppContext, version: str | None) -> None:
    """The metadata of VERSION (default: the active model), as JSON."""
    from narrative_tracker.classifier.service import version_metadata
    from narrative_tracker.storage.queries import active_model_version

    if version is None:
        with app.database.session() as session:
            version = active_model_version(session)
        if version is None:
            raise UsageError("no active model: name a version (see `narrative-tracker models list`)")
    click.echo(to_json(version_metadata(app.settings, version)))


@models.command("promote")
@click.argument("version")
@click.option("--force", is_flag=True, help="Promote even if it scores worse than the active model.")
@pass_app
def models_promote(app: AppContext, version: str, force: bool) -> None:
    """Make VERSION the active model (refused if it scores worse on the fixed evaluation set)."""
    from narrative_tracker.classifier.service import promote

    result = promote(app.settings, app.database, version, force=force)
    compared = result["compared"]
    detail = f" (fixed evaluation set: {compared['candidate']:.3f} vs {compared['active']:.3f})" if compared else ""
    summary(f"model {version} is active (was {result['previous'] or 'none'}){detail}")


@models.command("rollback")
@pass_app
def models_rollback(app: AppContext) -> None:
    """Re-activate the model that served before the active one."""
    from narrative_tracker.classifier.registry import rollback
    from narrative_tracker.classifier.service import load_version

    retired, active = rollback(app.database)
    load_version(app.settings, app.database, active, cached=False)  # say now if the older files are unusable
    summary(f"rolled back: {active} is active again ({retired} retired)")


# ---------------------------------------------------------------- classify
@click.command()
@click.option("--since", help="Redo the articles published since YYYY-MM-DD (e.g. after a promotion).")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@click.option("--no-wait", is_flag=True, help="With a broker: return once the batches are queued.")
@pass_app
def classify(app: AppContext, since: str | None, as_json: bool, no_wait: bool) -> None:
    """Classify stored articles not yet classified by the active model.

    With a broker ([queue] broker_url), batches of article ids go to the workers.
    """
    if app.settings.queue.broker_url:
        _classify_on_workers(app, since, as_json, no_wait)
        return
    from narrative_tracker.classifier.classify import classify_stored
    from narrative_tracker.classifier.service import ensure_model
    from narrative_tracker.classifier.taxonomy import load_taxonomy
    from narrative_tracker.jobs.locks import job_lock

    database = app.database  # an unreachable database is reported as such, not as a taken lock
    with job_lock(app.settings.database_url, app.settings.home, "classify", command="classify"):
        model = ensure_model(app.settings, database, notify=_notify)
        stats = classify_stored(
            database,
            model,
            load_taxonomy(app.settings.taxonomy_file),
            batch_size=app.settings.classifier.batch_size,
            since=_parse_date(since),
            progress=_bar,
        )
    if as_json:
        echo_json(stats)
    summary(
        f"classified {stats['articles']} articles with model {stats['model']}: "
        f"{stats['flagged_articles']} carry a narrative ({stats['flags']} flags) in {stats['seconds']} s"
    )


def _classify_on_workers(app: AppContext, since: str | None, as_json: bool, no_wait: bool) -> None:
    from narrative_tracker.jobs.dispatch import enqueue_classify, wait_for

    if since is not None:
        raise UsageError("--since (redo) runs embedded only: leave [queue] broker_url empty for it")
    batch = enqueue_classify(app.settings, app.database, notify=_notify)
    if no_wait:
        if as_json:
            echo_json({"batch": batch.id, "queued": batch.tasks})
        summary(f"queued {batch.tasks} classify batches (see `narrative-tracker workers status`)")
        return
    stats = wait_for(app.database, batch, timeout=app.settings.queue.wait_timeout, progress=_bar)
    if as_json:
        echo_json(stats)
    tasks = stats["tasks"]
    summary(
        f"classified {stats.get('articles', 0)} articles on the workers in {tasks.get('done', 0)} batches "
        f"({tasks.get('failed', 0)} failed, {tasks.get('parked', 0)} parked): "
        f"{stats.get('flagged_articles', 0)} carry a narrative"
    )


@click.command("classify-text")
@click.argument("source", type=click.File("r", encoding="utf-8"))
@click.option("--model", "version", help="Model version (default: the active model).")
@click.option("--json", "as_json", is_flag=True, help="Print {lang, narratives: [...]} as JSON.")
@pass_app
def classify_text(app: AppContext, source: TextIO, version: str | None, as_json: bool) -> None:
    """Flag the narratives in a text (a FILE, or - for standard input)."""
    from narrative_tracker.classifier.dataset import compose_document
    from narrative_tracker.classifier.inference import analyse
    from narrative_tracker.classifier.service import ensure_model
    from narrative_tracker.classifier.taxonomy import load_taxonomy
    from narrative_tracker.language import detect_language

    text = source.read()
    if not text.strip():
        raise UsageError("the text to classify is empty")
    taxonomy = load_taxonomy(app.settings.taxonomy_file)
    model = ensure_model(app.settings, app.database, notify=_notify, version=version)
    flags = analyse(model.pipeline, [compose_document("", text)], explainer=model.explainer, taxonomy=taxonomy)[0]
    names = model.metadata.get("names", {})
    narratives = [
        {
            "id": f.id,
            "name": taxonomy.narratives[f.id].name if f.id in taxonomy.narratives else names.get(f.id, f.id),
            "score": f.score,
            "stance": f.stance,
            "evidence": f.evidence,
        }
        for f in flags
    ]
    result = {"lang": detect_language(" ".join(text.split()))[0], "narratives": narratives}
    if as_json:
        echo_json(result)
        return
    if not flags:
        click.echo(f"no known narrative found (language: {result['lang']}, model {model.version})")
    for flag, shown in zip(flags, narratives, strict=True):
        click.echo(f"{flag.id}  {shown['name']}  score {flag.score:.2f}  stance {flag.stance}")
        for sentence in flag.evidence:
            click.echo(f"    “{_safe(sentence)}”")
        if flag.terms:
            click.echo("    terms: " + ", ".join(term for term, _ in flag.terms))
