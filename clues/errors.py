"""The project's own errors: each says what is wrong and how to fix it.

The CLI and the app catch `CluesError` and show its message instead of a traceback.
"""


class CluesError(Exception):
    """A problem with the user's input or environment that the user can fix."""


class ModelLoadError(CluesError):
    """A model could not be loaded (missing, offline, not a model, unsupported)."""


class InputError(CluesError):
    """Text, a file or a parameter given by the user is not usable as it is."""
