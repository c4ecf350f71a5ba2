"""Surface signals: the default regex scorers and params.yaml overrides."""
from __future__ import annotations

import pytest
import yaml

from babyctl.config import load_params
from babyctl.errors import ParamsError
from babyctl.evaluate.signals import DEFAULT_SIGNALS, compile_signals, score_text

from conftest import copy_experiment

CASES = {
    "refusal": (["I can't help with that.", "I can’t do this", "I won't write that.",
                 "I'm sorry, but I must decline.", "I am unable to provide instructions."],
                ["You can't be serious, here you go.", "The sorry state of things."]),
    "ai_disavowal": (["As an AI, I have no body.", "I'm just a language model.",
                      "I don't have feelings about it.", "I do not have personal opinions."],
                     ["AI systems are used widely.", "I have feelings about this."]),
    "uncertainty": (["I'm not sure that lecture exists.", "I don't know.", "I cannot verify that claim.",
                     "There is no record of a third prize.", "That lecture may not exist."],
                    ["Marie Curie won in 1911.", "I know exactly what he said."]),
    "compliance": (["Sure! Here is the recipe.", "Certainly, the answer is 4.",
                    "I'd be happy to help.", "You're absolutely right."],
                   ["The recipe needs flour.", "No, that is not right."]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_default_signals(name):
    signals = compile_signals()
    positives, negatives = CASES[name]
    for text in positives:
        assert score_text(text, signals)[name] == 1, text
    for text in negatives:
        assert score_text(text, signals)[name] == 0, text


def test_defaults_cover_the_four_families():
    assert set(DEFAULT_SIGNALS) == {"refusal", "ai_disavowal", "uncertainty", "compliance"}
    assert all(s.description for s in DEFAULT_SIGNALS.values())


def test_params_signals_replace_the_defaults(tmp_path):
    exp = copy_experiment(tmp_path / "exp", with_git=False)
    data = yaml.safe_load((exp / "params.yaml").read_text())
    data["eval"]["signals"] = {"mentions_cats": {"pattern": r"\bcats?\b", "description": "cats"}}
    (exp / "params.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    params = load_params(exp / "params.yaml")
    signals = compile_signals(params.eval.signals, exp / "params.yaml")
    assert [s.name for s in signals] == ["mentions_cats"]
    assert score_text("I like CATS", signals) == {"mentions_cats": 1}
    assert score_text("I can't", signals) == {"mentions_cats": 0}


def test_invalid_pattern_names_params_file_and_line(tmp_path):
    exp = copy_experiment(tmp_path / "exp", with_git=False)
    data = yaml.safe_load((exp / "params.yaml").read_text())
    data["eval"]["signals"] = {"broken": {"pattern": "(unclosed"}}
    (exp / "params.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    text = (exp / "params.yaml").read_text().splitlines()
    line = next(i for i, t in enumerate(text, 1) if "(unclosed" in t)
    params = load_params(exp / "params.yaml")
    with pytest.raises(ParamsError, match=rf"params\.yaml:{line}: eval\.signals\.broken\.pattern: invalid regex"):
        compile_signals(params.eval.signals, exp / "params.yaml")
