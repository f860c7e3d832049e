"""run_info names the notebooks' mode; notebook_mode reads it from the environment."""

from __future__ import annotations

import pytest

from spsr_lib.run_info import notebook_mode, run_info


def test_notebook_mode_from_the_environment():
    assert notebook_mode({}) == "laptop"
    assert notebook_mode({"SPSR_FAST": "1"}) == "fast"
    assert notebook_mode({"SPSR_FULL": "1"}) == "full"
    assert notebook_mode({"SPSR_FAST": "1", "SPSR_FULL": "1"}) == "fast"


def test_run_info_names_the_mode():
    assert " | laptop mode | " in run_info(mode="laptop")
    assert " | fast mode | " in run_info(fast=True) and " | full mode | " in run_info(fast=False)
    assert " mode | " not in run_info()
    with pytest.raises(ValueError):
        run_info(mode="quick")
