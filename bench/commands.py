#!/usr/bin/env python3
"""Commands in through NATS JetStream or Kafka (BENCHMARKS.md, "Commands in"): starts the
server binary (BIN, default target/release/clinicstream) on a fresh Postgres database with
the bus's command consumer on, creates PRACTICES practices with a patient each, then

  1. closed loop: COMMANDS commands one after another, each sent when the previous reply
     came: publish -> reply latency (p50, p99);
  2. backlog: COMMANDS more commands published at once, round-robin over the practices:
     commands/s applied (first publish -> last reply).

Prints one JSON line. NATS needs nats-py (pinned: pip install nats-py==2.16.0). Kafka
(`--bus kafka`) needs kafka-python (pip install kafka-python==3.0.12) and starts a tansu of
its own (TANSU, default target/tools/bin/tansu; SQLite storage in a temp dir, free port);
the Kafka bridge is on too (the commands share its brokers), publishing every event.

  python3 bench/commands.py [--bus nats|kafka] [--practices 10] [--commands 1000]
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


def summary(args, fixtures, loop, backlog, elapsed):
    return {
        "bus": args.bus,
        "practices": len(fixtures),
        "commands": args.commands,
        "closed_loop_p50_ms": round(statistics.median(loop) * 1000, 2),
        "closed_loop_p99_ms": round(pct(loop, 0.99) * 1000, 2),
        "backlog_commands_per_s": round(args.commands / elapsed, 1),
        "backlog_p99_ms": round(pct(backlog, 0.99) * 1000, 1),
    }


async def bench_nats(args, prefix, fixtures):
    import nats

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
    return summary(args, fixtures, loop, latencies, elapsed)


def bench_kafka(args, bootstrap, topics, fixtures):
    """The same two phases on Kafka: records keyed by practice, replies read by a consumer
    thread from the earliest offset of the reply topic (created by the server at start)."""
    import threading

    from kafka import KafkaConsumer, KafkaProducer

    waiting, latencies, lock, done = {}, [], threading.Lock(), threading.Event()
    stop = threading.Event()
    consumer = KafkaConsumer(topics["replies"], bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             group_id=None, fetch_max_wait_ms=10, consumer_timeout_ms=100)

    def read():
        while not stop.is_set():
            for record in consumer:
                event = json.loads(record.value)
                with lock:
                    sent = waiting.pop(event["subject"], None)
                    if sent is not None:
                        latencies.append(time.perf_counter() - sent)
                        if not waiting:
                            done.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)

    def send(cid, i):
        practice, patient = fixtures[i % len(fixtures)]
        with lock:
            waiting[cid] = time.perf_counter()
        return producer.send(topics["commands"], key=practice.encode(), value=command(cid, patient, 100 + i),
                             headers=[("content-type", b"application/cloudevents+json")])

    # The first consumer-group join on tansu takes 20-25 s: one command first, not timed.
    send("warm-up", 0).get(timeout=30)
    assert done.wait(120), "no reply to the first command within 120 s"
    latencies.clear()
    for i in range(args.commands):
        done.clear()
        send(f"loop-{i}", i).get(timeout=30)
        assert done.wait(30), "no reply within 30 s"
    loop = latencies[:]
    latencies.clear()
    done.clear()
    started = time.perf_counter()
    for i in range(args.commands):
        send(f"backlog-{i}", i)
    producer.flush()
    assert done.wait(600), "the backlog was not answered within 600 s"
    elapsed = time.perf_counter() - started
    stop.set()
    reader.join()
    consumer.close()
    producer.close()
    return summary(args, fixtures, loop, latencies, elapsed)


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bus", choices=["nats", "kafka"], default="nats")
    parser.add_argument("--practices", type=int, default=10)
    parser.add_argument("--commands", type=int, default=1000)
    args = parser.parse_args()
    binary = os.environ.get("BIN", "target/release/clinicstream")
    port = int(os.environ.get("PORT", "18093"))
    database = f"bench_commands_{uuid.uuid4().hex[:8]}"
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"CREATE DATABASE {database}"], check=True)
    prefix = f"cmdbench{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{database}", ADMIN_KEY=ADMIN,
               LISTEN_ADDR=f"127.0.0.1:{port}", RATE_LIMIT_PER_SEC="100000", RATE_LIMIT_BURST="100000",
               RUST_LOG="warn")
    tansu, workdir = None, None
    if args.bus == "nats":
        env.update(BRIDGE_NATS_URL="nats://127.0.0.1:4222", COMMANDS_NATS_SUBJECT=f"{prefix}.commands.>",
                   COMMANDS_NATS_STREAM=prefix.upper(), COMMANDS_NATS_API_KEY=ADMIN,
                   COMMANDS_REPLY_SUBJECT=f"{prefix}.replies", COMMANDS_NATS_DEAD_LETTER=f"{prefix}.dead")
    else:
        import tempfile

        workdir = tempfile.TemporaryDirectory()
        kport = free_port()
        bootstrap = f"127.0.0.1:{kport}"
        binary_tansu = os.path.realpath(os.environ.get("TANSU", "target/tools/bin/tansu"))
        tansu = subprocess.Popen([binary_tansu, "broker", "--listener-url", f"tcp://{bootstrap}",
                                  "--advertised-listener-url", f"tcp://{bootstrap}", "--storage-engine",
                                  "sqlite://tansu.db"], cwd=workdir.name, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        topics = {"commands": f"{prefix}.commands", "replies": f"{prefix}.replies"}
        env.update(BRIDGE_KAFKA_BROKERS=bootstrap, BRIDGE_KAFKA_TOPIC=f"{prefix}.events",
                   COMMANDS_KAFKA_TOPIC=topics["commands"], COMMANDS_KAFKA_GROUP=f"{prefix}-group",
                   COMMANDS_KAFKA_API_KEY=ADMIN, COMMANDS_REPLY_TOPIC=topics["replies"],
                   COMMANDS_KAFKA_DEAD_LETTER=f"{prefix}.dead")
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
        if args.bus == "nats":
            result = asyncio.run(bench_nats(args, prefix, fixtures))
        else:
            result = bench_kafka(args, bootstrap, topics, fixtures)
        result["binary"] = binary
        print(json.dumps(result))
    finally:
        server.kill()
        server.wait()
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"DROP DATABASE {database}"], check=False)
        if tansu is not None:
            tansu.kill()
            tansu.wait()
            workdir.cleanup()
            return
        async def drop():
            import nats

            nc = await nats.connect("nats://127.0.0.1:4222")
            try:
                await nc.jetstream().delete_stream(prefix.upper())
            except Exception:
                pass
            await nc.close()
        asyncio.run(drop())


if __name__ == "__main__":
    main()
