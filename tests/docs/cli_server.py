"""Run the tutorials' ``harlab`` and ``python`` commands in a pre-imported interpreter.

Each command of a tutorial page used to start a fresh Python that imported torch, Lightning
and harlab again (2-5 s of CPU each, about 30 commands). Here one server process imports
them once; the page's bash script calls a tiny stdlib-only client instead
(``harlab() { python -S cli_server.py harlab "$@"; }``), which hands the server its argv,
working directory, environment and its stdin/stdout/stderr file descriptors. The server
forks, and the child runs ``harlab.cli.main.main()`` (or the ``python`` command line) on
exactly those descriptors, so pipes, redirections, ``$(...)`` and exit codes behave as
with a separate process, and every command still runs in its own process.

Usage: ``python cli_server.py serve SOCKET`` (the server) and
``python -S cli_server.py harlab|python SOCKET ARG...`` (the client).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import socket
import struct
import sys
import threading

_HEADER = struct.Struct("!I")


def client(kind: str, path: str, args: list[str]) -> int:
    """Send one command with this process's stdio to the server; its exit status."""
    payload = json.dumps({"kind": kind, "args": args, "cwd": os.getcwd(),
                          "env": dict(os.environ)}).encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(path)
        socket.send_fds(sock, [_HEADER.pack(len(payload))], [0, 1, 2])
        sock.sendall(payload)
        reply = sock.recv(16)
    if not reply:
        print(f"cli_server: no exit status for {kind} {' '.join(args)}", file=sys.stderr)
        return 1
    return int(reply.decode())


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError("client went away")
        data += chunk
    return data


def _run_python(args: list[str]) -> None:
    """What ``python ARGS`` does for ``-c CODE``, ``-`` (code on stdin) and ``SCRIPT``."""
    import runpy

    if args and args[0] == "-c":
        code, sys.argv = args[1], ["-c", *args[2:]]
    elif args and args[0] == "-":
        code, sys.argv = sys.stdin.read(), args
    elif args:
        sys.argv = list(args)
        sys.path.insert(0, os.path.dirname(os.path.abspath(args[0])))
        runpy.run_path(args[0], run_name="__main__")
        return
    else:
        raise SystemExit("cli_server: python without -c, - or a script is not supported")
    sys.path.insert(0, "")
    exec(compile(code, "<string>" if args[0] == "-c" else "<stdin>", "exec"),
         {"__name__": "__main__", "__builtins__": __builtins__})


def _child(request: dict, fds: list[int]) -> None:
    """Runs in the forked child: become the command, then exit with its status."""
    code = 0
    try:
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        if request["kind"] == "harlab":
            from harlab.cli.main import main

            sys.argv = ["harlab", *request["args"]]
            main()
        else:
            _run_python(request["args"])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, int) and exc.code is not None:
            print(exc.code, file=sys.stderr)
    except BaseException:  # noqa: BLE001 - report like the interpreter does, then exit 1
        import traceback

        traceback.print_exc()
        code = 1
    finally:  # what the interpreter does at exit: atexit handlers, then flushed streams
        with contextlib.suppress(BaseException):
            atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(code)


def _wait_and_reply(conn: socket.socket, pid: int) -> None:
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    try:
        conn.sendall(str(code if code >= 0 else 128 - code).encode())
    finally:
        conn.close()


def _preload() -> None:
    """Import what the commands would otherwise import each time (torch, Lightning, harlab)."""
    import importlib
    import pkgutil

    import harlab

    for mod in pkgutil.walk_packages(harlab.__path__, "harlab."):
        # an optional extra that is missing: the commands that need it import it themselves
        with contextlib.suppress(Exception):
            importlib.import_module(mod.name)


def serve(path: str) -> None:
    """Accept commands until killed; fork one child per command (in this, the main thread)."""
    _preload()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        server.listen(8)
        print("ready", flush=True)
        while True:
            conn, _ = server.accept()
            msg, fds, _, _ = socket.recv_fds(conn, _HEADER.size, 3)
            request = json.loads(_recv_exact(conn, _HEADER.unpack(msg)[0]))
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                server.close()
                conn.close()
                _child(request, fds)
            for fd in fds:
                os.close(fd)
            threading.Thread(target=_wait_and_reply, args=(conn, pid), daemon=True).start()


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2])
    else:
        sys.exit(client(sys.argv[1], sys.argv[2], sys.argv[3:]))
