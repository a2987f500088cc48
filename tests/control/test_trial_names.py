"""Trial names: ``<experiment>-<8 random characters>``, as Katib names trials."""

from __future__ import annotations

import re
import string

from pykatib.control.template import new_trial_name


def test_trial_names_draw_every_character_at_every_position() -> None:
    names = [new_trial_name("exp") for _ in range(3000)]
    assert all(re.fullmatch(r"exp-[a-z0-9]{8}", n) for n in names)
    # One draw makes all 8 characters: each position still takes every character (missing
    # one by chance in 3000 names: about 1e-36).
    for position in range(4, 12):
        assert {n[position] for n in names} == set(string.ascii_lowercase + string.digits)
    assert len(set(names)) == len(names)
