"""Where a command's round trip goes: the same sandbox, measured at each layer.
  - SDK -> cryod -> sentry: commands.run with a simple string (no shell), with a string only sh
    can run, and with an argv;
  - straight to the sentry's socket (no HTTP, no cryod): the same three;
  - an HTTP request cryod answers without the sentry (GET the sandbox).
usage: bench/exec_breakdown.py [ROUNDS]   (run by bench/exec_breakdown.sh, which starts cryod)"""
import json
import os
import socket
import statistics
import sys
import time

from cryo import Sandbox

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 200


def median_ms(fn, rounds=ROUNDS):
    fn()  # warm
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def sentry_exec(sock_path, argv):
    """One exec request on the sentry's own protocol (sentry/protocol.h); returns the exit code."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock_path)
    s.sendall(json.dumps({"op": "exec", "argv": argv, "env": {}, "cwd": "", "user": "", "stdin": "",
                          "close_stdin": True, "timeout_s": 0}).encode() + b"\n")
    buf = b""
    while True:
        data = s.recv(65536)
        if not data:
            raise RuntimeError("sentry closed the connection: " + buf.decode(errors="replace"))
        buf += data
        for line in buf.split(b"\n")[:-1]:
            msg = json.loads(line)
            if "error" in msg:
                raise RuntimeError(msg["error"])
            if "exit_code" in msg:
                s.close()
                return msg["exit_code"]


def main():
    sbx = Sandbox.create()
    sock = os.path.join(os.environ["CRYO_STATE_DIR"], "sandboxes", sbx.sandbox_id, "sentry.sock")
    rows = [
        ('commands.run("true")', lambda: sbx.commands.run("true")),
        ('commands.run("true;")  (sh)', lambda: sbx.commands.run("true;")),
        ('commands.run(["/bin/true"])', lambda: sbx.commands.run(["/bin/true"])),
        ("sentry: sh -c true", lambda: sentry_exec(sock, ["/bin/sh", "-c", "true"])),
        ("sentry: sh -c 'true;'  (sh)", lambda: sentry_exec(sock, ["/bin/sh", "-c", "true;"])),
        ("sentry: /bin/true", lambda: sentry_exec(sock, ["/bin/true"])),
        ("GET /v1/sandboxes/{id}", lambda: sbx._t.request("GET", sbx._t.path("v1", "sandboxes", sbx.sandbox_id))),
    ]
    try:
        print(f"{'median ms of ' + str(ROUNDS):36} {'ms':>7}")
        for name, fn in rows:
            print(f"{name:36} {median_ms(fn):7.3f}")
    finally:
        sbx.kill()


if __name__ == "__main__":
    main()
