// After the build: THIRD_PARTY_LICENSES.txt beside it, with the license of every package the
// bundle holds (the production dependencies, from package-lock.json), so they ship with it.
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(dirname(fileURLToPath(import.meta.url)));
const lock = JSON.parse(readFileSync(join(here, "package-lock.json"), "utf8"));
const out = join(here, "..", "src", "pykatib", "ui", "static", "THIRD_PARTY_LICENSES.txt");

const sections = [];
for (const [path, info] of Object.entries(lock.packages)) {
  if (!path || info.dev) continue;
  const folder = join(here, path);
  const name = path.replace(/^.*node_modules\//, "");
  const file = existsSync(folder) ? readdirSync(folder).find((f) => /^(licen[cs]e|copying)/i.test(f)) : undefined;
  const text = file ? readFileSync(join(folder, file), "utf8").trim() : `(no license file; package.json says ${info.license})`;
  sections.push(`${name} ${info.version} (${info.license})\n${"-".repeat(60)}\n${text}\n`);
}
sections.sort();
writeFileSync(out, `The pykatib web UI bundles these packages (npm), under these licenses.\n\n${sections.join("\n")}`);
console.log(`${sections.length} licenses written to ${out}`);
