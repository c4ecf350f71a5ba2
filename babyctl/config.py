"""Load ``params.yaml`` into the typed :class:`~babyctl.schemas.Params` model."""
from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from .documents import read_text
from .errors import ParamsError
from .locate import fast_loader, locate, node_tree
from .schemas.params import Params

DEFAULT_PARAMS = "params.yaml"


def load_params(path: str | Path = DEFAULT_PARAMS) -> Params:
    """Read and validate params; raises :class:`ParamsError` naming the file and line."""
    path = Path(path)
    text = read_text(path, "params file", " (run from the experiment's root or pass --params)",
                     error=ParamsError)
    try:
        data = yaml.load(text, Loader=fast_loader())  # duplicate keys are errors
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise ParamsError(f"invalid YAML: {getattr(e, 'problem', e)}", path=path,
                          line=mark.line + 1 if mark else None)
    if not isinstance(data, dict):
        raise ParamsError("params must be a YAML mapping", path=path, line=1)
    try:
        return Params.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        line, _ = locate(node_tree(text), err["loc"])
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
        raise ParamsError(f"{where}: {err['msg']}{more}", path=path, line=line)


def experiment_root(params_path: str | Path = DEFAULT_PARAMS) -> Path:
    """The folder paths in params are relative to: the folder holding params.yaml."""
    return Path(params_path).resolve().parent
