"""babyctl's error hierarchy.

Every error a user can cause derives from :class:`BabyctlError`. The CLI catches
it, prints ``message`` (which names the file, and the line where there is one)
and exits with ``exit_code`` -- never a traceback.

Exit codes (documented in the README):

* 0 -- ok
* 1 -- findings: the command ran and found problems (validate, audit, gates)
* 2 -- usage or environment error: bad arguments, unreadable or malformed input,
  a missing dependency or resource
"""
from __future__ import annotations

from pathlib import Path

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2


class BabyctlError(Exception):
    """Base class. ``exit_code`` is what the CLI exits with."""

    exit_code: int = EXIT_USAGE

    def __init__(self, message: str, *, path: str | Path | None = None, line: int | None = None,
                 col: int | None = None):
        self.path = str(path) if path is not None else None
        self.line = line
        self.col = col if line is not None else None
        self.message = message
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path + (f":{self.line}" if self.line is not None else "")
            where += (f":{self.col}" if self.col is not None else "") + ": "
        return where + self.message


class UsageError(BabyctlError):
    """Bad arguments or configuration (unknown substrate, invalid repo id, ...)."""


class InputError(BabyctlError):
    """A file babyctl reads is missing, unreadable or malformed."""


class ParamsError(InputError):
    """``params.yaml`` is missing or does not match the Params model."""


class EnvironmentProblem(BabyctlError):
    """A dependency, device or external tool needed for the request is unavailable."""


class GateRefused(BabyctlError):
    """A consent, provenance or license gate refused the operation."""

    exit_code = EXIT_FINDINGS


class IntegrityError(BabyctlError):
    """A hash, count or provenance check failed."""

    exit_code = EXIT_FINDINGS


#: advice for the environment errors a user can fix (by errno name)
_OS_ADVICE = {
    "ENOSPC": "no space left on the device: free some space and run the command again",
    "EDQUOT": "disk quota exceeded: free some space and run the command again",
    "EACCES": "permission denied: check the permissions of the file and of its folder",
    "EPERM": "operation not permitted: check the permissions of the file and of its folder",
    "EROFS": "read-only file system: write somewhere writable",
    "EISDIR": "is a folder: give a file path",
    "ENOTDIR": "a part of the path is not a folder",
    "ENOENT": "no such file or folder",
    "ENAMETOOLONG": "file name too long",
    "EMFILE": "too many open files: raise the limit (ulimit -n) and run the command again",
    "EIO": "input/output error: the disk or file system failed",
}


def os_error_problem(err: OSError) -> EnvironmentProblem:
    """An :class:`EnvironmentProblem` (exit 2) for an ``OSError`` (disk full, permission denied,
    read-only file system, ...) that names the path: what the CLI prints instead of a traceback.
    Files babyctl writes are committed atomically, so such an error leaves the previous output."""
    import errno as _errno

    name = _errno.errorcode.get(err.errno or -1, "")
    advice = _OS_ADVICE.get(name) or (err.strerror or str(err))
    if name and name not in advice:
        advice += f" ({name})"
    path = err.filename
    if err.filename2 is not None:
        path = f"{err.filename} -> {err.filename2}"
    return EnvironmentProblem(advice, path=path)
