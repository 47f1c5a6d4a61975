"""A fast HTTP target for the checker benchmarks (run it on the other core).

A bare asyncio protocol (uvloop when installed): answers every request with a
tiny 200 and closes the connection, so the checker pays a fresh connection per
check, as in production. ``/delay/{ms}`` answers after exactly that long, for
the timing-accuracy measurement. Listens on several ports so the client's
ephemeral ports spread over many (address, port) pairs.

    taskset -c 1 python bench/target.py --ports 20000-20015
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nok\n"


class Target(asyncio.Protocol):
    def __init__(self, late: list[float]) -> None:
        # How late each /delay answer left, in seconds: the target's own share of
        # the error the benchmark sees (its event loop serves every check).
        self.late = late
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if b"\r\n\r\n" not in self.buffer:
            return
        line = self.buffer.split(b"\r\n", 1)[0]
        path = line.split(b" ")[1] if line.count(b" ") >= 2 else b"/"
        if path.startswith(b"/delay/"):
            delay = int(path[7:]) / 1000
            due = time.monotonic() + delay
            asyncio.get_running_loop().call_later(delay, self.answer, due)
        else:
            self.answer()

    def answer(self, due: float | None = None) -> None:
        if due is not None:
            self.late.append(time.monotonic() - due)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(RESPONSE)
            self.transport.close()


async def main(host: str, ports: range) -> None:
    loop = asyncio.get_running_loop()
    late: list[float] = []
    servers = [
        await loop.create_server(lambda: Target(late), host, p, backlog=4096, reuse_address=True)
        for p in ports
    ]
    print(f"listening on {host}:{ports.start}-{ports.stop - 1}", flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    for server in servers:
        server.close()
    if late:
        late.sort()
        p99 = late[min(int(0.99 * len(late)), len(late) - 1)]
        print(
            f"target /delay answers late: p50 {1000 * late[len(late) // 2]:.1f} ms"
            f"  p99 {1000 * p99:.1f} ms  max {1000 * late[-1]:.1f} ms over {len(late)}",
            flush=True,
        )
    sys.exit(0)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--ports", default="20000-20015")
    args = parser.parse_args()
    lo, hi = (int(x) for x in args.ports.split("-"))
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main(args.host, range(lo, hi + 1)))
