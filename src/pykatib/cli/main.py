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

# Piped output (scripts, `| grep`) is not cut to 80 columns.
console = Console() if sys.stdout.isatty() else Console(width=250)
err_console = Console(stderr=True, soft_wrap=True)

DEFAULT_NAMESPACE = "default"
EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_INTERRUPTED = 130


class _Ctx:
    def __init__(self, db: str | None, namespace: str | None) -> None:
        self.db = db
        self.explicit_namespace = namespace
        self._store = None

    @property
    def namespace(self) -> str:
        return self.explicit_namespace or DEFAULT_NAMESPACE

    def find(self, kind: str, name: str) -> Any:
        """The experiment or trial called ``name``: in ``-n``'s namespace when given, else in
        ``default``, else in the one namespace that has it."""
        getter = self.store.get_experiment if kind == "experiment" else self.store.get_trial
        if self.explicit_namespace:
            return getter(self.explicit_namespace, name)
        try:
            return getter(DEFAULT_NAMESPACE, name)
        except NotFoundError:
            lister = self.store.list_experiments if kind == "experiment" else self.store.list_trials
            matches = [r for r in lister() if r.name == name]
            if len(matches) == 1:
                return matches[0]
            if matches:
                spaces = ", ".join(sorted(r.namespace for r in matches))
                raise NotFoundError(
                    f'{kind} "{name}" exists in namespaces {spaces}: pick one with -n'
                ) from None
            raise

    @property
    def store(self):  # type: ignore[no-untyped-def]
        if self._store is None:
            from pykatib.store import Store

            self._store = Store(self.db)
        return self._store


pass_ctx = click.make_pass_decorator(_Ctx)


