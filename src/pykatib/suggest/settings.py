"""Algorithm settings: declared once per algorithm, validated and read with Katib's messages.

An algorithm lists its :class:`Setting` s; :func:`validate` gives every problem as
``spec.algorithm.algorithmSettings.<name>: message`` (the message being the one Katib's suggestion
service returns), and :func:`read` gives the parsed values with defaults filled in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SETTINGS_PATH = "spec.algorithm.algorithmSettings"


@dataclass(frozen=True)
class Setting:
    """One algorithm setting: how to parse its string, what values are allowed, its default.

    ``check`` returns whether a parsed value is allowed; ``message`` is reported when it is not,
    with ``{name}`` and ``{value}`` replaced by the name and value the user wrote.
    ``aliases`` are other names that set the same thing (hyperopt's ``n_EI_candidates``).
    """

    name: str
    parse: Callable[[str], Any]
    check: Callable[[Any], bool] | None = None
    message: str = ""
    default: Any = None
    aliases: tuple[str, ...] = ()


def non_negative_int(name: str, message: str | None = None, default: Any = None) -> Setting:
    """An int setting that must be >= 0, with Katib's hyperopt message unless told otherwise."""
    return Setting(
        name,
        int,
        lambda v: v >= 0,
        message or "{name} should be great or equal than zero",
        default,
    )


def positive(name: str, parse: Callable[[str], Any], default: Any = None) -> Setting:
    """A number that must be > 0, with Katib's hyperopt message."""
    return Setting(name, parse, lambda v: v > 0, "{name} should be great than zero", default)


RANDOM_STATE = non_negative_int("random_state")


def validate(algorithm: str, schema: Sequence[Setting], settings: Mapping[str, str]) -> list[str]:
    """Every problem with ``settings`` for ``algorithm``, as ``path: message``."""
    by_name = {alias: s for s in schema for alias in (s.name, *s.aliases)}
    problems = []
    for name, value in settings.items():
        path = f"{SETTINGS_PATH}.{name}"
        setting = by_name.get(name)
        if setting is None:
            problems.append(f"{path}: unknown setting {name} for algorithm {algorithm}")
            continue
        try:
            parsed = setting.parse(value)
        except Exception as e:  # noqa: BLE001 - Katib reports whatever the parser raised
            problems.append(f"{path}: failed to validate {name}({value}): {e}")
            continue
        if setting.check is not None and not setting.check(parsed):
            problems.append(f"{path}: {setting.message.format(name=name, value=value)}")
    return problems


def read(schema: Sequence[Setting], settings: Mapping[str, str]) -> dict[str, Any]:
    """Parsed settings by their canonical name, defaults filled in; assumes :func:`validate` passed."""
    values: dict[str, Any] = {}
    for setting in schema:
        values[setting.name] = setting.default
        for name in (setting.name, *setting.aliases):
            if name in settings and settings[name] != "":
                values[setting.name] = setting.parse(settings[name])
    return values
