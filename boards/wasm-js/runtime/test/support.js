// What the tests share: the tidemark binary, the kernel image it builds,
// and running it.

import { execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../..");

/** The workbench binary: $TIDEMARK_BIN (cargo's test harness sets it), else `tidemark` on PATH. */
export const tidemark = process.env.TIDEMARK_BIN ?? "tidemark";

let image = null;
/** The wasm-js kernel image (with the example guests), built by `tidemark image wasm-js`. */
export function kernelPath() {
  if (!image) {
    const out = execFileSync(tidemark, ["image", "wasm-js", "--json"], { encoding: "utf8" });
    image = JSON.parse(out).path;
  }
  return image;
}

export function kernelBytes() {
  return readFileSync(kernelPath());
}

/** Runs `tidemark args…`; resolves with its exit code, stdout and stderr. */
export function run(args, options = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(tidemark, args, { cwd: root, ...options });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b) => (stdout += b));
    child.stderr.on("data", (b) => (stderr += b));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** The fields boards are compared without (tests/sessions/board-fields.txt). */
export function boardFields() {
  return readFileSync(path.join(root, "tests/sessions/board-fields.txt"), "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
}

export function withoutFields(v, fields) {
  if (Array.isArray(v)) return v.map((x) => withoutFields(x, fields));
  if (v && typeof v === "object") {
    return Object.fromEntries(
      Object.entries(v)
        .filter(([k]) => !fields.includes(k))
        .map(([k, x]) => [k, withoutFields(x, fields)]),
    );
  }
  return v;
}
