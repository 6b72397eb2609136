#!/usr/bin/env node
// Serves a wasm-js kernel's monitor on a Unix socket, as QEMU serves its
// UART: `tidemark-wasm-js --socket PATH KERNEL.wasm`. The workbench boots
// the wasm-js board this way (boards/wasm-js/board.toml), so every command,
// session and test that runs against QEMU runs through this runtime too.
// One client at a time, as QEMU's socket serves a UART: a second one waits
// until the first has gone (its bytes unread meanwhile). Bytes the kernel
// sends while no client is attached are dropped, as a serial line drops
// them.

import { readFile } from "node:fs/promises";
import { createServer } from "node:net";
import { Runtime } from "../src/index.js";

function usage(msg) {
  process.stderr.write(`tidemark-wasm-js: ${msg}\nusage: tidemark-wasm-js --socket PATH KERNEL.wasm\n`);
  process.exit(2);
}

const args = process.argv.slice(2);
let socketPath = null;
let kernelPath = null;
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--socket") socketPath = args[++i];
  else if (args[i].startsWith("-")) usage(`unknown option ${args[i]}`);
  else kernelPath = args[i];
}
if (!socketPath || !kernelPath) usage("a socket and a kernel are needed");

let bytes;
try {
  bytes = await readFile(kernelPath);
} catch (e) {
  usage(`cannot read ${kernelPath}: ${e.message}`);
}

const rt = await Runtime.create(bytes).catch((e) => {
  process.stderr.write(`tidemark-wasm-js: ${e.message}\n`);
  process.exit(1);
});
rt.onExit((e) => {
  process.stderr.write(`tidemark-wasm-js: ${e.message}\n`);
  // What the kernel sent last (a panic's dump) reaches the client before
  // the line closes, as a UART's last bytes do.
  if (client && !client.destroyed) {
    client.end(() => process.exit(1));
    setTimeout(() => process.exit(1), 2000).unref();
  } else {
    process.exit(1);
  }
});

/** Bytes held for a client that is not reading, before more are dropped (as a UART drops them). */
const BACKLOG = 1 << 20;

let client = null;
rt.onData((b) => {
  if (client && !client.destroyed && client.writableLength < BACKLOG) client.write(b);
});

const waiting = [];

function take(sock) {
  client = sock;
  sock.on("data", (b) => rt.write(b));
  sock.resume();
}

const server = createServer({ pauseOnConnect: true }, (sock) => {
  sock.on("error", () => {});
  sock.on("close", () => {
    if (client === sock) {
      client = null;
      const next = waiting.shift();
      if (next) take(next);
    } else {
      const i = waiting.indexOf(sock);
      if (i >= 0) waiting.splice(i, 1);
    }
  });
  if (client) waiting.push(sock);
  else take(sock);
});
server.on("error", (e) => {
  process.stderr.write(`tidemark-wasm-js: ${socketPath}: ${e.message}\n`);
  process.exit(1);
});
server.listen(socketPath);
for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"]) {
  process.on(sig, () => {
    server.close();
    process.exit(0);
  });
}
