#!/usr/bin/env python3
"""Commands in through NATS JetStream (BENCHMARKS.md, "Commands in"): starts the server
binary (BIN, default target/release/clinicstream) on a fresh Postgres database with the
NATS command consumer on, creates PRACTICES practices with a patient each, then

  1. closed loop: COMMANDS commands one after another, each sent when the previous reply
     came: publish -> reply latency (p50, p99);
  2. backlog: COMMANDS more commands published at once, round-robin over the practices:
     commands/s applied (first publish -> last reply).

Prints one JSON line. Needs nats-py (pinned: pip install nats-py==2.16.0).

  python3 bench/commands.py [--practices 10] [--commands 1000]
"""

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import time
import urllib.request
import uuid

import nats

ADMIN = "bench-admin-key-0123456789abcdef"
PAY = "mutation($p: ID!, $a: Int!) { postPayment(input: {patientId: $p, amountCents: $a, method: CARD}) { id } }"


def gql(port, query, variables):
    body = json.dumps({"query": query, "variables": variables}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {ADMIN}"},
    )
    answer = json.load(urllib.request.urlopen(request))
    assert "errors" not in answer, answer
    return answer["data"]


def fixture(port):
    practice = gql(port, 'mutation($n: String!) { createPractice(input: {name: $n, timezone: "UTC", currency: "USD"}) { id } }',
                   {"n": f"Bench {uuid.uuid4().hex}"})["createPractice"]["id"]
    patient = gql(port, 'mutation($p: ID!) { createPatient(input: {practiceId: $p, firstName: "Bench", lastName: "Patient"}) { id } }',
                  {"p": practice})["createPatient"]["id"]
    return practice, patient


def command(cid, patient, cents):
    return json.dumps({"specversion": "1.0", "id": cid, "source": "/bench", "type": "clinicstream.command",
                       "data": {"query": PAY, "variables": {"p": patient, "a": cents}}}).encode()


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


async def bench(args, port, prefix, fixtures):
    nc = await nats.connect("nats://127.0.0.1:4222")
    js = nc.jetstream()
    waiting = {}
    done = asyncio.Event()

    async def on_reply(msg):
        event = json.loads(msg.data)
        sent = waiting.pop(event["subject"], None)
        if sent is not None:
            latencies.append(time.perf_counter() - sent)
            if not waiting:
                done.set()

    latencies = []
    await nc.subscribe(f"{prefix}.replies", cb=on_reply)
    # Closed loop.
    for i in range(args.commands):
        practice, patient = fixtures[i % len(fixtures)]
        cid = f"loop-{i}"
        done.clear()
        waiting[cid] = time.perf_counter()
        await js.publish(f"{prefix}.commands.{practice}", command(cid, patient, 100 + i))
        await asyncio.wait_for(done.wait(), 30)
    loop = latencies[:]
    latencies.clear()
    # Backlog.
    done.clear()
    started = time.perf_counter()
    for i in range(args.commands):
        practice, patient = fixtures[i % len(fixtures)]
        cid = f"backlog-{i}"
        waiting[cid] = time.perf_counter()
        await js.publish(f"{prefix}.commands.{practice}", command(cid, patient, 100 + i))
    await asyncio.wait_for(done.wait(), 600)
    elapsed = time.perf_counter() - started
    await nc.close()
    return {
        "practices": len(fixtures),
        "commands": args.commands,
        "closed_loop_p50_ms": round(statistics.median(loop) * 1000, 2),
        "closed_loop_p99_ms": round(pct(loop, 0.99) * 1000, 2),
        "backlog_commands_per_s": round(args.commands / elapsed, 1),
        "backlog_p99_ms": round(pct(latencies, 0.99) * 1000, 1),
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--practices", type=int, default=10)
    parser.add_argument("--commands", type=int, default=1000)
    args = parser.parse_args()
    binary = os.environ.get("BIN", "target/release/clinicstream")
    port = int(os.environ.get("PORT", "18093"))
    database = f"bench_commands_{uuid.uuid4().hex[:8]}"
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"CREATE DATABASE {database}"], check=True)
    prefix = f"cmdbench{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{database}", ADMIN_KEY=ADMIN,
               LISTEN_ADDR=f"127.0.0.1:{port}", BRIDGE_NATS_URL="nats://127.0.0.1:4222",
               COMMANDS_NATS_SUBJECT=f"{prefix}.commands.>", COMMANDS_NATS_STREAM=prefix.upper(),
               COMMANDS_NATS_API_KEY=ADMIN, COMMANDS_REPLY_SUBJECT=f"{prefix}.replies",
               COMMANDS_NATS_DEAD_LETTER=f"{prefix}.dead", RATE_LIMIT_PER_SEC="100000", RATE_LIMIT_BURST="100000",
               RUST_LOG="warn")
    server = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz").status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)  # timing: the server's start, polled
        fixtures = [fixture(port) for _ in range(args.practices)]
        result = asyncio.run(bench(args, port, prefix, fixtures))
        result["binary"] = binary
        print(json.dumps(result))
    finally:
        server.kill()
        server.wait()
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"DROP DATABASE {database}"], check=False)
        async def drop():
            nc = await nats.connect("nats://127.0.0.1:4222")
            try:
                await nc.jetstream().delete_stream(prefix.upper())
            except Exception:
                pass
            await nc.close()
        asyncio.run(drop())


if __name__ == "__main__":
    main()
