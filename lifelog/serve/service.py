"""``lifelog service``: one small headless process for every background job of a memory.

It hosts, as **components** started in order and stopped in reverse (Frigate-style
``start()``/``stop()`` lists):

1. the nightly **scheduler** (:func:`lifelog.api.consolidate.start_host`) — only when no other
   process (the app) hosts it already; then this component says so and stays idle;
2. the **Wi-Fi receiver** (paired phones and glasses, LocalSend; ``lifelog serve``);
3. **USB watching**: paired camera cards synced as they are mounted (``lifelog sync --watch``).

4. with ``--api`` / ``--mcp``, the local HTTP API (:mod:`lifelog.serve.http`) and the MCP server
   over streamable HTTP (:mod:`lifelog.serve.mcp`), on loopback, for clients holding a grant.

More components join the same list (``start()``/``stop()``/``status()``). A component that cannot start (a port
taken) is reported in the status and the others run; SIGTERM and SIGINT stop everything in
order. The service reaches the core only through :mod:`lifelog.api` (``one-door`` contract).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger("lifelog.service")


class Component(Protocol):
    """One background job the service runs."""

    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def status(self) -> str: ...


class SchedulerComponent:
    """The nightly consolidation schedule (idle when the app hosts it)."""

    name = "scheduler"

    def __init__(self, data_dir: Path, *, kind: str = "service", check_s: float = 30.0,
                 window: Any = None) -> None:
        self.data_dir, self.kind, self.check_s, self.window = data_dir, kind, check_s, window
        self.host: Any = None
        self.elsewhere = False

    def start(self) -> None:
        from lifelog.api import consolidate

        self.host = consolidate.start_host(self.data_dir, kind=self.kind, check_s=self.check_s, window=self.window)
        self.elsewhere = self.host is None

    def stop(self) -> None:
        if self.host is not None:
            self.host.stop()
            self.host = None

    def status(self) -> str:
        from lifelog.api import consolidate

        st = consolidate.status(self.data_dir)
        if self.elsewhere:
            who = st.host or {}
            return f"hosted by the {who.get('kind', 'other process')} (process {who.get('pid', '?')})"
        if self.host is None:
            return "stopped"
        if st.running:
            return f"pass running: {st.running.step} {st.running.done}/{st.running.total}"
        nxt = self.host.next_run()
        return f"next pass {nxt.isoformat(timespec='minutes')}" if nxt else "nightly pass off"


class ReceiverComponent:
    """The Wi-Fi receiver (paired companions; LocalSend senders need approval from elsewhere)."""

    name = "receiver"

    def __init__(self, memory: Any, host: str = "0.0.0.0", port: int | None = None, *, advertise: bool = True,
                 on_event: Callable[[Any], None] | None = None) -> None:
        self.memory, self.host, self.port, self.advertise, self.on_event = memory, host, port, advertise, on_event
        self.receiver: Any = None

    def start(self) -> None:
        from lifelog.api.devices import DEFAULT_PORT, start_receiver

        port = DEFAULT_PORT if self.port is None else self.port
        self.receiver = start_receiver(self.memory, self.host, port, self.on_event, advertise=self.advertise)

    def stop(self) -> None:
        if self.receiver is not None:
            self.receiver.stop()
            self.receiver = None

    def status(self) -> str:
        if self.receiver is None:
            return "stopped"
        return f"listening on port {self.receiver.port}"


class UsbWatchComponent:
    """Paired USB volumes synced as they are mounted (like ``lifelog sync --watch``)."""

    name = "usb"

    def __init__(self, memory: Any, *, roots: Sequence[Path] | None = None, interval_s: float = 2.0,
                 on_result: Callable[[Any], None] | None = None) -> None:
        self.memory, self.roots, self.interval_s, self.on_result = memory, roots, interval_s, on_result
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self.synced = 0

    def start(self) -> None:
        from lifelog.api.devices import watch_paired

        self._cancel.clear()

        def result(r: Any) -> None:
            self.synced += 1
            if self.on_result is not None:
                self.on_result(r)

        def run() -> None:
            try:
                watch_paired(self.memory, self._cancel, roots=self.roots, interval_s=self.interval_s,
                             on_result=result)
            except Exception:  # said in the log and the status line; the other components go on
                log.exception("USB watching stopped")

        self._thread = threading.Thread(target=run, name="lifelog-service-usb", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._cancel.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def status(self) -> str:
        if self._thread is None or not self._thread.is_alive():
            return "stopped"
        return f"watching ({self.synced} sync(s))"


@dataclass
class Service:
    """Start components in order, stop them in reverse; one that fails to start is skipped."""

    components: list[Component]
    started: list[Component] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        # the vocabulary's text vectors, so that a cold `lifelog ask` starts without the text model
        # (lifelog.encoders.phrases; a few seconds once, on a daemon thread)
        from lifelog.api.models import prepare_question_vocabulary

        prepare_question_vocabulary()
        for c in self.components:
            try:
                c.start()
            except Exception as e:
                log.error("service: %s did not start: %s", c.name, e)
                self.failed[c.name] = str(e)
                continue
            self.started.append(c)
            log.info("service: %s started (%s)", c.name, c.status())

    def stop(self) -> None:
        self._stop.set()
        while self.started:
            c = self.started.pop()
            try:
                c.stop()
            except Exception:
                log.exception("service: %s did not stop cleanly", c.name)
            else:
                log.info("service: %s stopped", c.name)

    def status_line(self) -> str:
        parts = [f"{c.name}: {c.status()}" for c in self.started]
        parts += [f"{name}: not running ({why})" for name, why in self.failed.items()]
        return "; ".join(parts)

    def request_stop(self) -> None:
        self._stop.set()

    def run_until_stopped(self, *, status_every_s: float = 600.0,
                          on_status: Callable[[str], None] | None = None) -> None:
        """Block (main thread) until SIGTERM, SIGINT or :meth:`request_stop`; then stop."""
        handlers: dict[signal.Signals, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                handlers[sig] = signal.signal(sig, lambda *_: self._stop.set())
        try:
            while not self._stop.wait(status_every_s):
                if on_status is not None:
                    on_status(self.status_line())
        finally:
            for sig, h in handlers.items():
                with contextlib.suppress(Exception):
                    signal.signal(sig, h)
            self.stop()


class ApiComponent:
    """The local HTTP API (docs/api.md) on loopback: grant tokens only (``lifelog grants``)."""

    name = "api"

    def __init__(self, memory: Any, port: int | None = None) -> None:
        self.memory, self.port = memory, port
        self.server: Any = None

    def start(self) -> None:
        from lifelog.serve.http import DEFAULT_PORT, ApiServer

        self.server = ApiServer(self.memory, "127.0.0.1", DEFAULT_PORT if self.port is None else self.port)
        self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def status(self) -> str:
        return "stopped" if self.server is None else f"serving http://127.0.0.1:{self.server.port}/v1/"


class McpComponent:
    """The MCP server over streamable HTTP (docs/mcp.md) on loopback: grant tokens only."""

    name = "mcp"
    DEFAULT_PORT = 8766

    def __init__(self, memory: Any, port: int | None = None) -> None:
        self.memory, self.port = memory, port
        self.server: Any = None

    def start(self) -> None:
        from lifelog.serve.mcp import McpHttpServer

        self.server = McpHttpServer(self.memory, port=self.DEFAULT_PORT if self.port is None else self.port)
        self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def status(self) -> str:
        return "stopped" if self.server is None else f"serving {self.server.url}"


def default_components(
    data_dir: Path,
    memory: Any,
    *,
    receiver: bool = True,
    port: int | None = None,
    host: str = "0.0.0.0",
    advertise: bool = True,
    usb: bool = True,
    on_event: Callable[[Any], None] | None = None,
    on_sync: Callable[[Any], None] | None = None,
    api: bool = False,
    api_port: int | None = None,
    mcp: bool = False,
    mcp_port: int | None = None,
) -> list[Component]:
    comps: list[Component] = [SchedulerComponent(data_dir)]
    if receiver:
        comps.append(ReceiverComponent(memory, host, port, advertise=advertise, on_event=on_event))
    if usb:
        comps.append(UsbWatchComponent(memory, on_result=on_sync))
    if api:
        comps.append(ApiComponent(memory, api_port))
    if mcp:
        comps.append(McpComponent(memory, mcp_port))
    return comps
