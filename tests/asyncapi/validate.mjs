// Validates an AsyncAPI document with the official parser; exits non-zero with the
// diagnostics when it is not valid.
import { readFileSync } from 'node:fs';
import { Parser } from '@asyncapi/parser';

const file = process.argv[2];
const parser = new Parser();
const { document, diagnostics } = await parser.parse(readFileSync(file, 'utf8'));
const errors = diagnostics.filter((d) => d.severity === 0);
if (!document || errors.length > 0) {
  console.error(JSON.stringify(errors, null, 2));
  process.exit(1);
}
console.log(`valid AsyncAPI ${document.version()}: ${document.messages().length} messages`);
