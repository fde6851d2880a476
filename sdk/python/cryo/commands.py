"""sbx.commands: run commands in the sandbox, in the foreground or in the background."""

import threading
from typing import Callable, Dict, List, Optional, Union

from .exceptions import CommandExitError, SandboxError
from .exceptions import TimeoutError as CryoTimeout
from .models import CommandResult

OutputCallback = Optional[Callable[[str], None]]


class CommandHandle:
    """A background command. Output is buffered by cryod from the start, so wait() and the
    callbacks see everything even when attached late."""

    def __init__(self, sandbox_id, command_id, transport, on_stdout=None, on_stderr=None):
        self._id = sandbox_id
        self.command_id = command_id
        self._t = transport
        self._on_stdout, self._on_stderr = on_stdout, on_stderr
        self._stdout, self._stderr = [], []
        self._exit_code = None
        self._error = None
        self._lock = threading.Lock()
        self._reader = None
        if on_stdout or on_stderr:  # stream right away so callbacks fire as output arrives
            self._start_reader()

    def _path(self, *extra):
        return self._t.path("v1", "sandboxes", self._id, "commands", self.command_id, *extra)

    def _start_reader(self):
        with self._lock:
            if self._reader is None:
                self._reader = threading.Thread(target=self._read_all, daemon=True)
                self._reader.start()

    def _read_all(self):
        try:
            for event in self._t.stream_lines(self._path("output")):
                stream = event.get("stream")
                if stream == "exit":
                    self._exit_code = event.get("exit_code", -1)
                    return
                data = event.get("data", "")
                if stream == "stdout":
                    self._stdout.append(data)
                    if self._on_stdout:
                        self._on_stdout(data)
                elif stream == "stderr":
                    self._stderr.append(data)
                    if self._on_stderr:
                        self._on_stderr(data)
            self._error = SandboxError(f"command {self.command_id}: output stream ended without an exit status")
        except Exception as e:  # surfaced by wait()
            self._error = e

    @property
    def exit_code(self) -> Optional[int]:
        """None while running (as far as this handle has seen)."""
        return self._exit_code

    def wait(self, timeout: Optional[float] = None, check: bool = False) -> CommandResult:
        """Blocks until the command exits; returns its whole output."""
        self._start_reader()
        self._reader.join(timeout)
        if self._reader.is_alive():
            raise CryoTimeout(f"command {self.command_id} still running after {timeout}s")
        if self._error is not None:
            raise self._error
        result = CommandResult("".join(self._stdout), "".join(self._stderr), self._exit_code)
        if check and result.exit_code != 0:
            raise CommandExitError(result)
        return result

    def send_stdin(self, data: Union[str, bytes], close: bool = False) -> None:
        if isinstance(data, bytes):
            data = data.decode()
        self._t.request("POST", self._path("stdin"), {"data": data, "close": close})

    def close_stdin(self) -> None:
        self._t.request("POST", self._path("stdin"), {"data": "", "close": True})

    def kill(self, signal: Union[int, str] = "SIGKILL") -> None:
        self._t.request("POST", self._path("kill"), {"signal": signal})


class Commands:
    def __init__(self, sandbox_id, transport):
        self._id = sandbox_id
        self._t = transport

    def run(
        self,
        cmd: Union[str, List[str]],
        envs: Optional[Dict[str, str]] = None,
        cwd: Optional[str] = None,
        user: Optional[str] = None,
        timeout: float = 60,
        background: bool = False,
        on_stdout: OutputCallback = None,
        on_stderr: OutputCallback = None,
        stdin: Optional[str] = None,
        check: bool = False,
    ) -> Union[CommandResult, CommandHandle]:
        """Runs cmd (a string for /bin/sh -c, or an argv list).

        Foreground: returns CommandResult; raises TimeoutError when the command ran out of time and
        CommandExitError when check=True and it exited non-zero. Background: returns a CommandHandle.
        Callbacks receive output as it arrives.
        """
        body = {"timeout": timeout, "background": background or bool(on_stdout or on_stderr)}
        body["argv" if isinstance(cmd, (list, tuple)) else "cmd"] = list(cmd) if isinstance(cmd, (list, tuple)) else cmd
        for key, value in (("envs", envs), ("cwd", cwd), ("user", user), ("stdin", stdin)):
            if value is not None:
                body[key] = value
        path = self._t.path("v1", "sandboxes", self._id, "commands")
        if body["background"]:
            reply = self._t.request("POST", path, body)
            handle = CommandHandle(self._id, reply["command_id"], self._t, on_stdout, on_stderr)
            if background:
                return handle
            # Foreground with streaming callbacks: follow the output, then behave like a plain run.
            return self._finish(handle.wait(), check)
        reply = self._t.request("POST", path, body, timeout=timeout + 30)
        result = CommandResult(reply["stdout"], reply["stderr"], reply["exit_code"], reply.get("timed_out", False))
        return self._finish(result, check)

    @staticmethod
    def _finish(result, check):
        if result.timed_out:
            raise CryoTimeout(f"command timed out (exit code {result.exit_code})", result=result)
        if check and result.exit_code != 0:
            raise CommandExitError(result)
        return result

    def list(self):
        """Background commands known to cryod: dicts with command_id, argv, running, exit_code."""
        return self._t.request("GET", self._t.path("v1", "sandboxes", self._id, "commands"))["commands"]

    def connect(self, command_id: str, on_stdout: OutputCallback = None, on_stderr: OutputCallback = None):
        """A handle for a background command started earlier (its output replays from the start)."""
        return CommandHandle(self._id, command_id, self._t, on_stdout, on_stderr)
