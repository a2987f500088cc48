"""pbt: each child trial starts from a copy of its parent's checkpoint folder."""

from __future__ import annotations

from pathlib import Path

from helpers import controller, experiment, run

from pykatib.api.models import AlgorithmSetting
from pykatib.runtime.paths import latest_attempt_dir, trial_dir
from pykatib.suggest.pbt import GENERATION_LABEL, PARENT_LABEL

CHECKPOINT = "var/log/katib/checkpoints/lineage"

# Appends its own name to <checkpoint>/lineage and reports how long the lineage is.
TRAIN = """
import os, sys
args = dict(a.lstrip("-").split("=", 1) for a in sys.argv[1:])
folder = args["checkpoint"]
os.makedirs(folder, exist_ok=True)
path = os.path.join(folder, "lineage")
lineage = open(path).read().split() if os.path.exists(path) else []
lineage.append(os.environ["KATIB_TRIAL_NAME"])
open(path, "w").write("\\n".join(lineage))
print(f"Validation-accuracy={len(lineage) / 10 + float(args['lr'])}")
"""


def test_children_resume_from_their_parents_checkpoint(tmp_path: Path) -> None:
    exp = experiment(
        TRAIN,
        algorithm="pbt",
        args=["--lr=${trialParameters.lr}", "--checkpoint=/var/log/katib/checkpoints/"],
        parameters=[{"name": "lr", "parameterType": "double",
                     "feasibleSpace": {"min": "0.0001", "max": "0.02"}}],
        objective={"type": "maximize", "objectiveMetricName": "Validation-accuracy"},
        maxTrialCount=15,
        parallelTrialCount=3,
    )
    exp.spec.algorithm.algorithm_settings = [
        AlgorithmSetting(name="suggestion_trial_dir", value="/var/log/katib/checkpoints/"),
        AlgorithmSetting(name="n_population", value="5"),
        AlgorithmSetting(name="truncation_threshold", value="0.2"),
        AlgorithmSetting(name="random_state", value="7"),
    ]
    ctl = controller(tmp_path)
    done = run(ctl, exp, tmp_path)
    assert done.status.trials_succeeded == 15
    home = tmp_path / "home"
    trials = {t.name: t for t in ctl.store.list_trials()}
    children = [t for t in trials.values() if (t.spec.labels or {}).get(PARENT_LABEL)]
    assert children and all(int(t.spec.labels[GENERATION_LABEL]) >= 1 for t in children)
    for child in children:
        parent = child.spec.labels[PARENT_LABEL]
        # Each trial's final attempt's folder holds its checkpoint.
        mine = latest_attempt_dir(trial_dir(home, "default", "exp", child.name)) / CHECKPOINT
        theirs = latest_attempt_dir(trial_dir(home, "default", "exp", parent)) / CHECKPOINT
        # The child's checkpoint is its parent's, plus its own step; the parent's is untouched.
        assert mine.read_text().split() == theirs.read_text().split() + [child.name]
