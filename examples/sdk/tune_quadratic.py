# %% [markdown]
# # Tuning a Python function with pykatib's SDK
#
# The same calls as Katib's Python SDK (`kubeflow.katib.KatibClient`), with nothing to set up:
# the experiment lives in `$PYKATIB_HOME` (default `~/.pykatib`) and its trials run as local
# processes, driven by a control plane that runs inside this Python process. Run it as a script
# (`python examples/sdk/tune_quadratic.py`) or cell by cell in Jupyter / VS Code.

# %%
import pykatib
from pykatib import search

client = pykatib.KatibClient(namespace="default")


# %% [markdown]
# The objective gets one dict with the tuned values, typed: a float for `search.double`, an int
# for `search.int`, the value itself for `search.categorical`. It reports its metric by
# printing `name=value` (Katib's StdOut collector); `pykatib.report_metrics({...})` works too,
# with `metrics_collector_config={"kind": "Push"}`. Like Katib, the function's source is what
# runs, so it imports what it needs inside.


# %%
def objective(parameters):
    import math

    x, n, shape = parameters["x"], parameters["n"], parameters["shape"]
    loss = (x - 1.5) ** 2 + (n - 3) ** 2 + (0.0 if shape == "bowl" else 0.5)
    print(f"loss={loss}")
    print(f"score={math.exp(-loss)}")


# %%
name = "tune-quadratic"
if name in [e.name for e in client.list_experiments()]:
    client.delete_experiment(name)  # start afresh when run again

client.tune(
    name=name,
    objective=objective,
    parameters={
        "x": search.double(min=-5.0, max=5.0),
        "n": search.int(min=0, max=6),
        "shape": search.categorical(["bowl", "tilted"]),
    },
    objective_metric_name="loss",
    additional_metric_names=["score"],
    objective_type="minimize",
    algorithm_name="tpe",
    max_trial_count=16,
    parallel_trial_count=2,
)

# %% [markdown]
# `tune` returns once the experiment is created; wait for it (a progress bar shows in a terminal
# or notebook), then read the best trial.

# %%
client.wait_for_experiment_condition(name, timeout=300)
best = client.get_optimal_hyperparameters(name)
print(f"best trial: {best.best_trial_name}")
for assignment in best.parameter_assignments:
    print(f"  {assignment.name} = {assignment.value}")
for metric in best.observation.metrics:
    print(f"  {metric.name}: {metric.latest}")

# %%
# Every trial, and what the best one printed.
for trial in client.list_trials(name):
    values = {a.name: a.value for a in trial.spec.parameter_assignments}
    print(trial.name, trial.status.conditions[-1].type, values)
print("\n".join(client.get_job_logs(name, best.best_trial_name)))

# %%
# The same experiment from the command line: `pykatib get trials -e tune-quadratic`.
client.close()
