#!/usr/bin/env python3
# Usage: python3 bench/long_polling_latency.py target/release/clinicstream [rounds]
# Starts a server on 127.0.0.1:18081 over a temporary SQLite file. Each round holds a long
# poll (wait=30) after the current cursor, posts one payment, and measures from the
# mutation's answer to the poll's answer (the bound: within 100 ms of the event).
import json, statistics, sys, threading, time, urllib.request
from scratch_server import KEY, ScratchServer
BIN, PORT = sys.argv[1], 18081
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 50
server = ScratchServer(BIN, PORT)
call = server.call
try:
    practice, _ = server.practice()
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
    server.stop()
