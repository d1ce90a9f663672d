// The supergraph of the federation tests (tests/api/federation.rs): starts the notes
// subgraph, composes it with clinicstream (CLINICSTREAM_URL, which must serve
// FEDERATION=true) using @graphql-mesh/compose-cli, and serves the result with Hive
// Gateway on a free port. Its first stdout line is JSON: {"gateway", "notes"} (the
// gateway's /readiness answers soon after).
import { execFile } from 'node:child_process';
import { Logger, run } from '@graphql-hive/gateway';
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
// In the directory the test gives (and removes), or a temporary one of our own.
const dir = process.env.SUPERGRAPH_DIR || mkdtempSync(join(tmpdir(), "clinicstream-supergraph-"));
const supergraph = join(dir, 'supergraph.graphql');
const env = { ...process.env, NOTES_URL: notes.url, SUPERGRAPH: supergraph };

try {
  await promisify(execFile)(bin('mesh-compose'), ['-c', 'mesh.config.mjs', '-o', supergraph], { cwd: here, env });
} catch (e) {
  console.error(`composition failed: ${e.stderr || e.message}`);
  process.exit(1);
}

// The gateway runs in this process (its CLI entry, argv and all), so it dies with it: the
// test kills this process when it is done. Its logs follow the first line on stdout.
const port = await freePort();
const url = `http://127.0.0.1:${port}/graphql`;
process.stdout.write(`${JSON.stringify({ gateway: url, notes: notes.url })}\n`);
process.env.SUPERGRAPH = supergraph;
if (!process.env.SUPERGRAPH_DIR) process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
process.argv = [process.argv[0], 'hive-gateway', 'supergraph', supergraph,
  '--config-path', join(here, 'gateway.config.mjs'), '--host', '127.0.0.1', '--port', String(port)];
await run({ log: new Logger() });
