"""Options -> hutch command-line flags, and finding the binary.

The SDK keeps one small table from Python option names to the CLI's flags
(`hutch help run`); tests/test_flags.py runs every entry against the real
binary, so the table cannot drift from the CLI.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from typing import Any

from ._errors import HutchError

# option name -> (flag, kind). Kinds:
#   value  --flag VALUE          (numbers are written as Python prints them)
#   bool   --flag when True      (False or None: nothing)
#   list   --flag V per item     (a single string is one item)
#   env    --env K=V per item    (a mapping, or "K=V" strings)
#   net    --net MODE            (a list of domains is allow:D1,D2)
POLICY_FLAGS: dict[str, tuple[str, str]] = {
    "config": ("--config", "value"),
    "no_config": ("--no-config", "bool"),
    "backend": ("--backend", "value"),
    "fallback": ("--fallback", "value"),
    "fallback_keep": ("--fallback-keep", "list"),
    "setup_command": ("--setup-command", "value"),
    "workspace": ("--workspace", "value"),
    "workdir": ("--workdir", "value"),
    "user": ("--user", "value"),
    "allow_root_user": ("--allow-root-user", "bool"),
    "env": ("--env", "env"),
    "inherit_env": ("--inherit-env", "bool"),
    "memory": ("--memory", "value"),
    "cpus": ("--cpus", "value"),
    "pids": ("--pids", "value"),
    "timeout": ("--timeout", "value"),
    "output_limit": ("--output-limit", "value"),
    "file_size": ("--file-size", "value"),
    "disk": ("--disk", "value"),
    "files": ("--files", "value"),
    "rlimit_fallback": ("--rlimit-fallback", "bool"),
    "net": ("--net", "net"),
    "allow_address": ("--allow-address", "list"),
    "add_host": ("--add-host", "env"),
    "deny_read": ("--deny-read", "list"),
    "rw": ("--rw", "list"),
    "deny_write": ("--deny-write", "list"),
    "ro": ("--ro", "list"),
    "tmpfs": ("--tmpfs", "list"),
    "read_only_root": ("--read-only-root", "bool"),
    "image": ("--image", "value"),
    "sandbox": ("--sandbox", "value"),
    "runtime": ("--runtime", "value"),
    "require_approval": ("--require-approval", "list"),
}

# What `hutch exec` and `hutch mcp` take: settings of one run. The rest is
# fixed when a session is created (hutch session create).
PER_RUN_OPTIONS = frozenset(
    {"config", "no_config", "env", "inherit_env", "timeout", "output_limit", "file_size", "workdir"})


def _text(name: str, value: Any) -> str:
    if isinstance(value, bool):
        raise TypeError(f"option {name} takes a value, not {value!r}")
    if isinstance(value, (int, float, str, os.PathLike)):
        text = os.fspath(value) if isinstance(value, os.PathLike) else str(value)
        if "\0" in text:
            raise ValueError(f"option {name} has a NUL character")
        return text
    raise TypeError(f"option {name} takes a string or a number, not {type(value).__name__}")


def flags(options: Mapping[str, Any], allowed: frozenset[str] | None = None,
          what: str = "this call") -> list[str]:
    """The CLI flags for options (None values are left out)."""
    out: list[str] = []
    for name, value in options.items():
        if value is None:
            continue
        if name not in POLICY_FLAGS:
            known = ", ".join(sorted(allowed if allowed is not None else POLICY_FLAGS))
            raise TypeError(f"unknown option {name!r} (known: {known})")
        if allowed is not None and name not in allowed:
            raise TypeError(
                f"option {name!r} is fixed when a session is created: pass it to "
                f"Session.create(), not to {what} (per-run options: {', '.join(sorted(allowed))})")
        flag, kind = POLICY_FLAGS[name]
        if kind == "bool":
            if not isinstance(value, bool):
                raise TypeError(f"option {name} is True or False, not {value!r}")
            if value:
                out.append(flag)
        elif kind == "value":
            out += [flag, _text(name, value)]
        elif kind == "list":
            items = [value] if isinstance(value, (str, os.PathLike)) else list(value)
            for item in items:
                out += [flag, _text(name, item)]
        elif kind == "env":
            if isinstance(value, Mapping):
                items = [f"{k}={_text(name, v)}" for k, v in value.items()]
            else:
                items = [value] if isinstance(value, str) else list(value)
            for item in items:
                out += [flag, _text(name, item)]
        elif kind == "net":
            if isinstance(value, str):
                out += [flag, _text(name, value)]
            else:
                domains = [_text(name, d) for d in value]
                out += [flag, "allow:" + ",".join(domains)] if domains else [flag, "none"]
    return out


def find_hutch(hutch: str | os.PathLike | None = None) -> str:
    """The hutch binary: the argument, else $HUTCH_BIN, else hutch on PATH."""
    if hutch is not None:
        return os.fspath(hutch)
    env = os.environ.get("HUTCH_BIN")
    if env:
        return env
    found = shutil.which("hutch")
    if not found:
        raise HutchError("hutch not found: install it, put it on PATH, set HUTCH_BIN, "
                         "or pass hutch='/path/to/hutch'")
    return found


def child_env(state_dir: str | os.PathLike | None) -> dict[str, str] | None:
    """The environment of a hutch child: ours, with HUTCH_STATE_DIR when given."""
    if state_dir is None:
        return None
    return dict(os.environ, HUTCH_STATE_DIR=os.fspath(state_dir))


def command_args(command: str | Sequence[str]) -> list[str]:
    """A shell string runs with -c; a sequence is the argv, passed as it is."""
    if isinstance(command, str):
        return ["-c", command]
    argv = [os.fspath(a) for a in command]
    if not argv:
        raise ValueError("the command is empty")
    return ["--", *argv]
