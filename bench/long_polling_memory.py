#!/usr/bin/env python3
# Usage: python3 bench/long_polling_memory.py target/debug/clinicstream 1000 poll|sse
# Starts a server on 127.0.0.1:18080 over a temporary SQLite file; three waves of N held requests.
# 1,000 waiting long polls vs 1,000 idle SSE streams on one server: RSS growth of the server.
import asyncio, json, sys
from scratch_server import KEY, ScratchServer
BIN, PORT = sys.argv[1], 18080
N = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
server = ScratchServer(BIN, PORT)
def rss():
    return int([l for l in open(f"/proc/{server.pid}/status") if l.startswith("VmRSS")][0].split()[1])
practice, cursor = server.practice()
async def open_many(request):
    conns = []
    for i in range(N):
        r, w = await asyncio.open_connection("127.0.0.1", PORT)
        w.write(request); await w.drain(); conns.append((r, w))
    return conns
async def main():
    poll = (f"GET /practices/{practice}/events?after={cursor}&wait=60 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n\r\n").encode()
    body = json.dumps({"query": "subscription($p: ID!, $a: String) { events(practiceId: $p, after: $a) { seq } }", "variables": {"p": practice, "a": cursor}})
    sse = (f"POST /graphql/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\nAccept: text/event-stream\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}").encode()
    which = {"poll": ("long polls", poll), "sse": ("SSE streams", sse)}[sys.argv[3]]
    for name, request in [which, which, which]:
        await asyncio.sleep(2); before = rss()
        conns = await open_many(request)
        await asyncio.sleep(3); held = rss()
        print(f"{N} waiting {name}: server RSS {before} -> {held} KiB, +{(held-before)*1024/N:.0f} bytes each", flush=True)
        for r, w in conns: w.close()
        await asyncio.sleep(1)
try:
    asyncio.run(main())
finally:
    server.stop()
