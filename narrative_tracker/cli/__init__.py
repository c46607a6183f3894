"""The ``narrative-tracker`` command.

Subcommands live in one module per user task and are imported only when named, and each module
imports heavy libraries (Scrapy, scikit-learn, Pillow) inside its commands, so that
``--help`` stays fast.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from typing import Any

import click

from narrative_tracker import __version__
from narrative_tracker.cli.context import AppContext
from narrative_tracker.errors import NarrativeTrackerError

# command name -> "module:attribute", in the order --help lists them.
COMMANDS = {
    "demo": "narrative_tracker.cli.demo:demo",
    "init": "narrative_tracker.cli.setup:init",
    "db": "narrative_tracker.cli.setup:db",
    "sources": "narrative_tracker.cli.crawl:sources",
    "crawl": "narrative_tracker.cli.crawl:crawl",
    "labels": "narrative_tracker.cli.classify:labels",
    "label": "narrative_tracker.cli.classify:label",
    "train": "narrative_tracker.cli.classify:train",
    "evaluate": "narrative_tracker.cli.classify:evaluate",
    "models": "narrative_tracker.cli.classify:models",
    "classify": "narrative_tracker.cli.classify:classify",
    "classify-text": "narrative_tracker.cli.classify:classify_text",
    "trends": "narrative_tracker.cli.digest:trends",
    "alerts": "narrative_tracker.cli.digest:alerts",
    "digest": "narrative_tracker.cli.digest:digest",
    "jobs": "narrative_tracker.cli.service:jobs",
    "scheduler": "narrative_tracker.cli.service:scheduler",
    "export": "narrative_tracker.cli.export:export",
    "worker": "narrative_tracker.cli.worker:worker",
    "workers": "narrative_tracker.cli.worker:workers",
    "web": "narrative_tracker.cli.web:web",
    "users": "narrative_tracker.cli.web:users",
    "tokens": "narrative_tracker.cli.web:tokens",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if self._load(name) is not None]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._load(cmd_name)

    @staticmethod
    def _load(name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:  # the command is not built yet in this checkout
                return None
            raise
        command = getattr(module, attribute, None)
        return command if isinstance(command, click.Command) else None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config",
    type=click.Path(dir_okay=False),
    envvar="NARRATIVE_TRACKER_CONFIG",
    help="Settings file (TOML). Default: <home>/config.toml if it exists.",
)
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors in the logs.")
@click.version_option(__version__, prog_name="narrative-tracker")
@click.pass_context
def cli(ctx: click.Context, config: str | None, debug: bool, quiet: bool) -> None:
    """Track known propaganda narratives in the news.

    Start with `narrative-tracker demo`, which runs the whole pipeline offline on a bundled
    demo news web, or `narrative-tracker init` to write a starter settings file.
    """
    level = logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if not debug:
        logging.getLogger("alembic").setLevel(logging.WARNING)
    ctx.obj = AppContext(config_path=config, debug=debug)
    ctx.call_on_close(ctx.obj.close)


def main(argv: list[str] | None = None) -> None:
    """Entry point: turns known errors into one sentence on stderr and an exit status."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    # Every Python child this process starts (job processes, the crawl process, their workers)
    # keeps the working directory off its import path: a folder holding a package named like one
    # of ours, or like a standard module such as ``multiprocessing``, must not replace the
    # installed code. Spawned children take no interpreter flags from us, but they read this.
    os.environ["PYTHONSAFEPATH"] = "1"
    try:
        result: Any = cli.main(args=args, prog_name="narrative-tracker", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except NarrativeTrackerError as exc:
        if debug:
            raise
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    sys.exit(result if isinstance(result, int) else 0)
