"""The ``pykatib`` command, in kubectl's style: run, apply, get, describe, logs, delete."""

from __future__ import annotations

import importlib.util
import json
import re
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from pykatib.api.errors import InvalidExperimentError, NotFoundError, PykatibError, one_line
from pykatib.cli import paging
from pykatib.cli.collect import collect as collect_command
from pykatib.cli.describe import describe, event_lines
from pykatib.cli.views import PIPED_WIDTH, is_plain

if TYPE_CHECKING:
    from rich.console import Console

    from pykatib.api.models import Experiment
    from pykatib.api.yaml import ExperimentDocument
    from pykatib.cli.backend import Backend
    from pykatib.cli.server_reader import ServerReader
    from pykatib.store.reader import Reader


class _Console:
    """A rich Console, made on first use: `get`'s tables, piped, are written without rich
    (:func:`pykatib.cli.tables.plain`), so that those commands never import it."""

    def __init__(self, stderr: bool = False) -> None:
        self.stderr = stderr
        self._console: Console | None = None

    def get(self) -> Console:
        if self._console is None:
            from rich.console import Console

            if self.stderr:
                self._console = Console(stderr=True, soft_wrap=True)
            else:
                self._console = Console() if sys.stdout.isatty() else Console(width=PIPED_WIDTH)
        return self._console

    def print(self, *objects: Any, **kwargs: Any) -> None:
        self.get().print(*objects, **kwargs)

    def say(self, line: str) -> None:
        """Print ``line`` (no markup); written straight to a stream that is not a terminal
        when rich would write it unchanged, so that a quiet, piped `run` needs no rich."""
        stream = sys.stderr if self.stderr else sys.stdout
        if not stream.isatty() and is_plain(line, None if self.stderr else PIPED_WIDTH):
            stream.write(f"{line}\n")
        else:
            self.print(line, highlight=False)


console = _Console()
err_console = _Console(stderr=True)

DEFAULT_NAMESPACE = "default"
_SERVER_URL = r"https?://[^/\s]+(/\S*)?"
EXIT_FAILED = 1
EXIT_INVALID = 2
_READ_COMMANDS = ("get", "describe", "logs")  # answered without configuring logging
EXIT_INTERRUPTED = 130


