// Generates src/protocol.ts from the server's JSON Schema (docs/protocol.schema.json,
// itself generated from the Rust protocol types). With --check it only compares, and
// fails when the checked-in file is stale, so the types cannot drift from the server.
import { compile } from 'json-schema-to-typescript';
import { readFile, writeFile } from 'node:fs/promises';

const here = new URL('..', import.meta.url);
const schemaFile = new URL('../../docs/protocol.schema.json', here);
const typesFile = new URL('src/protocol.ts', here);

const schema = JSON.parse(await readFile(schemaFile, 'utf8'));
const banner = [
  '/* eslint-disable */',
  '/**',
  ' * The wire contract of Flock, generated from docs/protocol.schema.json by',
  ' * `npm run types`: do not edit by hand.',
  ' */',
].join('\n');
const generated = await compile(schema, 'FlockMessage', {
  bannerComment: banner,
  additionalProperties: false,
  unreachableDefinitions: true,
  style: { singleQuote: true, printWidth: 100 },
});

if (process.argv.includes('--check')) {
  const current = await readFile(typesFile, 'utf8').catch(() => '');
  if (current !== generated) {
    console.error('src/protocol.ts is stale: run `npm run types` in clients/typescript');
    process.exit(1);
  }
  console.log('src/protocol.ts matches docs/protocol.schema.json');
} else {
  await writeFile(typesFile, generated);
  console.log('wrote src/protocol.ts');
}
