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

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nok\n"


class Target(asyncio.Protocol):
    def __init__(self) -> None:
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
            asyncio.get_running_loop().call_later(delay, self.answer)
        else:
            self.answer()

    def answer(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(RESPONSE)
            self.transport.close()


async def main(host: str, ports: range) -> None:
    loop = asyncio.get_running_loop()
    servers = [
        await loop.create_server(Target, host, p, backlog=4096, reuse_address=True) for p in ports
    ]
    print(f"listening on {host}:{ports.start}-{ports.stop - 1}", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


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
