"""Load the stimulus banks: ``<stimuli_dir>/<bank>.jsonl``, one :class:`Stimulus` a line."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


from ..documents import read_jsonl_models, read_text
from ..errors import InputError, UsageError
from ..schemas.stimuli import Stimulus


@dataclass(frozen=True)
class LoadedStimulus:
    """A stimulus and where it was read from (file and 1-based line)."""

    stimulus: Stimulus
    path: Path
    line: int


def load_bank(path: str | Path) -> list[LoadedStimulus]:
    """Parse one bank file; errors name the file and line. Blank lines are skipped."""
    path = Path(path)
    out: list[LoadedStimulus] = []
    for lineno, _, stim in read_jsonl_models(path, Stimulus, "stimulus", text=read_text(path, "stimulus bank")):
        if stim.bank != path.stem:
            raise InputError(f"stimulus {stim.id!r} says bank {stim.bank!r} but lives in "
                             f"{path.name} (bank {path.stem!r})", path=path, line=lineno)
        out.append(LoadedStimulus(stim, path, lineno))
    return out


def load_stimuli(stimuli_dir: str | Path, banks: list[str] | None = None) -> list[LoadedStimulus]:
    """All stimuli of the selected banks (all banks when ``banks`` is empty), in file order.

    Ids must be unique across banks: a duplicate raises :class:`InputError` naming
    both places (``file:line``).
    """
    folder = Path(stimuli_dir)
    if not folder.is_dir():
        raise InputError("stimuli folder not found", path=folder)
    files = sorted(folder.glob("*.jsonl"))
    available = [f.stem for f in files]
    if banks:
        unknown = [b for b in banks if b not in available]
        if unknown:
            raise UsageError(f"unknown stimulus bank(s) {', '.join(unknown)} in {folder} "
                             f"(available: {', '.join(available) or 'none'})")
        files = [folder / f"{b}.jsonl" for b in banks]
    if not files:
        raise InputError("no stimulus banks (*.jsonl) found", path=folder)
    seen: dict[str, LoadedStimulus] = {}
    out: list[LoadedStimulus] = []
    for f in files:
        for item in load_bank(f):
            first = seen.get(item.stimulus.id)
            if first is not None:
                raise InputError(f"duplicate stimulus id {item.stimulus.id!r}: first defined at "
                                 f"{first.path}:{first.line}", path=item.path, line=item.line)
            seen[item.stimulus.id] = item
            out.append(item)
    return out


# --- rendering --------------------------------------------------------------------------------------
def conversation(stim: Stimulus, system_prompt: str | None = None) -> list[dict]:
    """The messages a model sees: system (the arm's ``system_prompt``, then the stimulus's own,
    joined by a blank line), the prior turns, then the user ``prompt``."""
    systems = [s for s in (system_prompt, stim.system) if s]
    msgs = [{"role": "system", "content": "\n\n".join(systems)}] if systems else []
    msgs += [{"role": t.role, "content": t.content} for t in stim.turns]
    msgs.append({"role": "user", "content": stim.prompt})
    return msgs


def render_prompt(tokenizer, stim: Stimulus, system_prompt: str | None = None) -> str:
    """The prompt text given to the model: the substrate's own chat template applied to
    :func:`conversation` with the generation prompt (the assistant turn opened), then the prefill,
    which the model continues. Tokenise it with ``add_special_tokens=False`` (the template writes
    its own BOS)."""
    text = tokenizer.apply_chat_template(conversation(stim, system_prompt), tokenize=False,
                                         add_generation_prompt=True)
    return text + (stim.prefill or "")


def stimulus_fields(stim: Stimulus) -> dict:
    """The richer-stimulus fields a completion row carries (empty for a single-turn stimulus, so
    single-turn rows keep their shape)."""
    out: dict = {}
    if stim.system:
        out["system"] = stim.system
    if stim.turns:
        out["turns"] = [t.model_dump() for t in stim.turns]
    if stim.prefill:
        out["prefill"] = stim.prefill
    return out


def judge_prompt(row: dict) -> str:
    """What a judge is shown as "the prompt given to the model": the prompt alone for a single-turn
    stimulus; otherwise a labelled transcript (system, prior turns, the prompt, and the prefill, marked
    as written by the evaluator, not the model)."""
    system = row.get("arm_system_prompt"), row.get("system")
    turns, prefill = row.get("turns") or [], row.get("prefill")
    if not any(system) and not turns and not prefill:
        return row.get("prompt", "")
    parts = [f"[system]\n{s}" for s in system if s]
    parts += [f"[{t['role']}]\n{t['content']}" for t in turns]
    parts.append(f"[user]\n{row.get('prompt', '')}")
    if prefill:
        parts.append(f"[assistant, start written by the evaluator (prefill); the response continues it]\n{prefill}")
    return "\n\n".join(parts)