class _Ctx:
    def __init__(self, db: str | None, namespace: str | None) -> None:
        self.db = db
        self.db_given = False  # --db on the command line (not PYKATIB_DB)
        self.explicit_namespace = namespace
        self.server: str | None = None
        self.server_source = "--server"  # or PYKATIB_SERVER, for the error messages
        self.token: str | None = None
        self._backend: Backend | None = None
        self._reader: Reader | ServerReader | None | bool = False  # False: not yet

    @property
    def namespace(self) -> str:
        return self.explicit_namespace or DEFAULT_NAMESPACE

    def find(self, kind: str, name: str) -> Any:
        """The experiment, trial or suggestion called ``name`` in ``-n``'s namespace (default:
        ``default``), as kubectl looks. When it is not there, the error names the namespaces
        that have one."""
        backend = self.backend
        getter, lister = {
            "experiment": (backend.get_experiment, backend.list_experiments),
            "trial": (backend.get_trial, backend.list_trials),
            "suggestion": (backend.get_suggestion, backend.list_suggestions),
        }[kind]
        try:
            return getter(self.namespace, name)
        except NotFoundError as exc:
            try:
                everywhere = lister(None)
            except PykatibError:  # e.g. a token scoped to some namespaces may not list all
                raise exc from None
            elsewhere = sorted({_namespace_of(r) for r in everywhere if _name_of(r) == name})
            if not elsewhere:
                raise
            spaces = "namespace" if len(elsewhere) == 1 else "namespaces"
            raise NotFoundError(
                f"{exc}; it exists in {spaces} {', '.join(elsewhere)}: add -n {elsewhere[0]}"
            ) from None

    def find_doc(self, kind: str, name: str, trial_lists: bool = True) -> dict[str, Any]:
        """As :meth:`find`, as Katib's JSON: read with the fast :attr:`reader` when there is
        one (the full store's look-up words the error when it is not found). Without
        ``trial_lists`` an experiment may come without its trial-name lists (a table shows
        none; the local store reads them from every trial)."""
        reader = self.reader
        if reader is not None and kind in ("experiment", "trial"):
            if kind == "experiment":
                found = reader.experiment(self.namespace, name, trial_lists=trial_lists)
            else:
                found = reader.trial(self.namespace, name)
            if found is not None:
                return found  # type: ignore[no-any-return]
        return self.find(kind, name).to_dict()  # type: ignore[no-any-return]

    @property
    def reader(self) -> Reader | ServerReader | None:
        """What `get`, `describe` and `logs` read first, with no SQLAlchemy, httpx or models
        imported, so that they answer at once: the local store through the lean reader (SQLite,
        PostgreSQL, MySQL), or the server's API through ``http.client``. None where only
        :attr:`backend` can read (a driver the lean reader does not stand in for, a database it
        must first create or migrate or cannot reach; a --server it would refuse). Either
        reader answers None for what did not go well: :attr:`backend` then asks again and words
        the error."""
        if self._reader is False:
            self._reader = None
            if self.server:
                if not self.db_given and re.fullmatch(_SERVER_URL, self.server):
                    from pykatib.cli.server_reader import ServerReader

                    self._reader = ServerReader(self.server, self.token)
            else:
                from pykatib.store.location import default_url
                from pykatib.store.reader import open_reader

                self._reader = open_reader(self.db or default_url())
            click_ctx = click.get_current_context(silent=True)
            if self._reader is not None and click_ctx is not None:
                # Said goodbye to: a MySQL server counts a dropped connection as aborted.
                click_ctx.call_on_close(self._reader.close)
        return self._reader  # type: ignore[return-value]

    @property
    def backend(self) -> Backend:
        """The server (``--server``), else the local store (``--db``)."""
        if self._backend is None:
            self._backend = self._remote() if self.server else self._local()
        return self._backend

    def _local(self) -> Backend:
        from pykatib.cli.backend import Local

        local = Local(self.db)
        click_ctx = click.get_current_context(silent=True)
        if click_ctx is not None:
            click_ctx.call_on_close(local.close)
        return local

    def _remote(self) -> Backend:
        assert self.server is not None
        if self.db_given:
            raise click.UsageError(
                "--db and --server exclude each other: --db names a local database, --server "
                "a pykatib server (which has its own); give one of them"
            )
        if not re.fullmatch(_SERVER_URL, self.server):
            raise click.UsageError(
                f"{self.server_source} must be the URL of a pykatib server, e.g. "
                f"http://127.0.0.1:8080 (got {self.server!r})"
            )
        try:
            import httpx  # noqa: F401
        except ImportError:
            err_console.print(
                f"[bold red]error:[/] {self.server_source} needs httpx to talk to the server: "
                'pip install "pykatib[server]"',
                highlight=False,
            )
            sys.exit(EXIT_INVALID)
        from pykatib.cli.backend import Remote

        remote = Remote(self.server, self.token)
        click_ctx = click.get_current_context(silent=True)
        if click_ctx is not None:
            click_ctx.call_on_close(remote.close)
        return remote

    def refuse_server(self, command: str, why: str) -> None:
        """Exit 2 when ``command``, which works on this machine only, was given a server."""
        if self.server:
            unset = " (unset PYKATIB_SERVER)" if self.server_source == "PYKATIB_SERVER" else ""
            raise click.UsageError(
                f"`pykatib {command}` does not take {self.server_source}: {why}; leave it "
                f"out{unset}"
            )


def _name_of(resource: Any) -> str:
    return resource.metadata.name or ""


def _namespace_of(resource: Any) -> str:
    return resource.metadata.namespace or DEFAULT_NAMESPACE


pass_ctx = click.make_pass_decorator(_Ctx)


