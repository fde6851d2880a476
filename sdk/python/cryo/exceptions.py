"""Errors raised by the SDK. Each maps one of cryod's error codes."""

import builtins


class SandboxError(Exception):
    """Base of every SDK error; also raised for `internal` errors and transport failures."""

    def __init__(self, message, code="internal", status=None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


class NotFoundError(SandboxError):
    """Unknown sandbox, snapshot, command or path (`not_found`, HTTP 404)."""


class InvalidArgumentError(SandboxError):
    """The request was rejected (`bad_request` 400, `too_large` 413)."""


class ConflictError(SandboxError):
    """The operation does not fit the current state, e.g. the sandbox is not running (409)."""


class TimeoutError(SandboxError, builtins.TimeoutError):
    """An operation or command ran out of time (`timeout`, HTTP 504)."""

    def __init__(self, message, code="timeout", status=None, result=None):
        super().__init__(message, code, status)
        self.result = result  # the partial CommandResult when a command timed out


class AuthenticationError(SandboxError):
    """Missing or wrong bearer token on a TCP connection (HTTP 401)."""


class CommandExitError(SandboxError):
    """A command exited non-zero and `check=True` was given."""

    def __init__(self, result):
        super().__init__(
            f"command exited with code {result.exit_code}: {result.stderr.strip()[:200]}",
            code="command_exit",
        )
        self.result = result
        self.exit_code = result.exit_code
        self.stdout = result.stdout
        self.stderr = result.stderr


_BY_CODE = {
    "not_found": NotFoundError,
    "bad_request": InvalidArgumentError,
    "too_large": InvalidArgumentError,
    "conflict": ConflictError,
    "timeout": TimeoutError,
    "unauthorized": AuthenticationError,
}


def error_from_reply(status, code, message):
    """The exception for an error reply from cryod."""
    cls = _BY_CODE.get(code, SandboxError)
    return cls(message, code=code, status=status)
