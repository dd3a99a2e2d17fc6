// Parse each AsyncAPI document given on the command line with the official parser and print
// one JSON line per document: its path and the diagnostics of severity error (0) or warning (1).
import { readFileSync } from "node:fs";
import { Parser } from "@asyncapi/parser";

const parser = new Parser();
let failed = false;
for (const path of process.argv.slice(2)) {
  const { document, diagnostics } = await parser.parse(readFileSync(path, "utf8"), { source: path });
  const errors = diagnostics.filter((d) => d.severity === 0);
  const warnings = diagnostics.filter((d) => d.severity === 1);
  failed ||= errors.length > 0 || !document;
  console.log(JSON.stringify({
    path, parsed: Boolean(document),
    errors: errors.map((d) => ({ code: d.code, message: d.message, path: d.path.join("/") })),
    warnings: warnings.map((d) => ({ code: d.code, message: d.message, path: d.path.join("/") })),
  }));
}
process.exit(failed ? 1 : 0);
