#!/usr/bin/env python3
# Usage: python3 bench/long_polling_latency.py target/release/clinicstream [rounds]
# Starts a server on 127.0.0.1:18081 over a temporary SQLite file. Each round holds a long
# poll (wait=30) after the current cursor, posts one payment, and measures from the
# mutation's answer to the poll's answer (the bound: within 100 ms of the event).
import json, os, statistics, subprocess, sys, threading, time, urllib.request
BIN, PORT, KEY = sys.argv[1], 18081, "bench_admin_key_0123456789"
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 50
db = f"/tmp/clinicstream-lplat-{os.getpid()}.sqlite"
env = dict(os.environ, ADMIN_KEY=KEY, LISTEN_ADDR=f"127.0.0.1:{PORT}", DATABASE_URL=f"sqlite://{db}?mode=rwc",
           RATE_LIMIT_PER_SEC="1000000", RATE_LIMIT_BURST="1000000", RUST_LOG="error")
server = subprocess.Popen([BIN, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
def call(q, v):
    r = urllib.request.Request(f"http://127.0.0.1:{PORT}/graphql", json.dumps({"query": q, "variables": v}).encode(),
        {"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"})
    body = json.load(urllib.request.urlopen(r))
    assert not body.get("errors"), body
    return body["data"]
try:
    for _ in range(100):
        try: urllib.request.urlopen(f"http://127.0.0.1:{PORT}/healthz"); break
        except Exception: time.sleep(0.2)
    p = call('mutation { createPractice(input: {name: "Bench", timezone: "UTC", currency: "USD"}) { id lastCursor } }', {})["createPractice"]
    practice, cursor = p["id"], p["lastCursor"]
    patient = call('mutation($p: ID!) { createPatient(input: {practiceId: $p, firstName: "L", lastName: "P"}) { id } }', {"p": practice})["createPatient"]["id"]
    cursor = call('query($p: ID!) { practice(id: $p) { lastCursor } }', {"p": practice})["practice"]["lastCursor"]
    gaps = []
    for _ in range(ROUNDS):
        answered = {}
        def poll():
            url = f"http://127.0.0.1:{PORT}/practices/{practice}/events?after={cursor}&wait=30"
            body = json.load(urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": f"Bearer {KEY}"})))
            answered["at"], answered["body"] = time.monotonic(), body
        t = threading.Thread(target=poll); t.start()
        time.sleep(0.2)  # the poll is waiting
        call('mutation($i: PostPaymentInput!) { postPayment(input: $i) { id } }',
             {"i": {"patientId": patient, "amountCents": 100, "method": "CARD"}})
        committed = time.monotonic()
        t.join()
        assert answered["body"]["events"], answered["body"]
        cursor = answered["body"]["next"]
        gaps.append((answered["at"] - committed) * 1000)
    gaps.sort()
    print(f"{ROUNDS} polls: answer after the mutation's answer, ms: p50 {statistics.median(gaps):.1f}, "
          f"p90 {gaps[int(len(gaps) * 0.9) - 1]:.1f}, max {gaps[-1]:.1f} (negative: the poll answered first)")
finally:
    server.terminate(); server.wait()
    for suffix in ("", "-wal", "-shm"):
        try: os.remove(db + suffix)
        except FileNotFoundError: pass
