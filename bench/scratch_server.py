# A clinicstream server of its own for the long-polling benchmarks: started on PORT over a
# fresh SQLite file with an ADMIN key and the rate limit lifted, and removed afterwards.
import json, os, subprocess, time, urllib.request

KEY = "bench_admin_key_0123456789"


class ScratchServer:
    def __init__(self, binary, port):
        self.port = port
        self.db = f"/tmp/clinicstream-bench-{port}-{os.getpid()}.sqlite"
        env = dict(os.environ, ADMIN_KEY=KEY, LISTEN_ADDR=f"127.0.0.1:{port}", DATABASE_URL=f"sqlite://{self.db}?mode=rwc",
                   RATE_LIMIT_PER_SEC="1000000", RATE_LIMIT_BURST="1000000", RUST_LOG="error")
        self.process = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.pid = self.process.pid
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz")
                break
            except Exception:
                time.sleep(0.2)

    def call(self, query, variables):
        """Runs one operation with the ADMIN key and returns its data."""
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/graphql",
                                         json.dumps({"query": query, "variables": variables}).encode(),
                                         {"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"})
        body = json.load(urllib.request.urlopen(request))
        assert not body.get("errors"), body
        return body["data"]

    def practice(self):
        """A new practice: its id and its last cursor."""
        p = self.call('mutation { createPractice(input: {name: "Bench", timezone: "UTC", currency: "USD"}) { id lastCursor } }', {})
        return p["createPractice"]["id"], p["createPractice"]["lastCursor"]

    def stop(self):
        self.process.terminate()
        self.process.wait()
        for suffix in ("", "-wal", "-shm"):
            try:
                os.remove(self.db + suffix)
            except FileNotFoundError:
                pass