def _set_namespace(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value:
        ctx.ensure_object(_Ctx).explicit_namespace = value


namespace_option = click.option(
    "-n",
    "--namespace",
    expose_value=False,
    callback=_set_namespace,
    help="Namespace (default: the experiment's own, else default).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", envvar="PYKATIB_DB", help="Database URL (default: SQLite in $PYKATIB_HOME).")
@click.option("-n", "--namespace", help="Namespace (default: default).")
@click.version_option(package_name="pykatib")
@click.pass_context
def cli(ctx: click.Context, db: str | None, namespace: str | None) -> None:
    """Katib's hyperparameter tuning, on this machine: apply Katib v1beta1 Experiments and run them."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    ctx.obj = _Ctx(db, namespace)


def _load(path: str, configmaps: Sequence[str]) -> list[tuple[Experiment, list[str]]]:
    """Parse, default, validate and admit the experiments in ``path``; every problem at once."""
    from pykatib.api.yaml import parse_configmaps, parse_experiments
    from pykatib.control.admission import admit

    text = Path(path).read_text(encoding="utf-8")
    extra: list[dict[str, Any]] = []
    for cm_path in configmaps:
        extra += parse_configmaps(Path(cm_path).read_text(encoding="utf-8"), cm_path)
    parsed = parse_experiments(text, path, configmaps=extra)
    errors: list[str] = []
    for exp, warnings in parsed:
        more_errors, more_warnings = admit(exp)
        errors += more_errors
        warnings += more_warnings
    if errors:
        raise InvalidExperimentError(errors, source=path)
    return parsed


def _invalid(exc: InvalidExperimentError, path: str) -> None:
    err_console.print(
        f"[bold red]error:[/] {path} is not a valid Katib experiment:", highlight=False
    )
    for line in exc.errors:
        err_console.print(f"  - {line}", highlight=False, markup=False)
    sys.exit(EXIT_INVALID)


def _controller(ctx: _Ctx):  # type: ignore[no-untyped-def]
    from pykatib.control.controller import Controller

    return Controller(ctx.store)


def _namespaced(ctx: _Ctx, exp: Experiment) -> None:
    if ctx.explicit_namespace or not exp.metadata.namespace:
        exp.metadata.namespace = ctx.namespace


@cli.command()
@click.option(
    "-f", "--filename", "path", required=True, type=click.Path(exists=True, dir_okay=False)
)
@click.option(
    "--configmap",
    "configmaps",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="YAML file with the ConfigMap a trialTemplate.configMap names (repeatable).",
)
@click.option("--quiet", "-q", is_flag=True, help="No live progress, just the result.")
@namespace_option
@pass_ctx
def run(ctx: _Ctx, path: str, configmaps: tuple[str, ...], quiet: bool) -> None:
    """Create (or resume) the experiments in FILE and run them to completion."""
    try:
        parsed = _load(path, configmaps)
    except InvalidExperimentError as exc:
        _invalid(exc, path)
    controller = _controller(ctx)
    keys = []
    source_dir = Path(path).resolve().parent
    for exp, warnings in parsed:
        _namespaced(ctx, exp)
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
            f"run `pykatib run -f {path}` again.",
            highlight=False,
        )
        sys.exit(EXIT_INTERRUPTED)
    for exp in finished:
        views.print_result(console, exp)
    if any(exp.status.has("Failed") for exp in finished):
        sys.exit(EXIT_FAILED)


@cli.command()
@click.option(
    "-f", "--filename", "path", required=True, type=click.Path(exists=True, dir_okay=False)
)
@click.option(
    "--configmap", "configmaps", multiple=True, type=click.Path(exists=True, dir_okay=False)
)
@namespace_option
@pass_ctx
def apply(ctx: _Ctx, path: str, configmaps: tuple[str, ...]) -> None:
    """Create the experiments in FILE, or update their mutable fields.

    Only parallelTrialCount, maxTrialCount and maxFailedTrialCount can change. A running
    `pykatib run` picks the change up at once; raising maxTrialCount of an experiment that
    succeeded by max trials with resumePolicy LongRunning or FromVolume restarts it.
    """
    try:
        parsed = _load(path, configmaps)
    except InvalidExperimentError as exc:
        _invalid(exc, path)
    controller = _controller(ctx)
    for exp, warnings in parsed:
        _namespaced(ctx, exp)
        for w in warnings:
            err_console.print(f"[yellow]warning:[/] {w}", highlight=False)
        try:
            outcome = controller.apply(exp, Path(path).resolve().parent)
        except InvalidExperimentError as exc:
            _invalid(exc, path)
        console.print(f"experiment.kubeflow.org/{exp.name} {outcome}", highlight=False)


_OUTPUT = click.Choice(["wide", "json", "yaml"])


@cli.command()
@click.argument(
    "kind",
    type=click.Choice(["experiments", "experiment", "trials", "trial", "suggestion", "metrics"]),
)
@click.argument("name", required=False)
@click.option("-e", "--experiment", help="Only the trials of this experiment.")
@click.option("-o", "--output", type=_OUTPUT, help="wide, json or yaml.")
@namespace_option
@pass_ctx
def get(ctx: _Ctx, kind: str, name: str | None, experiment: str | None, output: str | None) -> None:
    """List or show experiments, trials, a suggestion, or a trial's metrics."""
    store = ctx.store
    # Lists without -n cover every namespace (Katib's examples live in "kubeflow").
    ns = ctx.explicit_namespace
    try:
        if kind in ("experiments", "experiment"):
            items = [ctx.find("experiment", name)] if name else store.list_experiments(ns)
            _emit(items, output, views.experiments_table, single=bool(name))
        elif kind in ("trials", "trial"):
            if name:
                items = [ctx.find("trial", name)]
            elif experiment:
                exp = ctx.find("experiment", experiment)
                items = store.list_trials(exp.namespace, exp.name)
            else:
                items = store.list_trials(ns)
            _emit(items, output, views.trials_table, single=bool(name))
        elif kind == "suggestion":
            if not name:
                raise click.UsageError("get suggestion needs the experiment's name")
            exp = ctx.find("experiment", name)
            suggestion, _ = store.get_suggestion(exp.namespace, exp.name)
            _emit([suggestion] if suggestion else [], output or "yaml", None, single=True)
        else:
            if not name:
                raise click.UsageError("get metrics needs a trial name")
            trial = ctx.find("trial", name)
            points = store.list_observations(trial.namespace, trial.name)
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
@namespace_option
@pass_ctx
def describe_cmd(ctx: _Ctx, kind: str, name: str) -> None:
    """Show one experiment or trial in detail, as kubectl describe does."""
    try:
        resource = ctx.find(kind, name).to_dict()
    except NotFoundError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(1)
    click.echo(describe(resource))


@cli.command()
@click.argument("trial")
@click.option("-f", "--follow", is_flag=True, help="Keep printing until the trial ends.")
@namespace_option
@pass_ctx
def logs(ctx: _Ctx, trial: str, follow: bool) -> None:
    """Print a trial's output (stdout and stderr)."""
    try:
        found = ctx.find("trial", trial)
        views.print_logs(ctx.store, found.namespace, found.name, follow)
    except NotFoundError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(1)


@cli.command()
@click.argument("kind", type=click.Choice(["experiment"]))
@click.argument("name")
@namespace_option
@pass_ctx
def delete(ctx: _Ctx, kind: str, name: str) -> None:
    """Delete an experiment with its trials, suggestion and observation logs."""
    try:
        exp = ctx.find("experiment", name)
        _controller(ctx).delete(exp.namespace, exp.name)
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
