"""The MLLP listener: asyncio serves the connections, a pool of threads (each with its own
database connection) processes the messages, and a message's ACK is written only after
`processing.process` has committed it.

Limits (settings): the largest frame (`HL7_MAX_FRAME_BYTES`: a larger one is answered AR
and the connection closed), the connections served at once (`HL7_MAX_CONNECTIONS`: one
more is answered AR and closed), the idle time (`HL7_IDLE_TIMEOUT`: a silent connection,
or one stuck mid-frame, is closed). A client that disconnects mid-frame, or sends
garbage, costs its own connection at most. SIGTERM stops accepting, lets each connection
finish the message in hand (its commit and its ACK), then closes.

Several processes (`HL7_PROCESSES`) share the port with SO_REUSEPORT, each a listener as
above, so that many connections use every core (a message's work is Python-bound: the
threads of one process take turns). A supervisor starts them, passes SIGTERM on and
waits for each to finish; one that dies is started again. A message is processed once
whichever process receives it (processing.py: the claim by MSH-10).
"""

import asyncio
import logging
import os
import signal
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.conf import settings
from django.db import close_old_connections, connections
from hl7.mllp import InvalidBlockError, start_hl7_server

from . import acks, processing

log = logging.getLogger(__name__)


@dataclass
class Limits:
    max_frame: int = field(default_factory=lambda: settings.HL7_MAX_FRAME_BYTES)
    max_connections: int = field(default_factory=lambda: settings.HL7_MAX_CONNECTIONS)
    idle_timeout: float = field(default_factory=lambda: float(settings.HL7_IDLE_TIMEOUT))
    workers: int = 8


def _process(frame: bytes) -> processing.Answer:
    close_old_connections()  # a connection the database dropped is replaced, not reused
    try:
        return processing.process(frame)
    except Exception as error:
        # Not the sender's fault (database down...): AR tells it to send again later.
        log.error("HL7 message not processed: %s", type(error).__name__)
        close_old_connections()
        text = "Temporary failure; send the message again."
        return processing.Answer("AR", acks.ack("AR", text=text))


class Listener:
    def __init__(self, host: str, port: int, limits: Limits | None = None,
                 reuse_port: bool = False):  # fmt: skip
        self.host, self.port, self.reuse_port = host, port, reuse_port
        self.limits = limits or Limits()
        self.executor = ThreadPoolExecutor(self.limits.workers, thread_name_prefix="hl7")
        self.connections: set[asyncio.Task] = set()
        self.busy: set[asyncio.Task] = set()
        self.stopping = asyncio.Event()
        self.server = None

    async def serve(self) -> None:
        self.server = await start_hl7_server(
            self._connected, self.host, self.port, limit=self.limits.max_frame, backlog=512,
            reuse_port=self.reuse_port or None,
        )  # fmt: skip
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stopping.set)
        sockets = ", ".join(str(s.getsockname()[:2]) for s in self.server.sockets)
        log.info("HL7 listener on %s", sockets)
        print(f"HL7 listener ready on {sockets}", flush=True)
        await self.stopping.wait()
        await self.stop()

    async def stop(self) -> None:
        log.info("HL7 listener stopping: finishing the messages in hand")
        self.server.close()
        for task in list(self.connections - self.busy):
            task.cancel()  # waiting for a frame: nothing in hand
        if self.connections:
            await asyncio.wait(self.connections, timeout=60)
        self.executor.shutdown(wait=True)
        log.info("HL7 listener stopped")

    async def _connected(self, reader, writer) -> None:
        task = asyncio.current_task()
        if len(self.connections) >= self.limits.max_connections or self.stopping.is_set():
            refusal = "Too many connections; try again later." if not self.stopping.is_set() \
                else "The listener is stopping; try again later."  # fmt: skip
            await self._refuse(writer, refusal)
            return
        self.connections.add(task)
        try:
            await self._serve_connection(reader, writer)
        except asyncio.CancelledError:
            pass
        finally:
            self.connections.discard(task)
            self.busy.discard(task)
            writer.close()

    async def _serve_connection(self, reader, writer) -> None:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        while not self.stopping.is_set():
            try:
                frame = await asyncio.wait_for(reader.readblock(), self.limits.idle_timeout)
            except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                return  # idle, or gone mid-frame: nothing was processed
            except ValueError:
                size = self.limits.max_frame
                await self._refuse(writer, f"Frame larger than {size} bytes; not processed.")
                return
            except InvalidBlockError:
                writer.writeblock(acks.ack("AR", text="Not an MLLP frame (no start block)."))
                await self._drain(writer)
                continue
            self.busy.add(task)
            try:
                # Shielded: SIGTERM lets the message in hand commit and be acknowledged.
                answer = await asyncio.shield(loop.run_in_executor(self.executor, _process, frame))
                if os.environ.get("HL7_DRILL_DIE_BEFORE_ACK") == "1":
                    os._exit(70)  # the drill of a crash between the commit and the ACK
                writer.writeblock(answer.ack)
                if not await self._drain(writer):
                    return
            finally:
                self.busy.discard(task)

    async def _refuse(self, writer, text: str) -> None:
        writer.writeblock(acks.ack("AR", text=text))
        await self._drain(writer)
        writer.close()

    @staticmethod
    async def _drain(writer) -> bool:
        try:
            await asyncio.wait_for(writer.drain(), 30)
            return True
        except (TimeoutError, ConnectionError):
            return False


def run(host: str, port: int, limits: Limits | None = None, processes: int = 1) -> None:
    if processes <= 1:
        asyncio.run(Listener(host, port, limits).serve())
    else:
        Supervisor(host, port, limits, processes).run()


class Supervisor:
    """`processes` listeners on one port; SIGTERM (or SIGINT) to each, then waits."""

    def __init__(self, host: str, port: int, limits: Limits | None, processes: int):
        self.host, self.port, self.limits, self.processes = host, port, limits, processes
        self.children: set[int] = set()
        self.stopping = False

    def run(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._stop)
        for _ in range(self.processes):
            self._start()
        while self.children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            except InterruptedError:
                continue
            self.children.discard(pid)
            if not self.stopping:
                log.error("HL7 listener process %s ended (status %s): started again", pid, status)
                self._start()
        log.info("HL7 listeners stopped")

    def _start(self) -> None:
        connections.close_all()  # a forked child never shares the parent's connection
        pid = os.fork()
        if pid == 0:
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, signal.SIG_DFL)
            code = 0
            try:
                asyncio.run(Listener(self.host, self.port, self.limits, reuse_port=True).serve())
            except BaseException:
                log.exception("HL7 listener process failed")
                code = 1
            finally:
                os._exit(code)
        self.children.add(pid)

    def _stop(self, signum, frame) -> None:
        self.stopping = True
        for pid in list(self.children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                self.children.discard(pid)
