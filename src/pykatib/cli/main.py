"""The ``pykatib`` command, in kubectl's style: run, apply, get, describe, logs, delete."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from pykatib.api.errors import InvalidExperimentError, NotFoundError, PykatibError
from pykatib.api.models import Experiment
from pykatib.cli import views
from pykatib.cli.describe import describe

console = Console()
err_console = Console(stderr=True)

EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_INTERRUPTED = 130


class _Ctx:
    def __init__(self, db: str | None, namespace: str) -> None:
        self.db = db
        self.namespace = namespace
        self._store = None

    @property
    def store(self):  # type: ignore[no-untyped-def]
        if self._store is None:
            from pykatib.store import Store

            self._store = Store(self.db)
        return self._store


pass_ctx = click.make_pass_decorator(_Ctx)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", envvar="PYKATIB_DB", help="Database URL (default: SQLite in $PYKATIB_HOME).")
@click.option("-n", "--namespace", default="default", show_default=True, help="Namespace.")
@click.version_option(package_name="pykatib")
@click.pass_context
def cli(ctx: click.Context, db: str | None, namespace: str) -> None:
    """Katib's hyperparameter tuning, on this machine: apply Katib v1beta1 Experiments and run them."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    ctx.obj = _Ctx(db, namespace)


def _load(path: str, configmaps: Sequence[str]) -> list[tuple[Experiment, list[str]]]:
    from pykatib.api.validation import resolve_configmap
    from pykatib.api.yaml import parse_configmaps, parse_experiments
    from pykatib.runtime.local import LocalJobRunner

    text = Path(path).read_text(encoding="utf-8")
    cms = parse_configmaps(text, path)
    for extra in configmaps:
        cms += parse_configmaps(Path(extra).read_text(encoding="utf-8"), extra)
    parsed = parse_experiments(text, path, configmaps=cms)
    errors: list[str] = []
    for exp, _ in parsed:
        template = exp.spec.trial_template
        if template is not None and template.config_map is not None and template.trial_spec is None:
            resolve_configmap(exp, cms)
        if template is not None and template.trial_spec is not None:
            errors += LocalJobRunner.check(template.trial_spec, template.primary_container_name)
    if errors:
        raise InvalidExperimentError(errors, source=path)
    return parsed


def _invalid(exc: InvalidExperimentError, path: str) -> None:
    err_console.print(f"[bold red]error:[/] {path} is not a valid Katib experiment:", highlight=False)
    for line in exc.errors:
        err_console.print(f"  - {line}", highlight=False, markup=False)
    sys.exit(EXIT_INVALID)


def _controller(ctx: _Ctx):  # type: ignore[no-untyped-def]
    from pykatib.control.controller import Controller

    return Controller(ctx.store)


def _namespaced(ctx: _Ctx, exp: Experiment, explicit: bool) -> None:
    if explicit or not exp.metadata.namespace:
        exp.metadata.namespace = ctx.namespace


