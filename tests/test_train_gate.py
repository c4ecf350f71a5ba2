"""babyctl train, consent gate and backend selection.

The gate runs before any weights load; each refusal names the consent record's id and the
reason. Backend selection is tested without mocks: there is no GPU on the machines these
tests run on, so ``--backend unsloth`` must fail clearly and ``auto`` must pick ``hf``.
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from babyctl.config import load_params
from babyctl.errors import EnvironmentProblem, GateRefused, UsageError
from babyctl.train.gate import check_training_consent
from babyctl.train.select import select_backend
from conftest import REPO, run_cli

START = dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc)  # a run's start, after the fixture's consent


@pytest.fixture
def tiny_record(experiment: Path):
    """(experiment root, tiny substrate params, a function to rewrite the tiny consent record)."""
    params = load_params(experiment / "params.yaml")
    sub = params.substrates["tiny"]
    path = experiment / sub.consent_record

    def edit(fn):
        data = json.loads(path.read_text(encoding="utf-8"))
        fn(data)
        path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return experiment, sub, edit


def test_fixture_record_covers_training(tiny_record):
    root, sub, _ = tiny_record
    loaded = check_training_consent(root, "tiny", sub, "core", at=START)
    assert loaded.head.record.id == "tiny-fixture" and loaded.ids == ["tiny-fixture"]


def _uncoded(d):
    d["coding"] = {"decision": "uncoded"}


def _no(d):
    d["coding"]["decision"] = "no"


def _no_fine_tuning(d):
    d["consents_to"]["fine_tuning"] = False


def _other_conditions(d):
    d["consents_to"]["conditions"] = ["neutral"]


def _postdates(d):
    d["asked_at"] = "2026-07-01T00:00:00Z"
    d["coding"]["coded_at"] = "2026-07-02T00:00:00Z"


def _wrong_substrate(d):
    d["substrate"] = "hermes"


@pytest.mark.parametrize("edit, reason", [
    (_uncoded, "consent is uncoded: a human must code the responses first"),
    (_no, "consent decision is 'no'"),
    (_no_fine_tuning, "record does not consent to fine tuning"),
    (_other_conditions, "condition 'core' is not among the consented conditions ['neutral']"),
    (_postdates, "does not predate 2026-06-01T00:00:00+00:00"),
    (_wrong_substrate, "record is for substrate 'hermes', not 'tiny'"),
])
def test_each_refusal_names_record_and_reason(tiny_record, edit, reason):
    root, sub, rewrite = tiny_record
    rewrite(edit)
    with pytest.raises(GateRefused) as err:
        check_training_consent(root, "tiny", sub, "core", at=START)
    msg = str(err.value)
    assert "consent record 'tiny-fixture' refuses fine_tuning" in msg
    assert reason in msg
    assert msg.startswith(str(root / "consent_records/tiny-fixture.json"))


def test_refused_run_writes_nothing_and_has_no_skip_flag(tiny_record, tiny_model_dir):
    """End to end through the CLI: exit 1, the reason, no models/ or metrics/ written."""
    from conftest import install_tiny_model, write_core_build

    root, _, rewrite = tiny_record
    install_tiny_model(root, tiny_model_dir)
    write_core_build(root)
    rewrite(_no)
    proc = run_cli("train", "--substrate", "tiny", "--condition", "core", "--seed", "1", cwd=root)
    assert proc.returncode == 1, proc.stderr
    assert "consent record 'tiny-fixture' refuses fine_tuning: consent decision is 'no'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (root / "models" / "tiny").exists() and not (root / "metrics").exists()
    help_text = run_cli("train", "--help", cwd=root).stdout.lower()
    for word in ("skip", "force", "no-gate", "ignore-consent"):
        assert word not in help_text


def test_consent_checked_at_the_runs_start(tiny_record, tiny_model_dir):
    """A record asked in the future (relative to now) refuses a run started now."""
    from babyctl.train.run import train
    from conftest import install_tiny_model, write_core_build

    root, _, rewrite = tiny_record
    install_tiny_model(root, tiny_model_dir)
    write_core_build(root)
    future = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    rewrite(lambda d: d.update(asked_at=future))
    with pytest.raises(GateRefused, match="'tiny-fixture'.*does not predate"):
        train(root / "params.yaml", substrate="tiny", condition="core", seed=1)


# --- backend selection (no GPU here; nothing is mocked) ------------------------------------------
def test_auto_picks_hf_without_gpu():
    import torch

    assert not torch.cuda.is_available()  # this suite's premise; on a GPU box auto may pick unsloth
    assert select_backend("auto") == "hf"
    assert select_backend("hf") == "hf"


def test_unsloth_without_gpu_fails_clearly():
    with pytest.raises(EnvironmentProblem, match="--backend unsloth cannot run here: no CUDA GPU is visible"):
        select_backend("unsloth")


def test_unknown_backend():
    with pytest.raises(UsageError, match="unknown backend 'tpu'"):
        select_backend("tpu")


def test_cli_unsloth_request_exit_2(tiny_record, tiny_model_dir):
    from conftest import install_tiny_model, write_core_build

    root, _, _ = tiny_record
    install_tiny_model(root, tiny_model_dir)
    write_core_build(root)
    proc = run_cli("train", "--substrate", "tiny", "--condition", "core", "--seed", "1", "--backend", "unsloth",
                   cwd=root)
    assert proc.returncode == 2
    assert "babyctl: error: --backend unsloth cannot run here: no CUDA GPU is visible" in proc.stderr
    assert "Traceback" not in proc.stderr and not (root / "models" / "tiny").exists()


def test_unsloth_is_imported_only_inside_its_backend():
    for path in (REPO / "babyctl").rglob("*.py"):
        if path.name == "unsloth.py" or path.name == "select.py":
            continue
        text = path.read_text(encoding="utf-8")
        assert "import unsloth" not in text and "from unsloth" not in text, path
