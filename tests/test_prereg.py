"""babyctl prereg: lock, deviations, amendments; bad files give file:line, never a traceback."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from babyctl import prereg
from babyctl.config import load_params
from babyctl.errors import InputError, UsageError

from conftest import copy_experiment, edit_params, run_cli


@pytest.fixture
def locked(tmp_path: Path) -> Path:
    exp = copy_experiment(tmp_path / "exp", with_git=False)
    proc = run_cli("prereg", "lock", cwd=exp)
    assert proc.returncode == 0, proc.stderr
    return exp


def _set_eval(exp: Path, **values) -> None:
    edit_params(exp, lambda p: p["eval"].update(values))


def test_lock_pins_every_item(locked: Path):
    lock = json.loads((locked / prereg.LOCK).read_text())
    items = set(lock["items"])
    assert {"hypotheses", "analysis", "training", "eval", "judges", "substrate/tiny", "condition/core",
            "condition/neutral", "stimuli/fawning.jsonl", "stimuli/jailbreak.jsonl"} <= items
    assert lock["items"]["eval"]["value"]["max_new_tokens"] == 24
    assert prereg.state(load_params(locked / "params.yaml"), locked).deviations == []
    again = run_cli("prereg", "lock", cwd=locked)  # no silent re-lock
    assert again.returncode == 2 and "already locked" in again.stderr


def test_edit_after_lock_is_a_deviation_until_amended(locked: Path):
    _set_eval(locked, max_new_tokens=16)
    st = prereg.state(load_params(locked / "params.yaml"), locked)
    [d] = st.unexplained
    assert d.item == "eval" and "max_new_tokens: 24 -> 16" in d.detail
    proc = run_cli("prereg", "status", cwd=locked)
    assert proc.returncode == 1 and "eval: changed" in proc.stdout and "UNEXPLAINED" in proc.stdout
    proc = run_cli("prereg", "amend", "eval", "--by", "A. Author", "--reason", "shorter answers", "--id",
                   "a1", cwd=locked)
    assert proc.returncode == 0, proc.stderr
    rec = json.loads((locked / "amendments" / "a1.json").read_text())
    assert rec["item"] == "eval" and rec["changed"].startswith("max_new_tokens")
    st = prereg.state(load_params(locked / "params.yaml"), locked)
    assert st.unexplained == [] and st.deviations[0].amendment.record.id == "a1"
    assert "| `eval` | max_new_tokens: 24 -> 16 | shorter answers |" in "\n".join(prereg.markdown(st))
    _set_eval(locked, max_new_tokens=12)  # a later edit is a new, unexplained deviation
    assert [d.item for d in prereg.state(load_params(locked / "params.yaml"), locked).unexplained] == ["eval"]


def test_changed_bank_and_hypotheses_are_deviations(locked: Path):
    bank = locked / "stimuli" / "fawning.jsonl"
    bank.write_text(bank.read_text().replace("\n", "\n", 1))
    lines = bank.read_text().splitlines(keepends=True)
    bank.write_text("".join(lines[:-1]))
    (locked / "preregistration" / "hypotheses.md").write_text("H1 changed\n")
    st = prereg.state(load_params(locked / "params.yaml"), locked)
    assert {d.item for d in st.unexplained} == {"stimuli/fawning.jsonl", "hypotheses"}


def _amendment(**over) -> dict:
    rec = {"schema_version": 1, "id": "a1", "item": "eval", "sha256": "0" * 64, "changed": "x",
           "reason": "y", "decided_at": "2026-12-04T20:00:00Z", "decided_by": "me"}
    rec.update(over)
    return rec


@pytest.mark.parametrize("text, line, message", [
    (json.dumps(_amendment(decided_at="yesterday"), indent=2), 8, "decided_at"),
    (json.dumps(_amendment(sha256="abc"), indent=2), 5, "sha256"),
    (json.dumps(_amendment(extra=1), indent=2), 10, "extra"),
    (json.dumps(_amendment(item="nope"), indent=2), 4, "names item 'nope'"),
    ('{"id": "a1",\n  "item": ', 2, "amendment"),
])
def test_bad_amendment_names_file_and_line(locked: Path, text, line, message):
    (locked / "amendments" / "a1.json").write_text(text)
    with pytest.raises(InputError, match=message) as e:
        prereg.state(load_params(locked / "params.yaml"), locked)
    assert e.value.path.endswith("amendments/a1.json") and e.value.line == line
    for cmd in (("prereg", "status"), ("report",)):
        proc = run_cli(*cmd, cwd=locked)
        assert proc.returncode in (1, 2) and "Traceback" not in proc.stderr
    proc = run_cli("prereg", "status", cwd=locked)
    assert proc.returncode == 2 and f"amendments/a1.json:{line}:" in proc.stderr


def test_bad_or_hand_edited_lock_names_file_and_line(locked: Path):
    path = locked / prereg.LOCK
    good = path.read_text()
    data = json.loads(good)
    data["items"]["eval"]["sha256"] = "1" * 64  # hand edit: digest no longer matches
    path.write_text(json.dumps(data, indent=2, sort_keys=True))
    proc = run_cli("prereg", "status", cwd=locked)
    assert proc.returncode == 2 and "edited by hand" in proc.stderr and "Traceback" not in proc.stderr
    assert f"{prereg.LOCK}:" in proc.stderr
    path.write_text(good.replace('"babyctl_version"', '"babyctl_versio"'))
    proc = run_cli("prereg", "status", cwd=locked)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "lock.json:" in proc.stderr and "babyctl_versio" in proc.stderr
    path.write_text("{not json")
    proc = run_cli("prereg", "status", cwd=locked)
    assert proc.returncode == 2 and "lock.json:1:" in proc.stderr and "Traceback" not in proc.stderr
    assert prereg.audit_problems(locked)[0][0].startswith("preregistration/lock.json")


def test_audit_problems_list_unexplained_deviations(locked: Path):
    assert prereg.audit_problems(locked) == []
    _set_eval(locked, max_new_tokens=16)
    [(path, msg)] = prereg.audit_problems(locked)
    assert path == "preregistration/lock.json" and "eval" in msg and "24 -> 16" in msg


def test_no_lock_means_exploratory(tmp_path: Path):
    exp = copy_experiment(tmp_path / "exp", with_git=False)
    st = prereg.state(load_params(exp / "params.yaml"), exp)
    assert not st.locked and "exploratory" in "\n".join(prereg.markdown(st))
    assert prereg.audit_problems(exp) == []
    with pytest.raises(UsageError, match="prereg lock"):
        prereg.amend(load_params(exp / "params.yaml"), exp, "eval", reason="r", by="b")


def test_validate_reports_bad_amendments_and_locks_with_file_and_line(locked: Path):
    """Amendments are validated like review records: `babyctl validate` (the pre-commit hook) too."""
    assert run_cli("validate", cwd=locked).returncode == 0
    (locked / "amendments" / "a1.json").write_text(json.dumps(_amendment(item="evaluation"), indent=2))
    proc = run_cli("validate", cwd=locked)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "amendments/a1.json:4:1: BC513 amendment names item 'evaluation'" in proc.stdout, proc.stdout
