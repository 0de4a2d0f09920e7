#!/usr/bin/env python3
"""A TCP proxy for the cluster suite's fault cases: 127.0.0.1:LISTEN -> 127.0.0.1:TARGET.

Between policy-server and the API server, it lets a test make the API server
slow (SIGSTOP: connections are accepted by the kernel, nothing is answered;
SIGCONT resumes) or unreachable (kill it: connections are refused).
"""
import asyncio
import sys


async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def handle(client_reader, client_writer, target):
    try:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target)
    except OSError:
        client_writer.close()
        return
    await asyncio.gather(
        pipe(client_reader, server_writer), pipe(server_reader, client_writer)
    )


async def main(listen, target):
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, target), "127.0.0.1", listen
    )
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
