// Validates AsyncAPI documents (JSON or YAML) with @asyncapi/parser, the AsyncAPI
// initiative's own parser and linter: prints one JSON line per document with every
// diagnostic; exits 1 when any is an error or a warning.
//
//   node validate.mjs FILE...
import { readFile } from "node:fs/promises";
import { Parser, DiagnosticSeverity } from "@asyncapi/parser";

const parser = new Parser();
let failed = false;
for (const file of process.argv.slice(2)) {
  const text = await readFile(file, "utf8");
  const diagnostics = await parser.validate(text, { source: file });
  const shown = diagnostics.map((d) => ({
    severity: DiagnosticSeverity[d.severity] ?? d.severity,
    code: d.code,
    message: d.message,
    path: d.path.join("/"),
  }));
  if (shown.some((d) => d.severity === "Error" || d.severity === "Warning")) failed = true;
  console.log(JSON.stringify({ file, diagnostics: shown }));
}
process.exit(failed ? 1 : 0);
