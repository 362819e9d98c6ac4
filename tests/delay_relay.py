"""A TCP relay that holds what one side sends for a while before passing it on: the
latency of a slow link, for the network test on a kernel without ``tc netem``.

    python delay_relay.py LISTEN_HOST:PORT TARGET_HOST:PORT DELAY_FILE up|down

Every connection made to LISTEN is relayed to TARGET. The bytes going one way (``up``:
towards TARGET; ``down``: back from it) are each held for the milliseconds written in
DELAY_FILE (read as they arrive, so a test changes the latency while connections are
open), in order; the other way passes at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from pathlib import Path


def delay_of(path: Path) -> float:
    try:
        return float(path.read_text().strip() or 0) / 1000
    except (OSError, ValueError):
        return 0.0


async def pump(reader, writer, delay_file: Path | None) -> None:
    queue: asyncio.Queue = asyncio.Queue()

    async def send() -> None:
        while True:
            due, data = await queue.get()
            if data is None:
                break
            if (wait := due - time.monotonic()) > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        writer.close()

    sender = asyncio.create_task(send())
    try:
        while data := await reader.read(65536):
            held = delay_of(delay_file) if delay_file else 0.0
            await queue.put((time.monotonic() + held, data))
    except ConnectionError:
        pass
    await queue.put((0.0, None))
    with contextlib.suppress(ConnectionError):
        await sender


async def main(listen: str, target: str, delay_file: Path, direction: str) -> None:
    target_host, target_port = target.rsplit(":", 1)

    async def relay(client_reader, client_writer) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(
                target_host, int(target_port)
            )
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(
            pump(client_reader, server_writer, delay_file if direction == "up" else None),
            pump(server_reader, client_writer, delay_file if direction == "down" else None),
        )

    host, port = listen.rsplit(":", 1)
    server = await asyncio.start_server(relay, host, int(port))
    print(f"relaying {listen} to {target}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], Path(sys.argv[3]), sys.argv[4]))
