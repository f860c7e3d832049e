"""train/config_file: what a config file may be (UTF-8 YAML text, small aliases) and the one line for the rest."""

from __future__ import annotations

import codecs

import pytest

from spsr_lib.errors import ConfigError
from spsr_lib.train.config import load_config
from spsr_lib.train.config_file import MAX_VALUES, count_values, read_config_file
from tests import corpus


def test_small_aliases_merge_keys_and_a_utf8_bom_still_work(tmp_path):
    path = tmp_path / "c.yaml"
    text = ("x_lr: &lr 2.0e-4\ntrain:\n  lr_g: *lr\n  lr_d: *lr\nx_ema: &ema {enabled: true}\n"
            "y_ema: &ema2 {<<: *ema, decay: 0.99}\n")
    path.write_bytes(codecs.BOM_UTF8 + text.encode())
    raw = read_config_file(path)
    assert raw["train"] == {"lr_g": 2e-4, "lr_d": 2e-4}
    assert raw["y_ema"] == {"enabled": True, "decay": 0.99}
    path.write_bytes(codecs.BOM_UTF8 + "name: café\ntrain: {lr_g: 2.0e-4}\n".encode())
    assert load_config(path).name == "café"


def test_counting_stops_at_the_limit_whatever_the_expansion():
    x: list = ["lol"] * 9
    for _ in range(30):  # 9^31 values if expanded
        x = [x] * 9
    assert count_values(x) == MAX_VALUES + 1
    assert count_values({"a": [1, 2], "b": {"c": 3}}) == 9  # mapping, 2 keys, list + 2, mapping + key + value


@pytest.mark.parametrize("case", ["utf16", "utf16_be_no_bom", "utf32", "latin1", "binary", "checkpoint_zip", "huge",
                                  "deep"])
def test_not_a_utf8_yaml_text_file(tmp_path, case):
    path, word = corpus.bad_config_files(tmp_path)[case]
    with pytest.raises(ConfigError) as err:
        read_config_file(path)
    assert word in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)


def test_an_alias_bomb_is_refused_before_any_traversal(tmp_path):
    with pytest.raises(ConfigError, match="aliases"):
        read_config_file(corpus.alias_bomb_yaml(tmp_path / "b.yaml", levels=12))  # 9^12 strings if expanded
    with pytest.raises(ConfigError, match="aliases"):
        load_config(None, ["data.train=[" + ", ".join(["&a0 [x, x, x, x, x, x, x, x, x]"] + [
            f"&a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 12)]) + "]"])
