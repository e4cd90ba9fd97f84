"""``python -m hubcore.worker``: one process of a procfile app.

How it works: read the environment the supervisor set (hub address, token file, process
name, instance, app spec file), join the hub, then construct and ``start()`` this process's
services in dependency order, publishing each once started, and tell the hub it is ready.
Then wait for SIGTERM/SIGINT or for the hub to go away (the supervisor died), stop the
services in reverse order, kill any child they left, and exit. A ``start()`` that raises is
reported to the hub with its traceback and the process exits with code 3 (no restart loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import psutil

from hubcore import _env
from hubcore._errors import BootFailed, ConnectionLost, describe
from hubcore.app._service import ServiceContext, call_hook, load_class
from hubcore.app._spec import AppSpec, ServiceSpec
from hubcore.client._api import connect, set_default_client
from hubcore.client._client import Client

__all__ = ("BOOT_FAILED_EXIT", "main")

log = logging.getLogger("hubcore.worker")

BOOT_FAILED_EXIT = 3
LIFECYCLE = frozenset({"start", "stop", "ctx"})  # a service's own business, not callable remotely
STOP_TIMEOUT = 10.0


def _die_with_parent() -> None:
    """Ask Linux to send SIGTERM when the supervisor dies, and check it has not already."""
    parent = int(os.environ.get(_env.SUPERVISOR_PID, "0") or 0)
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    if parent and os.getppid() != parent:
        sys.exit("hubcore.worker: the supervisor is already gone")


class Worker:
    """The services of one process instance."""

    def __init__(self, spec: AppSpec, process: str, instance: int, client: Client) -> None:
        self.spec = spec
        self.process = process
        self.instance = instance
        self.client = client
        self.started: list[tuple[ServiceSpec, Any]] = []

    async def start_all(self) -> None:
        """Start every service of this process, in order, publishing as they come up."""
        for svc in self.spec.start_order(self.process):
            await self._wait_dependencies(svc)
            try:
                obj = await self._start(svc)
            except Exception as exc:
                raise BootFailed(
                    f"service {svc.name!r} failed to start in {self.process}.{self.instance}: "
                    f"{describe(exc)}",
                    service=svc.name,
                    process=self.process,
                    remote_traceback="".join(traceback.format_exception(exc)),
                ) from exc
            self.started.append((svc, obj))

    async def _start(self, svc: ServiceSpec) -> Any:
        cls = load_class(svc.import_path, svc.name)
        logger = logging.getLogger(f"hubcore.service.{svc.name}")
        ctx = ServiceContext(
            svc.name, dict(svc.config), self.process, self.instance, self.client, logger
        )
        obj = cls(ctx)
        await call_hook(obj, "start")
        if svc.publish_as is not None:
            ctx.publication = await self.client.publish(svc.publish_as, obj, hidden=LIFECYCLE)
        return obj

    async def _wait_dependencies(self, svc: ServiceSpec) -> None:
        for dep in svc.depends_on:
            other = self.spec.services[dep]
            if other.process != self.process and other.publish_as is not None:
                await self.client.resolve(other.publish_as, None, 60.0)

    async def stop_all(self) -> None:
        """Stop started services in reverse order; one that fails does not stop the others."""
        while self.started:
            svc, obj = self.started.pop()
            try:
                with anyio.fail_after(STOP_TIMEOUT):
                    await call_hook(obj, "stop")
            except Exception:
                log.exception("service %r failed to stop cleanly", svc.name)


async def run(spec: AppSpec, process: str, instance: int) -> int:
    """Boot this process's services, serve until told to stop, and return the exit code.

    The stop signals are watched from before the first service starts: a SIGTERM during boot
    cancels the boot, and whatever had started is stopped all the same.
    """
    # Not reconnecting: a hub that goes away is a supervisor that died, and then this process
    # stops (_stop_when_told), so that an app leaves no orphans.
    async with connect(process=process, instance=instance, reconnect=False) as client:
        set_default_client(client)
        worker = Worker(spec, process, instance, client)
        serving = anyio.CancelScope()
        async with anyio.create_task_group() as tg:
            await tg.start(_stop_when_told, client, serving)
            try:
                with serving:
                    return await _boot_and_serve(worker, client)
            finally:
                with anyio.CancelScope(shield=True):
                    await worker.stop_all()
                tg.cancel_scope.cancel()
    return 0


async def _boot_and_serve(worker: Worker, client: Client) -> int:
    try:
        await worker.start_all()
    except BootFailed as exc:
        # Printed first: once reported, the supervisor stops this process, and the traceback
        # must be in its output (the logs, `hubcore dev`) all the same.
        print(exc.remote_traceback.rstrip(), file=sys.stderr, flush=True)
        await client.hub_call("report", "boot_failed", _failure(exc))
        return BOOT_FAILED_EXIT
    try:
        await client.hub_call("report", "ready", {})
    except ConnectionLost:  # as in _stop_when_told: no hub, no app
        log.warning("the hub went away (supervisor gone?) as this process got ready: stopping")
        return 0
    await anyio.sleep_forever()
    return 0  # pragma: no cover - sleep_forever only ends by cancellation


def _failure(exc: BootFailed) -> dict[str, Any]:
    return {"service": exc.service, "message": str(exc), "traceback": exc.remote_traceback}


async def _stop_when_told(
    client: Client,
    serving: anyio.CancelScope,
    *,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Cancel ``serving`` on SIGTERM/SIGINT, or when the hub goes away (supervisor gone).

    The handler is a plain ``signal.signal`` one that is never removed: anyio's (and asyncio's)
    signal receivers put back the default action when they close, and a SIGTERM landing after
    that (PR_SET_PDEATHSIG fires once per thread of a dying supervisor) would kill the worker
    before it killed its children.
    """
    loop = asyncio.get_running_loop()

    def requested(name: str) -> None:
        if serving.cancel_called:
            log.info("received %s: already stopping", name)
        else:
            log.info("received %s: stopping", name)
            serving.cancel()

    def on_signal(signum: int, _frame: object) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nothing left to stop
            loop.call_soon_threadsafe(requested, signal.Signals(signum).name)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    task_status.started()
    await client.hub_lost.wait()
    log.warning("the hub went away (supervisor gone?): stopping")
    serving.cancel()


def main() -> None:
    """Entry point: run one worker process from the environment the supervisor set."""
    _die_with_parent()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    spec = AppSpec.from_dict(_read_spec())
    sys.path.insert(0, str(spec.root))
    process = os.environ[_env.PROCESS]
    instance = int(os.environ.get(_env.INSTANCE, "0"))
    # Until run() installs its handler, a SIGTERM is ignored: nothing has started yet that a
    # stop would have to undo, and the supervisor escalates to SIGKILL after its grace period.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    code = anyio.run(run, spec, process, instance)
    _kill_children()
    sys.exit(code)


def _kill_children() -> None:
    """Whatever a service started and did not stop (a browser, say) dies with its process."""
    children = psutil.Process().children(recursive=True)
    for child in children:
        with contextlib.suppress(psutil.Error):
            child.kill()
    psutil.wait_procs(children, timeout=5)


def _read_spec() -> dict[str, Any]:
    import json

    return dict(json.loads(Path(os.environ[_env.APP_SPEC]).read_text()))


if __name__ == "__main__":
    main()