def _set_namespace(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value:
        ctx.ensure_object(_Ctx).explicit_namespace = value


namespace_option = click.option(
    "-n",
    "--namespace",
    expose_value=False,
    callback=_set_namespace,
    help="Namespace (default: default; with -f, the file's metadata.namespace).",
)


def _set_server(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value:
        obj = ctx.ensure_object(_Ctx)
        obj.server, obj.server_source = value, "--server"


def _set_token(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value:
        ctx.ensure_object(_Ctx).token = value


_SERVER_HELP = "Talk to the pykatib server at URL (http://HOST:PORT), not the local store."
_TOKEN_HELP = "The server's bearer token (with --server)."


def server_options(f: Any) -> Any:
    """``--server`` and ``--token`` after the command's name too, as ``-n`` is."""
    f = click.option(
        "--token", expose_value=False, callback=_set_token, metavar="TOKEN", help=_TOKEN_HELP
    )(f)
    return click.option(
        "--server", expose_value=False, callback=_set_server, metavar="URL", help=_SERVER_HELP
    )(f)


def _declare(part: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        if value is None:
            return
        from pykatib.runtime.resources import MACHINE, quantity

        if part == "memory":
            try:
                value = quantity(value)
            except ValueError as exc:
                raise click.BadParameter(str(exc)) from None
        MACHINE.declare(**{part: value})

    return callback


def capacity_options(f: Any) -> Any:
    """``--cpus``, ``--memory``, ``--gpus``: what trials may use of this machine."""
    f = click.option(
        "--gpus",
        type=click.IntRange(min=0),
        envvar="PYKATIB_GPUS",
        expose_value=False,
        callback=_declare("gpus"),
        help="GPUs trials may use (nvidia.com/gpu; default: those nvidia-smi lists). "
        "Env: PYKATIB_GPUS.",
    )(f)
    f = click.option(
        "--memory",
        envvar="PYKATIB_MEMORY",
        metavar="SIZE",
        expose_value=False,
        callback=_declare("memory"),
        help="Memory trials may use, as Kubernetes writes it (16Gi; default: all). "
        "Env: PYKATIB_MEMORY.",
    )(f)
    return click.option(
        "--cpus",
        type=click.FloatRange(min=0),
        envvar="PYKATIB_CPUS",
        expose_value=False,
        callback=_declare("cpus"),
        help="CPUs trials may use (default: all this process may). Env: PYKATIB_CPUS.",
    )(f)


def runtime_options(f: Any) -> Any:
    """``--runtime`` and ``--dask-scheduler``: where the trials run."""
    f = click.option(
        "--dask-scheduler",
        envvar="PYKATIB_DASK_SCHEDULER",
        metavar="ADDRESS",
        help="The Dask scheduler (tcp://HOST:8786) for --runtime dask. "
        "Env: PYKATIB_DASK_SCHEDULER.",
    )(f)
    return click.option(
        "--runtime",
        type=click.Choice(["local", "dask", "kubernetes"]),
        envvar="PYKATIB_RUNTIME",
        default="local",
        show_default=True,
        help="Where trials run: local processes, tasks on the workers of a Dask cluster "
        "(docs/dask.md), or objects in the Kubernetes cluster of the kubeconfig or the pod "
        "(docs/kubernetes.md). Env: PYKATIB_RUNTIME.",
    )(f)


def _use_runtime(runtime: str, dask_scheduler: str | None) -> None:
    """Run this process's trials with ``runtime`` (checked before anything is applied)."""
    from pykatib.runtime import selection

    if runtime == "dask":
        if not dask_scheduler:
            raise click.UsageError(
                "--runtime dask needs the scheduler's address: --dask-scheduler "
                "tcp://HOST:8786 (or PYKATIB_DASK_SCHEDULER)"
            )
        if importlib.util.find_spec("distributed") is None:
            err_console.print(
                '[bold red]error:[/] --runtime dask needs Dask: pip install "pykatib[dask]"',
                highlight=False,
            )
            sys.exit(EXIT_INVALID)
    if runtime == "kubernetes":
        problem = selection.kubernetes_problem()
        if problem:
            err_console.print(f"[bold red]error:[/] {problem}", highlight=False)
            sys.exit(EXIT_INVALID)
    selection.use(selection.Runtime(runtime, dask_scheduler))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", envvar="PYKATIB_DB", help="Database URL (default: SQLite in $PYKATIB_HOME).")
@click.option("-n", "--namespace", help="Namespace (default: default; with -f, the file's own).")
@click.option(
    "--server", envvar="PYKATIB_SERVER", metavar="URL", help=_SERVER_HELP + " Env: PYKATIB_SERVER."
)
@click.option(
    "--token", envvar="PYKATIB_TOKEN", metavar="TOKEN", help=_TOKEN_HELP + " Env: PYKATIB_TOKEN."
)
@click.version_option(package_name="pykatib")
@click.pass_context
def cli(
    ctx: click.Context,
    db: str | None,
    namespace: str | None,
    server: str | None,
    token: str | None,
) -> None:
    """Katib's hyperparameter tuning, on this machine: apply Katib v1beta1 Experiments and run them.

    With --server URL (or PYKATIB_SERVER) the commands talk to that pykatib server instead, with
    the same output; its control plane runs the experiments.
    """
    if ctx.invoked_subcommand not in _READ_COMMANDS:
        # The read commands log nothing of their own, and importing logging is a tenth of
        # their start-up (bench/startup.py); Python's last-resort handler still prints warnings.
        import logging

        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    obj = ctx.obj = _Ctx(db, namespace)
    obj.db_given = ctx.get_parameter_source("db") == click.core.ParameterSource.COMMANDLINE
    if server:
        obj.server = server
        from_env = ctx.get_parameter_source("server") == click.core.ParameterSource.ENVIRONMENT
        obj.server_source = "PYKATIB_SERVER" if from_env else "--server"
    obj.token = token


def _load(path: str, configmaps: Sequence[str]) -> list[ExperimentDocument]:
    """Parse, default, validate and admit each experiment document in ``path``; every problem
    at once, each with its document. Exits 2 when the file (or a ConfigMap file) is not YAML."""
    from pykatib.api.yaml import load_experiments, parse_configmaps
    from pykatib.control.admission import admit

    try:
        text = Path(path).read_text(encoding="utf-8")
        extra: list[dict[str, Any]] = []
        for cm_path in configmaps:
            extra += parse_configmaps(Path(cm_path).read_text(encoding="utf-8"), cm_path)
        docs = load_experiments(text, path, configmaps=extra)
    except InvalidExperimentError as exc:
        _invalid(exc, path)
    except UnicodeDecodeError as exc:
        message = f"<file>: not UTF-8 text (byte {exc.start}); save it as UTF-8 YAML"
        _invalid(InvalidExperimentError([message]), path)
    for doc in docs:
        if doc.experiment is not None and not doc.errors:
            more_errors, more_warnings = admit(doc.experiment)
            doc.errors += [doc.where + one_line(e) for e in more_errors]
            doc.warnings += [doc.where + one_line(w) for w in more_warnings]
    return docs


def _report(errors: Sequence[str], header: str) -> None:
    from rich.markup import escape

    err_console.print(f"[bold red]error:[/] {escape(header)}:", highlight=False)
    for line in errors:
        err_console.print(f"  - {line}", highlight=False, markup=False)


def _invalid(exc: InvalidExperimentError, path: str) -> NoReturn:
    _report(exc.errors, f"{path} is not a valid Katib experiment")
    sys.exit(EXIT_INVALID)


def _warn(warnings: Sequence[str]) -> None:
    for w in warnings:
        err_console.print(f"[yellow]warning:[/] {w}", highlight=False)


def _namespaced(ctx: _Ctx, exp: Experiment) -> None:
    if ctx.explicit_namespace or not exp.metadata.namespace:
        exp.metadata.namespace = ctx.namespace


def _interrupt_on_signals() -> None:
    """SIGTERM and SIGHUP (`kill`, a closed terminal, a container stop) act as Ctrl-C does:
    the trials stop and the experiments stay resumable; a cluster's jobs, though, run on."""
    from pykatib.control.controller import Terminated

    def interrupt(signum: int, frame: Any) -> None:
        raise Terminated

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupt)


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
@capacity_options
@runtime_options
@namespace_option
@server_options
@pass_ctx
def run(
    ctx: _Ctx,
    path: str,
    configmaps: tuple[str, ...],
    quiet: bool,
    runtime: str,
    dask_scheduler: str | None,
) -> None:
    """Create (or resume) the experiments in FILE and run them to completion.

    All or nothing: when any document of FILE is invalid, nothing is created or run. With
    --server the server runs them, and this follows their progress.
    """
    _use_runtime(runtime, dask_scheduler)
    docs = _load(path, configmaps)
    errors = [e for doc in docs for e in doc.errors]
    if errors:
        _invalid(InvalidExperimentError(errors, path), path)
    backend = ctx.backend
    if runtime == "local" and not backend.remote:
        from pykatib.runtime.shim import start_launcher

        start_launcher()  # its interpreter starts while the store opens
    keys = []
    restarting = {}
    source_dir = Path(path).resolve().parent
    for doc in docs:
        exp = doc.experiment
        assert exp is not None  # no errors: every document is an experiment
        _namespaced(ctx, exp)
        _warn(doc.warnings)
        key = (exp.namespace, exp.name)
        before = _before(backend, key)
        try:
            outcome, warnings = backend.apply(exp, source_dir)
        except InvalidExperimentError as exc:
            _invalid(exc, path)
        _warn(_new(warnings, doc.warnings))
        verb = {"created": "created", "configured": "configured", "unchanged": "resumed"}[outcome]
        err_console.say(f"experiment.kubeflow.org/{exp.name} {verb}")
        keys.append(key)
        if before is not None and _restarts(before, exp, outcome):
            restarting[key] = before
    from pykatib.cli import views

    progress = views.Progress(console.get, quiet=quiet)

    def following(key: tuple[str, str], lease: Any) -> None:
        err_console.print(
            f"experiment.kubeflow.org/{key[1]} is driven by {lease.describe()}: following its "
            "progress (taken over here if that process stops)",
            highlight=False,
        )

    _interrupt_on_signals()
    global _FINISHED_RUN
    try:
        with progress:
            try:
                finished = backend.run(keys, progress.update, following, restarting)
            finally:
                # Driven to the end, or its trials stopped (an interrupt, a deletion).
                _FINISHED_RUN = True
    except KeyboardInterrupt as exc:
        if backend.remote:
            again = f"pykatib run --server {ctx.server} -f {path}"
            message = (
                f"the server at {ctx.server} goes on running the experiments; `{again}` "
                "follows them again."
            )
        elif runtime == "kubernetes" and type(exc) is not KeyboardInterrupt:  # SIGTERM, SIGHUP
            message = (
                "the trials' jobs go on running in the cluster; "
                f"`pykatib run -f {path} --runtime kubernetes` watches them again."
            )
        else:
            message = (
                "running trials were stopped and will start again when you run "
                f"`pykatib run -f {path}` again."
            )
        err_console.print(f"\n[yellow]Interrupted:[/] {message}", highlight=False)
        sys.exit(EXIT_INTERRUPTED)
    except NotFoundError as exc:
        err_console.print(
            f"[bold red]error:[/] {exc}; its running trials were stopped.",
            highlight=False,
        )
        sys.exit(EXIT_FAILED)
    for exp in finished:
        views.print_result(console.get, exp)
    if any(exp.status.has("Failed") for exp in finished):
        sys.exit(EXIT_FAILED)


def _before(backend: Backend, key: tuple[str, str]) -> Experiment | None:
    """The experiment as a server holds it before ``run`` applies it (None locally, where the
    control plane applies a restart itself)."""
    if not backend.remote:
        return None
    try:
        return backend.get_experiment(*key)
    except NotFoundError:
        return None


def _restarts(before: Experiment, exp: Experiment, outcome: str) -> bool:
    """Whether applying ``exp`` restarts the experiment that was ``before`` (Katib's rule)."""
    from pykatib.control import status as st

    return (
        outcome == "configured"
        and st.is_restartable(before)
        and (exp.spec.max_trial_count or 0) > (before.spec.max_trial_count or 0)
    )


def _new(warnings: Sequence[str], shown: Sequence[str]) -> list[str]:
    """The server's warnings that the local checks did not already give."""
    return [w for w in warnings if not any(s.endswith(w) for s in shown)]


@cli.command()
@click.option(
    "-f", "--filename", "path", required=True, type=click.Path(exists=True, dir_okay=False)
)
@click.option(
    "--configmap", "configmaps", multiple=True, type=click.Path(exists=True, dir_okay=False)
)
@capacity_options
@namespace_option
@server_options
@pass_ctx
def apply(ctx: _Ctx, path: str, configmaps: tuple[str, ...]) -> None:
    """Create the experiments in FILE, or update their mutable fields.

    Only parallelTrialCount, maxTrialCount and maxFailedTrialCount can change. A running
    `pykatib run` picks the change up at once; raising maxTrialCount of an experiment that
    succeeded by max trials with resumePolicy LongRunning or FromVolume restarts it.

    As kubectl does, every valid experiment in FILE is applied and each invalid one reported
    (exit 2 when any was).
    """
    backend = ctx.backend
    rejected = False
    for doc in _load(path, configmaps):
        exp = doc.experiment
        _warn(doc.warnings)
        if exp is not None and not doc.errors:
            _namespaced(ctx, exp)
            try:
                outcome, warnings = backend.apply(exp, Path(path).resolve().parent)
            except InvalidExperimentError as exc:  # Katib's update rules
                doc.errors += [doc.where + e for e in exc.errors]
            else:
                _warn(_new(warnings, doc.warnings))
                console.print(f"experiment.kubeflow.org/{exp.name} {outcome}", highlight=False)
                continue
        rejected = True
        named = f'experiment "{exp.name}"' if exp is not None and exp.name else "a document"
        _report(doc.errors, f"{path}: {named} is invalid, not applied")
    if rejected:
        sys.exit(EXIT_INVALID)


_OUTPUT = click.Choice(["wide", "json", "yaml"])


_KINDS = {
    "experiments": "experiment",
    "experiment": "experiment",
    "trials": "trial",
    "trial": "trial",
    "suggestions": "suggestion",
    "suggestion": "suggestion",
    "metrics": "metrics",
}


@cli.command()
@click.argument("kind", type=click.Choice(list(_KINDS)))
@click.argument("name", required=False)
@click.option("-e", "--experiment", help="Only the trials of this experiment.")
@click.option("-o", "--output", type=_OUTPUT, help="wide, json or yaml.")
@click.option(
    "-A", "--all-namespaces", is_flag=True, help="List across every namespace (not with NAME)."
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    help="Trials: at most this many, in creation order; the token to read on with is printed "
    "(on stderr; with -o json|yaml, in the list's metadata.continue).",
)
@click.option(
    "--continue",
    "continue_",
    metavar="TOKEN",
    help="Trials: go on after the page that gave this token (with the same filters).",
)
@namespace_option
@server_options
@pass_ctx
def get(
    ctx: _Ctx,
    kind: str,
    name: str | None,
    experiment: str | None,
    output: str | None,
    all_namespaces: bool,
    limit: int | None,
    continue_: str | None,
) -> None:
    """List or show experiments, trials, suggestions, or a trial's metrics.

    Without -n they are looked up in the default namespace, as kubectl does; -A lists every
    namespace. Trials page with --limit and --continue.
    """
    kind = _KINDS[kind]
    if all_namespaces and name:
        raise click.UsageError("a resource cannot be retrieved by name across all namespaces")
    if (limit or continue_) and (kind != "trial" or name):
        raise click.UsageError("--limit and --continue page a list of trials (get trials)")
    after = paging.decode(continue_) if continue_ else None
    ns = None if all_namespaces else ctx.namespace
    # JSON and YAML come from the models (their field order); tables from the store's JSON.
    fast = output not in ("json", "yaml")
    token = None
    try:
        if kind == "metrics":
            if not name:
                raise click.UsageError("get metrics needs a trial name")
            trial = ctx.find("trial", name)
            points = ctx.backend.list_observations(trial.namespace, trial.name)
            from pykatib.cli import views

            views.print_metrics(console.get(), name, points, output)
            return
        if name:
            items = [ctx.find_doc(kind, name, trial_lists=False) if fast else ctx.find(kind, name)]
        elif kind == "trial":
            if experiment and not all_namespaces:
                exp = ctx.find_doc("experiment", experiment, trial_lists=False)
                ns = exp["metadata"].get("namespace") or DEFAULT_NAMESPACE
            reader = ctx.reader if fast else None
            items, token = paging.trials(reader, lambda: ctx.backend, ns, experiment, after, limit)
        elif kind == "experiment":
            reader = ctx.reader if fast else None
            found = reader.experiments(ns, trial_lists=False) if reader is not None else None
            items = found if found is not None else ctx.backend.list_experiments(ns)
        else:
            items = ctx.backend.list_suggestions(ns)
    except NotFoundError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(1)
    if output in ("json", "yaml"):
        _dump(items, output, single=bool(name), token=token)
        return
    from pykatib.cli import tables

    table = {
        "experiment": tables.experiments_table,
        "trial": tables.trials_table,
        "suggestion": tables.suggestions_table,
    }[kind]
    docs = [i if isinstance(i, dict) else i.to_dict() for i in items]
    if not docs:
        where = "" if all_namespaces else f" in {ns} namespace"
        err_console.say(f"No resources found{where}.")
    else:
        grid = table(docs, wide=output == "wide", all_namespaces=all_namespaces)
        text = None if sys.stdout.isatty() else tables.plain(grid, PIPED_WIDTH)
        if text is not None:
            sys.stdout.write(text)
        else:
            console.print(tables.to_rich(grid))
    if token:
        err_console.say(f"more trials: add --continue {token}")


def _dump(items: list[Any], output: str, single: bool, token: str | None = None) -> None:
    """``items`` as JSON or YAML: the one resource, or a kubectl List of them (with the
    ``continue`` token of the next page, as the API's lists carry it)."""
    data: Any = [i.to_dict() for i in items]
    if single:
        data = data[0]
    else:
        data = {"apiVersion": "v1", "kind": "List", "items": data}
        if token:
            data["metadata"] = {"continue": token}
    if output == "json":
        click.echo(json.dumps(data, indent=2))
    else:
        from pykatib.api.yaml import dump_yaml

        click.echo(dump_yaml(data), nl=False)


@cli.command(name="describe")
@click.argument("kind", type=click.Choice(["experiment", "trial", "suggestion"]))
@click.argument("name")
@namespace_option
@server_options
@pass_ctx
def describe_cmd(ctx: _Ctx, kind: str, name: str) -> None:
    """Show one experiment, trial or suggestion in detail, as kubectl describe does."""
    try:
        found = ctx.find_doc(kind, name)
    except NotFoundError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(1)
    namespace = found["metadata"].get("namespace") or DEFAULT_NAMESPACE
    about = (namespace, found["kind"], found["metadata"]["name"])
    reader = ctx.reader
    events = reader.events(*about) if reader is not None else None
    if events is None:
        events = [e.to_dict() for e in ctx.backend.list_events(*about)]
    click.echo(describe(found, event_lines(events) if events else None))


@cli.command()
@click.argument("trial")
@click.option("-f", "--follow", is_flag=True, help="Keep printing until the trial ends.")
@click.option(
    "--attempt",
    type=click.IntRange(min=1),
    help="The attempt to show (from 1; default: the latest).",
)
@click.option("--all-attempts", is_flag=True, help="Every attempt, each after a header.")
@click.option(
    "--replica",
    metavar="NAME",
    help="A training job's (PyTorchJob...) replica, e.g. worker-0 (default: the primary one).",
)
@namespace_option
@server_options
@pass_ctx
def logs(
    ctx: _Ctx,
    trial: str,
    follow: bool,
    attempt: int | None,
    all_attempts: bool,
    replica: str | None,
) -> None:
    """Print a trial's output (stdout and stderr) of its latest attempt, or of another."""
    try:
        reader = ctx.reader
        if reader is not None and not ctx.server:
            from pykatib.cli.logs import print_logs

            found = ctx.find_doc("trial", trial)
            meta = found["metadata"]

            def read_trial(namespace: str, name: str) -> dict[str, Any]:
                # The fast reader finds it again: it was there a moment ago.
                return reader.trial(namespace, name) or ctx.find_doc("trial", name)

            print_logs(
                read_trial, meta["namespace"], meta["name"], follow, attempt, all_attempts, replica
            )
            return
        from pykatib.cli.server_reader import ServerReader

        if isinstance(reader, ServerReader) and not (follow or attempt or all_attempts or replica):
            # --server, the latest attempt's output: two GETs (else the SDK's transport).
            meta = ctx.find_doc("trial", trial)["metadata"]
            output = reader.latest_log(meta["namespace"], meta["name"])
            if output is not None:
                sys.stdout.buffer.write(output)
                sys.stdout.buffer.flush()
                return
        found = ctx.find("trial", trial)
        ctx.backend.print_logs(found.namespace, found.name, follow, attempt, all_attempts, replica)
    except NotFoundError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(1)


@cli.command()
@click.argument("kind", type=click.Choice(["experiment"]))
@click.argument("name")
@runtime_options
@namespace_option
@server_options
@pass_ctx
def delete(ctx: _Ctx, kind: str, name: str, runtime: str, dask_scheduler: str | None) -> None:
    """Delete an experiment with its trials, suggestion and observation logs (with --runtime
    kubernetes, its trials' jobs in the cluster too, retained ones included)."""
    if runtime == "kubernetes" and not ctx.server:  # a server deletes them itself
        _use_runtime(runtime, None)
    try:
        exp = ctx.find("experiment", name)
        ctx.backend.delete(exp.namespace, exp.name)
    except NotFoundError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(1)
    console.print(f'experiment.kubeflow.org "{name}" deleted', highlight=False)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False),
    help="Bearer tokens, one a line, each optionally followed by its namespaces: TOKEN ns1,ns2. "
    "Required unless --host is a loopback address.",
)
@click.option(
    "--tls-cert",
    type=click.Path(exists=True, dir_okay=False),
    help="Serve HTTPS with this certificate (PEM); kubectl sends tokens only over HTTPS.",
)
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False), help="Its key (PEM).")
@click.option(
    "--db-manager-port",
    type=click.IntRange(1, 65535),
    help="Also serve Katib's DB manager gRPC API (GetObservationLog, ReportObservationLog) on "
    "this port (Katib's is 6789), for the Katib SDK's get_trial_metrics and report_metrics.",
)
@capacity_options
@runtime_options
@click.pass_context
def server(
    click_ctx: click.Context,
    host: str,
    port: int,
    token_file: str | None,
    tls_cert: str | None,
    tls_key: str | None,
    db_manager_port: int | None,
    runtime: str,
    dask_scheduler: str | None,
) -> None:
    """Run the control plane and a Kubernetes-style API that kubectl talks to.

    Every experiment in the database (--db) that no other control plane drives is driven here;
    Ctrl-C or SIGTERM stops its trials, leaving the experiments resumable (with --runtime
    kubernetes their jobs run on, and the next server adopts them).
    """
    _use_runtime(runtime, dask_scheduler)
    found = click_ctx.find_object(_Ctx)
    if found is not None:
        found.refuse_server("server", "it serves the local database, it does not talk to a server")
    try:
        from pykatib.server import is_loopback, serve
        from pykatib.server.auth import TokenFileError, load_tokens
    except ImportError as exc:
        err_console.print(
            f"[bold red]error:[/] the server needs FastAPI and uvicorn ({exc.name} is missing): "
            'pip install "pykatib[server]"',
            highlight=False,
        )
        sys.exit(EXIT_INVALID)
    if token_file is None and not is_loopback(host):
        err_console.print(
            f"[bold red]error:[/] refusing to listen on {host} without authentication: anyone "
            "who can reach it could run commands as you. Give --token-file FILE (one token a "
            "line), or listen on 127.0.0.1.",
            highlight=False,
        )
        sys.exit(EXIT_INVALID)
    try:
        tokens = load_tokens(token_file) if token_file else None
    except TokenFileError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(EXIT_INVALID)
    if bool(tls_cert) != bool(tls_key):
        raise click.UsageError("--tls-cert and --tls-key go together")
    tls = (tls_cert, tls_key) if tls_cert and tls_key else None
    if db_manager_port is not None:
        try:
            import grpc  # noqa: F401
        except ImportError:
            err_console.print(
                "[bold red]error:[/] --db-manager-port needs grpcio: pip install grpcio",
                highlight=False,
            )
            sys.exit(EXIT_INVALID)
    ctx = click_ctx.find_object(_Ctx)
    scheme = "https" if tls else "http"
    err_console.print(f"pykatib server listening on {scheme}://{host}:{port}", highlight=False)
    if db_manager_port is not None:
        err_console.print(f"Katib DB manager (gRPC) on {host}:{db_manager_port}", highlight=False)
    serve(
        host,
        port,
        ctx.db if ctx is not None else None,
        tokens,
        tls=tls,
        db_manager_port=db_manager_port,
    )


