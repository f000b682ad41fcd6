"""The hub's own error classes. Each one renders as a single line for the user."""


class HubError(Exception):
    """Base class: an error the user can act on. ``str(err)`` is the one line shown."""

    exit_code = 1


class UsageError(HubError):
    """The command line itself is wrong (unknown name, contradictory options)."""

    exit_code = 2


class DataError(HubError):
    """Input data is malformed. Names the file and, where known, line, field and value."""

    def __init__(self, message, *, file=None, line=None, field=None, value=None):
        where = str(file) if file is not None else ""
        if line is not None:
            where += f":{line}"
        parts = [f"{where}: {message}" if where else message]
        if field is not None:
            parts.append(f"field {field!r}")
        if value is not None:
            shown = repr(value)
            parts.append(f"value {shown[:80] + '…' if len(shown) > 80 else shown}")
        super().__init__(" — ".join(parts))
        self.file, self.line, self.field, self.value = file, line, field, value


class ConfigError(HubError):
    """A registry, config or manifest file is malformed."""


class PluginError(HubError):
    """A plugin failed to load or registered something malformed (fatal only with --strict)."""


class ModelDirError(HubError):
    """A model directory is missing, incomplete, from a newer format, or names unknown parts."""


class ExportError(HubError):
    """An ONNX export failed or did not validate."""


class StorageError(HubError):
    """Writing an output failed or cannot succeed: a full disk, a quota, a file-size limit, a
    read-only folder. Says what was being written and what is still intact."""


class Interrupted(HubError):
    """Training stopped on Ctrl-C (SIGINT) or SIGTERM after saving a resumable checkpoint."""

    exit_code = 130