@cli.command()
@click.option("-f", "--filename", "path", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--configmap", "configmaps", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="YAML file with the ConfigMap a trialTemplate.configMap names (repeatable).")
@click.option("--quiet", "-q", is_flag=True, help="No live progress, just the result.")
@pass_ctx
@click.pass_context
def run(click_ctx: click.Context, ctx: _Ctx, path: str, configmaps: tuple[str, ...], quiet: bool) -> None:
    """Create (or resume) the experiments in FILE and run them to completion."""
    try:
        parsed = _load(path, configmaps)
    except InvalidExperimentError as exc:
        _invalid(exc, path)
    explicit_ns = click_ctx.parent is not None and _ns_given(click_ctx.parent)
    controller = _controller(ctx)
    keys = []
    source_dir = Path(path).resolve().parent
    for exp, warnings in parsed:
        _namespaced(ctx, exp, explicit_ns)
        for w in warnings:
            err_console.print(f"[yellow]warning:[/] {w}", highlight=False)
        try:
            outcome = controller.apply(exp, source_dir)
        except InvalidExperimentError as exc:
            _invalid(exc, path)
        verb = {"created": "created", "configured": "configured", "unchanged": "resumed"}[outcome]
        err_console.print(f"experiment.kubeflow.org/{exp.name} {verb}", highlight=False)
        keys.append((exp.namespace, exp.name))
    progress = views.Progress(console, quiet=quiet)
    try:
        with progress:
            finished = controller.run(keys, on_step=progress.update)
    except KeyboardInterrupt:
        err_console.print(
            "\n[yellow]Interrupted:[/] running trials were stopped and will start again when you "
            f"run `pykatib run -f {path}` again.", highlight=False
        )
        sys.exit(EXIT_INTERRUPTED)
    for exp in finished:
        views.print_result(console, exp)
    if any(exp.status.has("Failed") for exp in finished):
        sys.exit(EXIT_FAILED)


def _ns_given(ctx: click.Context) -> bool:
    source = ctx.get_parameter_source("namespace")
    return source is not None and source.name != "DEFAULT"


@cli.command()
@click.option("-f", "--filename", "path", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--configmap", "configmaps", multiple=True, type=click.Path(exists=True, dir_okay=False))
@pass_ctx
@click.pass_context
def apply(click_ctx: click.Context, ctx: _Ctx, path: str, configmaps: tuple[str, ...]) -> None:
    """Create the experiments in FILE, or update their mutable fields.

    Only parallelTrialCount, maxTrialCount and maxFailedTrialCount can change. A running
    `pykatib run` picks the change up at once; raising maxTrialCount of an experiment that
    succeeded by max trials with resumePolicy LongRunning or FromVolume restarts it.
    """
    try:
        parsed = _load(path, configmaps)
    except InvalidExperimentError as exc:
        _invalid(exc, path)
    explicit_ns = click_ctx.parent is not None and _ns_given(click_ctx.parent)
    controller = _controller(ctx)
    for exp, warnings in parsed:
        _namespaced(ctx, exp, explicit_ns)
        for w in warnings:
            err_console.print(f"[yellow]warning:[/] {w}", highlight=False)
        try:
            outcome = controller.apply(exp, Path(path).resolve().parent)
        except InvalidExperimentError as exc:
            _invalid(exc, path)
        console.print(f"experiment.kubeflow.org/{exp.name} {outcome}", highlight=False)


_OUTPUT = click.Choice(["wide", "json", "yaml"])


@cli.command()
@click.argument("kind", type=click.Choice(
    ["experiments", "experiment", "trials", "trial", "suggestion", "metrics"]))
@click.argument("name", required=False)
@click.option("-e", "--experiment", help="Only the trials of this experiment.")
@click.option("-o", "--output", type=_OUTPUT, help="wide, json or yaml.")
@pass_ctx
def get(ctx: _Ctx, kind: str, name: str | None, experiment: str | None, output: str | None) -> None:
    """List or show experiments, trials, a suggestion, or a trial's metrics."""
    store = ctx.store
    ns = ctx.namespace
    try:
        if kind in ("experiments", "experiment"):
            items = [store.get_experiment(ns, name)] if name else store.list_experiments(ns)
            _emit(items, output, views.experiments_table, single=bool(name))
        elif kind in ("trials", "trial"):
            if name:
                items = [store.get_trial(ns, name)]
            else:
                if experiment:
                    store.get_experiment(ns, experiment)  # a clear error for a wrong name
                items = store.list_trials(ns, experiment)
            _emit(items, output, views.trials_table, single=bool(name))
        elif kind == "suggestion":
            if not name:
                raise click.UsageError("get suggestion needs the experiment's name")
            suggestion, _ = store.get_suggestion(ns, name)
            _emit([suggestion] if suggestion else [], output or "yaml", None, single=True)
        else:
            if not name:
                raise click.UsageError("get metrics needs a trial name")
            points = store.list_observations(ns, name)
            views.print_metrics(console, name, points, output)
    except NotFoundError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(1)


def _emit(items: list[Any], output: str | None, table: Any, single: bool) -> None:
    if output in ("json", "yaml"):
        data: Any = [i.to_dict() for i in items]
        if single:
            data = data[0] if data else {}
        else:
            data = {"apiVersion": "v1", "kind": "List", "items": data}
        if output == "json":
            click.echo(json.dumps(data, indent=2))
        else:
            from pykatib.api.yaml import dump_yaml

            click.echo(dump_yaml(data), nl=False)
        return
    if not items:
        err_console.print("No resources found.")
        return
    console.print(table(items, wide=output == "wide"))


@cli.command(name="describe")
@click.argument("kind", type=click.Choice(["experiment", "trial"]))
@click.argument("name")
@pass_ctx
def describe_cmd(ctx: _Ctx, kind: str, name: str) -> None:
    """Show one experiment or trial in detail, as kubectl describe does."""
    try:
        if kind == "experiment":
            resource = ctx.store.get_experiment(ctx.namespace, name).to_dict()
        else:
            resource = ctx.store.get_trial(ctx.namespace, name).to_dict()
    except NotFoundError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(1)
    click.echo(describe(resource))


@cli.command()
@click.argument("trial")
@click.option("-f", "--follow", is_flag=True, help="Keep printing until the trial ends.")
@pass_ctx
def logs(ctx: _Ctx, trial: str, follow: bool) -> None:
    """Print a trial's output (stdout and stderr)."""
    try:
        views.print_logs(ctx.store, ctx.namespace, trial, follow)
    except NotFoundError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(1)


@cli.command()
@click.argument("kind", type=click.Choice(["experiment"]))
@click.argument("name")
@pass_ctx
def delete(ctx: _Ctx, kind: str, name: str) -> None:
    """Delete an experiment with its trials, suggestion and observation logs."""
    try:
        _controller(ctx).delete(ctx.namespace, name)
    except NotFoundError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(1)
    console.print(f'experiment.kubeflow.org "{name}" deleted', highlight=False)


def main() -> None:
    try:
        cli(standalone_mode=True)
    except PykatibError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(1)


if __name__ == "__main__":
    main()
