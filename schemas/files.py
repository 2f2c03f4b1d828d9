"""Reading the configuration files (taxonomy, mapping, decisions): one line for any problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from schemas.errors import ConfigError


def load_yaml(path: Path, what: str, missing_ok: bool = False) -> dict[str, Any]:
    """The mapping a YAML file holds; a `ConfigError` naming the file for anything else (absent,
    unreadable, not text, not YAML, not a mapping). `missing_ok`: an absent file is empty."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        if missing_ok:
            return {}
        raise ConfigError(f"{what} not found: {path}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {path} is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{what} {path} is not valid YAML{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{what} {path} must hold a YAML mapping (name: value), not a {type(data).__name__}"
        )
    return data
