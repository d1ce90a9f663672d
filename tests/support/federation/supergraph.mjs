// The supergraph of the federation tests (tests/api/federation.rs): starts the notes
// subgraph, composes it with clinicstream (CLINICSTREAM_URL, which must serve
// FEDERATION=true) using @graphql-mesh/compose-cli, and serves the result with the
// Hive Gateway CLI on a free port. Its first stdout line is JSON: {"gateway", "notes"}.
// It stops its gateway when stdin closes (the test dropped it) or on SIGTERM.
import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startNotes } from './notes.mjs';

const here = new URL('.', import.meta.url).pathname;
const bin = (name) => join(here, 'node_modules', '.bin', name);

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

const notes = await startNotes();
const dir = mkdtempSync(join(tmpdir(), 'clinicstream-supergraph-'));
const supergraph = join(dir, 'supergraph.graphql');
const env = { ...process.env, NOTES_URL: notes.url, SUPERGRAPH: supergraph };

try {
  await promisify(execFile)(bin('mesh-compose'), ['-c', 'mesh.config.mjs', '-o', supergraph], { cwd: here, env });
} catch (e) {
  console.error(`composition failed: ${e.stderr || e.message}`);
  process.exit(1);
}

const port = await freePort();
const gateway = spawn(
  bin('hive-gateway'),
  ['supergraph', supergraph, '--config-path', 'gateway.config.mjs', '--host', '127.0.0.1', '--port', String(port)],
  { cwd: here, env, stdio: ['ignore', 2, 2] },
);
const stop = () => {
  gateway.kill('SIGTERM');
  notes.server.close();
  rmSync(dir, { recursive: true, force: true });
};
gateway.on('exit', (code) => {
  console.error(`hive-gateway exited (${code})`);
  notes.server.close();
  process.exit(code ?? 1);
});
process.stdin.on('end', () => { stop(); process.exit(0); });
process.stdin.resume();
process.on('SIGTERM', () => { stop(); process.exit(0); });

const url = `http://127.0.0.1:${port}/graphql`;
for (let i = 0; i < 600; i++) {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/readiness`);
    if (response.ok) break;
  } catch { /* not listening yet */ }
  await new Promise((r) => setTimeout(r, 100));
}
process.stdout.write(`${JSON.stringify({ gateway: url, notes: notes.url })}\n`);
