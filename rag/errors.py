"""The one base class for failures a user can fix; shells print them as one line."""


class PaperchatError(Exception):
    """A user-facing error whose message is a complete, single-line explanation."""
