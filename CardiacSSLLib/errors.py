"""Error types with the command-line exit code each one maps to."""


class CardiacSSLError(Exception):
    """Base class; ``exit_code`` is what the command line returns."""

    exit_code = 1


class InputError(CardiacSSLError, ValueError):
    """The user's input (file, folder, label map, argument) is unusable."""

    exit_code = 2


class OutputExistsError(InputError):
    """An output path exists and overwriting was not requested."""


class ModelError(CardiacSSLError):
    """A model cannot be found, verified or rebuilt."""

    exit_code = 3


class Cancelled(CardiacSSLError):
    """The user cancelled long work (SIGINT/SIGTERM or a cancel callback)."""

    exit_code = 130