@cli.group()
def db() -> None:
    """The database: schema migrations."""


@db.command(name="upgrade")
@click.pass_context
def db_upgrade(click_ctx: click.Context) -> None:
    """Bring the database (--db, PYKATIB_DB, or SQLite in $PYKATIB_HOME) to the newest schema.

    Opening a database does this too; this command does it ahead of time (e.g. before several
    servers share it).
    """
    from pykatib.store import default_url, upgrade

    ctx = click_ctx.find_object(_Ctx)
    if ctx is not None:
        ctx.refuse_server(
            "db upgrade", "it upgrades a local database (a server upgrades its own when it starts)"
        )
    url = (ctx.db if ctx is not None else None) or default_url()
    revision = upgrade(url)
    console.print(f"database at schema revision {revision} (the newest)", highlight=False)


cli.add_command(collect_command)  # pykatib collect: a trial's collector in its pod (issue 12)


def main() -> None:
    try:
        try:
            cli(standalone_mode=True)
        except PykatibError as exc:
            err_console.print(f"[bold red]error:[/] {_explained(exc)}", highlight=False)
            sys.exit(EXIT_FAILED)
    except SystemExit as exc:
        if _FINISHED_RUN and (exc.code is None or isinstance(exc.code, int)):
            _exit_at_once(exc.code or 0)
        raise


