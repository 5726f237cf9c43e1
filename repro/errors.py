"""User-facing errors: the CLI prints them as one line and exits with code 2."""


class ReproError(Exception):
    """A problem with the user's input, config or data (not a bug in repro).

    The CLI prints ``error: <message>`` without a traceback and exits with ``exit_code``.
    """

    exit_code = 2
