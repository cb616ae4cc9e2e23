"""Relays TCP from LISTEN_HOST:LISTEN_PORT to 127.0.0.1:TARGET_PORT, for each pair given.

    tcp_relay.py LISTEN_HOST LISTEN_PORT:TARGET_PORT [LISTEN_PORT:TARGET_PORT ...]

The Swarm test's tasks reach the test command's loopback PostgreSQL and moto through it,
listening on the Docker gateway bridge's address (on this machine only).
"""

import asyncio
import sys


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


def handler(target: int):
    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    return relay


async def main() -> None:
    host = sys.argv[1]
    servers = []
    for pair in sys.argv[2:]:
        listen, target = (int(p) for p in pair.split(":"))
        servers.append(await asyncio.start_server(handler(target), host, listen))
    print("relaying", flush=True)
    await asyncio.gather(*(server.serve_forever() for server in servers))


if __name__ == "__main__":
    asyncio.run(main())
