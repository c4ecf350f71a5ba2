"""Load ``params.yaml`` into the typed :class:`~babyctl.schemas.Params` model."""
from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from .documents import Problem, error_message, read_text
from .errors import ParamsError
from .locate import fast_loader, locate, node_tree
from .schemas.params import Params

DEFAULT_PARAMS = "params.yaml"


def parse_params(text: str) -> tuple[Params | None, list[Problem]]:
    """Params from the text of a params file, or None and every problem, each at its key's line:
    BC101 for YAML that does not parse (duplicate keys included), BC701 for a document that is
    not a mapping or does not match the model. ``babyctl validate`` reports them all."""
    if not text.strip():
        return None, [Problem(1, 1, "BC701", "params must be a YAML mapping: the file is empty (the pipeline "
                              "cannot run without study, substrates and conditions)")]
    try:
        data = yaml.load(text, Loader=fast_loader())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return None, [Problem(line, col, "BC101", f"invalid YAML: {getattr(e, 'problem', None) or e}")]
    if not isinstance(data, dict):
        return None, [Problem(1, 1, "BC701", "params must be a YAML mapping")]
    try:
        return Params.model_validate(data), []
    except ValidationError as e:
        tree = node_tree(text)
        return None, [Problem(*locate(tree, err["loc"]), "BC701", error_message(err))
                      for err in e.errors(include_url=False)]


def load_params(path: str | Path = DEFAULT_PARAMS) -> Params:
    """Read and validate params; raises :class:`ParamsError` naming the file and line."""
    path = Path(path)
    text = read_text(path, "params file", " (run from the experiment's root or pass --params)",
                     error=ParamsError)
    params, problems = parse_params(text)
    if params is None:
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ParamsError(first.message + more, path=path, line=first.line)
    return params


def experiment_root(params_path: str | Path = DEFAULT_PARAMS) -> Path:
    """The folder paths in params are relative to: the folder holding params.yaml."""
    return Path(params_path).resolve().parent
