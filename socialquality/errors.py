"""Error types that name what to fix: the file, and where it applies the row, column and rule."""

from __future__ import annotations

from pathlib import Path


class SocialQualityError(Exception):
    """Base class: every error the pipeline raises on purpose, with a one-line message."""


class ConfigError(SocialQualityError):
    """The configuration is wrong (missing folder, unknown key, unreachable database)."""


class CodebookError(SocialQualityError):
    """A codebook, indicator catalogue or register file is invalid."""

    def __init__(self, path: str | Path, message: str, location: str | None = None):
        self.path = str(path)
        self.location = location
        where = f" at {location}" if location else ""
        super().__init__(f"{self.path}{where}: {message}")


class InputFileError(SocialQualityError):
    """A delivered data file cannot be used as it is. Nothing of it is written."""

    def __init__(
        self,
        path: str | Path,
        message: str,
        *,
        row: int | None = None,
        column: str | None = None,
        rule: str | None = None,
    ):
        self.path = str(path)
        self.row = row
        self.column = column
        self.rule = rule
        parts = [self.path]
        if row is not None:
            parts.append(f"row {row}")
        if column is not None:
            parts.append(f"column {column!r}")
        if rule is not None:
            parts.append(f"rule {rule}")
        super().__init__(", ".join(parts) + f": {message}")


class PrivacyError(SocialQualityError):
    """A privacy safeguard is not in place (e.g. no pseudonymisation key in production)."""
