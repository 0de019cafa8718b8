#!/usr/bin/env node
'use strict';
// `lumen` (npx lumen, npm run lumen): the compiled command line in dist/, which `node tools/setup.mjs` builds.
const fs = require('node:fs');
const path = require('node:path');

const entry = path.join(__dirname, '..', 'dist', 'cli', 'lumen.js');
if (!fs.existsSync(entry)) {
  console.error('lumen: not compiled yet: run `npm run setup` first (it builds dist/)');
  process.exit(4);
}
require(entry)
  .main()
  .then((code) => process.exit(code));
