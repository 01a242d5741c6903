"""How the behaviours replace moto's methods: by name, so a list of functions says what is replaced."""

from __future__ import annotations

from typing import Any, Callable


def replace_methods(cls: type, *functions: Callable[..., Any], **renamed: Callable[..., Any]) -> None:
    """Puts each function on `cls` under its own name (or, for `renamed`, under the keyword's name),
    in place of the method of that name moto defines, or as a new one."""
    for function in functions:
        setattr(cls, function.__name__, function)
    for name, function in renamed.items():
        setattr(cls, name, function)
