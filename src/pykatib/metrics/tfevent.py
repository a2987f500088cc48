"""The TensorFlowEvent collector: scalar summaries read from TensorBoard event files.

Needs the ``tensorboard`` package (``pip install 'pykatib[tfevent]'``), not TensorFlow. Follows
Katib's tfevent-metricscollector:

* every event file under the directory is read (files named ``*tfevents*``; Katib tries every
  file and ignores those that fail);
* a summary value belongs to metric ``m`` when its tag starts with the last part of ``m``, and,
  when ``m`` has a directory part (``train/accuracy``), the event file's directory ends with it
  (so ``accuracy`` also takes the tag ``accuracy_top5``, as in Katib);
* old-style ``simple_value`` scalars and TF2 tensor summaries both count; the value is the
  tensor's shortest string (``0.1`` for a float32 0.1), and values that are not single numbers
  (histograms, images, text) are skipped;
* the timestamp is the event's wall time. ``step`` is the metric's report count in wall-time
  order, like the other collectors, not the event's global step.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from pykatib.metrics.observation import ObservationPoint, parse_value
from pykatib.metrics.timestamps import from_epoch

EVENT_FILE_MARKER = "tfevents"


def _require_tensorboard() -> tuple[Any, Any]:
    try:
        from tensorboard.backend.event_processing import event_file_loader  # type: ignore[import]
        from tensorboard.util import tensor_util  # type: ignore[import]
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the TensorFlowEvent metrics collector needs the tensorboard package: "
            "pip install 'pykatib[tfevent]'"
        ) from exc
    return event_file_loader.EventFileLoader, tensor_util.make_ndarray


def tag_matches(tag: str, metric_name: str, event_file: str) -> bool:
    """Whether summary ``tag`` of ``event_file`` reports ``metric_name`` (Katib's rule)."""
    base_dir = os.path.dirname(event_file)
    if "/" in metric_name:
        wanted_dir = os.path.dirname(metric_name)
    else:
        wanted_dir = base_dir
    return tag.startswith(metric_name.split("/")[-1]) and base_dir.endswith(wanted_dir)


class TFEventReader:
    """Reads the scalar summaries of the metrics from the event files under ``directory``.

    Call :meth:`poll` while the trial runs and once after it ends: each call returns only what
    was written since the last one, including files that appeared in between.
    """

    def __init__(self, directory: str | os.PathLike[str], metric_names: Sequence[str]) -> None:
        if not metric_names:
            raise ValueError("metric_names must name at least one metric")
        self._loader_class, self._make_ndarray = _require_tensorboard()
        self.directory = os.fspath(directory)
        self.metric_names: tuple[str, ...] = tuple(dict.fromkeys(metric_names))
        self._loaders: dict[str, Any] = {}
        self._steps: dict[str, int] = dict.fromkeys(self.metric_names, 0)
        # Events read per file, and (after restore) events to skip as read before.
        self._events: dict[str, int] = {}
        self._skip: dict[str, int] = {}

    def poll(self) -> list[ObservationPoint]:
        """New observations, in wall-time order (ties in file and write order)."""
        found: list[tuple[float, int, str, str]] = []
        for path in self._event_files():
            loader = self._loaders.get(path)
            if loader is None:
                loader = self._loaders[path] = self._loader_class(path)
            for event in loader.Load():
                self._events[path] = self._events.get(path, 0) + 1
                if self._skip.get(path, 0) >= self._events[path]:
                    continue
                if event.HasField("summary"):
                    self._collect(path, event, found)
        found.sort(key=lambda item: (item[0], item[1]))
        points = []
        for wall_time, _, name, value in found:
            timestamp = from_epoch(wall_time)
            if timestamp is None:
                continue
            step = self._steps[name]
            self._steps[name] = step + 1
            points.append(ObservationPoint(name, value, timestamp, step))
        return points

    def state(self) -> dict[str, Any]:
        """Where the next poll goes on (JSON): events read per file, each metric's next step."""
        return {"events": dict(self._events), "steps": dict(self._steps)}

    def restore(self, state: dict[str, Any]) -> None:
        """Go on where the reader whose :meth:`state` this is stopped."""
        self._skip = {str(k): int(v) for k, v in (state.get("events") or {}).items()}
        for name, step in (state.get("steps") or {}).items():
            if name in self._steps and isinstance(step, int):
                self._steps[name] = step

    def _event_files(self) -> list[str]:
        files: list[str] = []
        for root, _, names in os.walk(self.directory):
            files.extend(os.path.join(root, n) for n in names if EVENT_FILE_MARKER in n)
        return sorted(files)

    def _collect(self, path: str, event: Any, found: list[tuple[float, int, str, str]]) -> None:
        for summary_value in event.summary.value:
            names = [m for m in self.metric_names if tag_matches(summary_value.tag, m, path)]
            if not names:
                continue
            value = self._scalar_text(summary_value)
            if value is None:
                continue
            for name in names:
                found.append((event.wall_time, len(found), name, value))

    def _scalar_text(self, summary_value: Any) -> str | None:
        # EventFileLoader has already turned old-style simple_value scalars into tensors.
        if summary_value.HasField("simple_value"):
            return str(summary_value.simple_value)
        if not summary_value.HasField("tensor"):
            return None
        try:
            array = self._make_ndarray(summary_value.tensor)
        except (ValueError, TypeError):
            return None
        if array.size != 1:
            return None
        text = str(array.reshape(())[()])
        return text if parse_value(text) is not None else None


def read_event_files(
    directory: str | os.PathLike[str], metric_names: Sequence[str]
) -> list[ObservationPoint]:
    """All observations of the metrics in the event files under ``directory``, at once."""
    return TFEventReader(directory, metric_names).poll()