# Set once `run` has driven its experiments to the end (or stopped their trials); its store is
# closed with the command's context, before main() sees the exit.
_FINISHED_RUN = False


def _exit_at_once(code: int) -> None:
    """End a finished `run` without the interpreter's teardown: freeing the modules a run
    imports (SQLAlchemy, pydantic, the control plane) costs about 100 ms of CPU and more of wall
    time, and does nothing a run needs. Everything is written and closed by then; the exit
    handlers still run (logging's flush among them). Not when another thread still runs: the
    interpreter would wait for it, so the normal exit does."""
    import atexit
    import os
    import threading

    if any(
        t.is_alive() and not t.daemon
        for t in threading.enumerate()
        if t is not threading.main_thread()
    ):
        return
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said on it
            pass
    os._exit(code)


def _explained(exc: PykatibError) -> str:
    """The error, with what to do about it when it is the server's."""
    from pykatib.sdk import remote

    if isinstance(exc, remote.ServerUnreachable):
        return (
            f"{exc}. Is `pykatib server` running there? Check the URL given with --server (or "
            "PYKATIB_SERVER)."
        )
    if isinstance(exc, remote.Unauthorized):
        return (
            f"{exc}: give one of the server's tokens (its --token-file) with --token TOKEN or "
            "PYKATIB_TOKEN."
        )
    if isinstance(exc, remote.Forbidden):
        return (
            f"{exc}. Use a token scoped to that namespace (--token or PYKATIB_TOKEN), or another "
            "namespace (-n)."
        )
    return str(exc)


if __name__ == "__main__":
    main()
