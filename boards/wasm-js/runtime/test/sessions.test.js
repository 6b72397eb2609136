// The session suite (tests/sessions/) through this runtime: the workbench
// boots the wasm-js board with bin/serve.js, so every command of every
// session travels the runtime's byte stream, and every answer must equal
// the hosted board's but for the board's own fields.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { boardFields, root, run, withoutFields } from "./support.js";

const dir = path.join(root, "tests/sessions");
const scripts = readdirSync(dir)
  .filter((f) => f.endsWith(".tms"))
  .filter((f) => !readFileSync(path.join(dir, f), "utf8").split("\n").some((l) => l.trim() === "# hosted-only"))
  .sort()
  .map((f) => path.join("tests/sessions", f));

async function answers(board) {
  const r = await run(["run", "--board", board, "--json", ...scripts]);
  assert.equal(r.code, 0, `the sessions failed on ${board}:\n${r.stderr}`);
  return r.stdout
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
}

test("the session suite passes on wasm-js and answers as hosted does", { timeout: 600_000 }, async () => {
  assert.ok(scripts.length >= 5, "expected the session suite");
  const [js, hosted] = await Promise.all([answers("wasm-js"), answers("hosted")]);
  assert.equal(js.length, hosted.length, "the boards ran different commands");
  const fields = boardFields();
  for (let i = 0; i < js.length; i++) {
    assert.deepEqual(
      withoutFields(js[i], fields),
      withoutFields(hosted[i], fields),
      `\`${hosted[i].command}\` (${hosted[i].script} line ${hosted[i].line}) answered differently`,
    );
  }
});
