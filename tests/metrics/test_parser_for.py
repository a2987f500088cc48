from __future__ import annotations

import pytest

from pykatib.api.models import MetricsCollectorSpec
from pykatib.metrics.jsonl import JsonMetricsParser
from pykatib.metrics.parsers import parser_for
from pykatib.metrics.push import PushRecordParser
from pykatib.metrics.text import DEFAULT_METRICS_FORMAT, TextMetricsParser


def spec(data: dict) -> MetricsCollectorSpec:
    return MetricsCollectorSpec.model_validate(data)


def test_default_is_stdout_with_default_format() -> None:
    parser = parser_for(None, ["loss"])
    assert isinstance(parser, TextMetricsParser)
    assert parser.filters == (DEFAULT_METRICS_FORMAT,)


def test_stdout_with_filters() -> None:
    parser = parser_for(
        spec(
            {
                "collector": {"kind": "StdOut"},
                "source": {"filter": {"metricsFormat": [r"(\w+):(\S+)"]}},
            }
        ),
        ["loss"],
    )
    assert [p.value for p in parser.feed("loss:0.5")] == ["0.5"]


def test_file_formats() -> None:
    text = spec(
        {
            "collector": {"kind": "File"},
            "source": {"fileSystemPath": {"path": "/tmp/m.log", "kind": "File"}},
        }
    )
    json_ = spec(
        {
            "collector": {"kind": "File"},
            "source": {"fileSystemPath": {"path": "/m.json", "format": "JSON"}},
        }
    )
    assert isinstance(parser_for(text, ["loss"]), TextMetricsParser)
    assert isinstance(parser_for(json_, ["loss"]), JsonMetricsParser)


def test_push_none_and_tfevent() -> None:
    assert isinstance(parser_for(spec({"collector": {"kind": "Push"}}), ["loss"]), PushRecordParser)
    assert parser_for(spec({"collector": {"kind": "None"}}), ["loss"]) is None
    assert parser_for(spec({"collector": {"kind": "TensorFlowEvent"}}), ["loss"]) is None


@pytest.mark.parametrize("kind", ["PrometheusMetric", "Custom", "Nope"])
def test_unsupported_kinds(kind: str) -> None:
    with pytest.raises(ValueError, match=kind):
        parser_for(spec({"collector": {"kind": kind}}), ["loss"])


def test_unsupported_file_format() -> None:
    bad = spec({"collector": {"kind": "File"}, "source": {"fileSystemPath": {"format": "XML"}}})
    with pytest.raises(ValueError, match="XML"):
        parser_for(bad, ["loss"])
