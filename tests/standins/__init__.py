"""Stand-ins for the training scripts inside Katib's example images, and helpers to use them.

Katib's example Experiments (``../shared/katib-examples``) run scripts that live in container
images, e.g. ``python3 /opt/pytorch-mnist/mnist.py --lr=...``. The scripts here accept the same
arguments and write metrics in the same format, to the same place (stdout/stderr, a text or JSON
file, TensorFlow event files), in well under a second and without torch or TensorFlow.
``README.md`` beside this file lists which example uses which script.

Typical use in a test::

    from standins import STANDINS, katib_example, rewrite_commands

    experiment = rewrite_commands(katib_example("hp-tuning/random.yaml"), STANDINS)
    # command is now ["python3", "<repo>/tests/standins/pytorch_mnist.py", "--epochs=1", ...]

(``tests/`` has no ``__init__.py``, so pytest puts it on ``sys.path`` and this package imports as
``standins``.)
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent

PYTORCH_MNIST = str(HERE / "pytorch_mnist.py")
PBT_TEST = str(HERE / "pbt_test.py")
TF_MNIST_WITH_SUMMARIES = str(HERE / "tf_mnist_with_summaries.py")

# Script path named in Katib's example YAMLs -> absolute path of its stand-in.
STANDINS: dict[str, str] = {
    "/opt/pytorch-mnist/mnist.py": PYTORCH_MNIST,
    "/opt/pbt/pbt_test.py": PBT_TEST,
    "/opt/tf-mnist-with-summaries/mnist.py": TF_MNIST_WITH_SUMMARIES,
}

# Keys of a container (or of an Argo/Tekton step, or a Kubeflow Trainer ``trainer``) that hold
# the command line.
COMMAND_KEYS = ("command", "args")


def katib_examples_dir() -> Path | None:
    """``<repo>/../shared/katib-examples`` if it is there, else None (a fresh clone lacks it)."""
    path = REPO_ROOT.parent / "shared" / "katib-examples"
    return path if path.is_dir() else None


def katib_example(relative_path: str) -> dict[str, Any]:
    """Load one of Katib's example Experiments (e.g. ``"hp-tuning/random.yaml"``) as a dict.

    Calls ``pytest.skip`` when the examples folder is absent.
    """
    folder = katib_examples_dir()
    if folder is None:
        import pytest

        pytest.skip("Katib's example experiments are not here (expected ../shared/katib-examples)")
    with open(folder / relative_path) as stream:
        document = yaml.safe_load(stream)
    if not isinstance(document, dict):
        raise TypeError(f"{relative_path}: not a YAML mapping")
    return document


def _replace(text: str, mapping: dict[str, str]) -> str:
    """Replace each key of ``mapping`` found in ``text`` as a whole path (or path prefix).

    A key matches where it is not glued to a longer name on the left (``/katib`` does not match
    inside ``/var/log/katib``) and ends the text or is followed by ``/``, whitespace or a quote.
    Keys are tried in one pass, longest first, so a replacement is never replaced again.
    """
    if not mapping:
        return text
    keys = sorted(mapping, key=len, reverse=True)
    pattern = re.compile(
        r"(?<![\w./-])(" + "|".join(re.escape(k) for k in keys) + r")(?=$|[/\s\"'])"
    )
    return pattern.sub(lambda match: mapping[match.group(1)], text)


def _rewrite_command_lists(node: Any, mapping: dict[str, str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in COMMAND_KEYS and isinstance(value, list):
                node[key] = [_replace(v, mapping) if isinstance(v, str) else v for v in value]
            else:
                _rewrite_command_lists(value, mapping)
    elif isinstance(node, list):
        for item in node:
            _rewrite_command_lists(item, mapping)


def rewrite_commands(experiment: dict[str, Any], mapping: dict[str, str]) -> dict[str, Any]:
    """Return a copy of ``experiment`` whose trial command lines use the stand-ins.

    In every ``command`` and ``args`` list under ``spec.trialTemplate.trialSpec`` (containers of a
    Job, of a PyTorchJob's replicas, Tekton steps, ...), each occurrence of a key of ``mapping``
    as a path is replaced by its value: a whole element (``"/opt/pytorch-mnist/mnist.py"``) or a
    part of one (``"--log-path=/katib/mnist.log"`` follows a mapping of ``"/katib/mnist.log"``).
    The interpreter (``"python3"``) is left alone. The input is not modified.
    """
    result = copy.deepcopy(experiment)
    trial_spec = result.get("spec", {}).get("trialTemplate", {}).get("trialSpec")
    if trial_spec is not None:
        _rewrite_command_lists(trial_spec, mapping)
    return result


def _rewrite_all_strings(node: Any, mapping: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {key: _rewrite_all_strings(value, mapping) for key, value in node.items()}
    if isinstance(node, list):
        return [_rewrite_all_strings(item, mapping) for item in node]
    if isinstance(node, str):
        return _replace(node, mapping)
    return node


def relocate_paths(experiment: dict[str, Any], mapping: dict[str, str]) -> dict[str, Any]:
    """Return a copy of ``experiment`` with paths replaced in every string of its ``spec``.

    For the absolute paths the examples write to, which must move together wherever they appear:
    e.g. ``{"/katib": str(tmp_path / "katib")}`` changes both the ``--log-path=/katib/mnist.log``
    argument and ``metricsCollectorSpec.source.fileSystemPath.path``;
    ``{"/var/log/katib/checkpoints": ...}`` changes both the PBT ``--checkpoint`` argument and
    its ``suggestion_trial_dir`` setting.
    Keys match as paths or path prefixes (``/katib`` matches ``/katib/mnist.log``, not
    ``/var/log/katib``), longest first. The input is not modified.
    """
    result = copy.deepcopy(experiment)
    if "spec" in result:
        result["spec"] = _rewrite_all_strings(result["spec"], mapping)
    return result


__all__ = [
    "PBT_TEST",
    "PYTORCH_MNIST",
    "REPO_ROOT",
    "STANDINS",
    "TF_MNIST_WITH_SUMMARIES",
    "katib_example",
    "katib_examples_dir",
    "relocate_paths",
    "rewrite_commands",
]
