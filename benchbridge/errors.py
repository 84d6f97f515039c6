"""Errors meant for a person: the CLI turns a UserError into one paragraph and exit status 2."""

from __future__ import annotations


class UserError(Exception):
    """A mistake the user can fix (bad manifest, missing file, unknown plugin). Never a bug."""

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None,
                 hint: str | None = None) -> None:
        self.file = file
        self.key = key
        self.hint = hint
        self.detail = message
        super().__init__(self.render())

    def render(self) -> str:
        where = []
        if self.file:
            where.append(str(self.file))
        if self.key:
            where.append(f"key '{self.key}'")
        text = (": ".join(where) + ": " if where else "") + self.detail
        if self.hint:
            text += f" {self.hint}"
        return text


class PluginError(UserError):
    """A plugin is missing, broken, or clashes with another one."""


def within(error: UserError, prefix: str, file: str | None = None) -> UserError:
    """The same error with its key placed under `prefix` (a plugin knows only its own keys). When the plugin named
    another file (e.g. the dataset folder), the manifest `file` comes first and the plugin's file after the key."""
    key = f"{prefix}.{error.key}" if error.key else prefix
    if file and error.file and str(error.file) != str(file):
        return type(error)(f"{error.file}: {error.detail}", file=file, key=key, hint=error.hint)
    return type(error)(error.detail, file=error.file or file, key=key, hint=error.hint)
