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
