"""The start of a worker process, shared by the env pool and the verifier pool.

Their workers are spawned (or forked from a forkserver) and re-run the parent's main script
before they serve: a script without the main guard starts its whole job again inside every
worker. The worker's first message says it got past that; a pool that does not receive it
refuses to start with one clear error, and ``run_train`` refuses to run inside such a re-run.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.connection import Connection, wait

from repro.errors import ReproError

READY = "ready"
MAIN_GUARD = "`if __name__ == '__main__':` guard"


def await_ready(conn: Connection, process: multiprocessing.process.BaseProcess, timeout_s: float,
                worker: str, pool: str) -> None:
    """Wait for the worker's :data:`READY`; if it dies (or stays silent) first, stop it and raise."""
    try:
        if conn in wait([conn, process.sentinel], timeout=timeout_s) and conn.recv() == READY:
            return
    except (EOFError, OSError):  # it died while saying something, or before
        pass
    process.kill()
    process.join()
    raise ReproError(f"{worker} failed to start (exit code {process.exitcode}); a script that builds {pool} "
                     f"needs the {MAIN_GUARD} (workers are spawned)")


def refuse_in_reimported_main(what: str) -> None:
    """Raise if this process is a pool worker still re-running the parent's main script, so that
    ``what`` does no work there (such as wiping the parent's run directory)."""
    # multiprocessing sets this while a new worker imports the main module (spawn.prepare)
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        raise ReproError(f"{what} was called while a worker process re-ran the main script; "
                         f"the script needs the {MAIN_GUARD}")
