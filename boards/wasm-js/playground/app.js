// The playground page: the application over the JS runtime (seed 000's
// layering: the runtime knows no commands; this page knows no kernel
// semantics). It boots the kernel in a worker, relays the monitor bytes
// between the kernel and the shell on the server (one WebSocket), and
// edits REPL lines in an xterm.js terminal.

import { Runtime } from "/runtime/index.js";

const PROMPT = "tms> ";
const status = document.getElementById("status");
const term = new Terminal({ convertEol: true, cols: 110, rows: 30, fontSize: 14 });
term.open(document.getElementById("terminal"));

// What the terminal showed, as text: what tests read back.
let transcript = "";
function show(text) {
  transcript += text;
  term.write(text);
}

const figures = { kernelBytes: 0, bootMs: 0, firstPromptMs: 0 };
let ws = null;
let line = "";
let busy = true;
const history = [];
let back = 0;
let pending = null;

function prompt() {
  busy = false;
  show(PROMPT);
}

/** Sends a REPL line; resolves with its output once the shell answered. */
function submit(text) {
  show("\n");
  busy = true;
  if (text.trim()) history.push(text);
  back = 0;
  return new Promise((resolve) => {
    pending = resolve;
    ws.send(text);
  });
}

function onShell(msg) {
  switch (msg.type) {
    case "ready":
      figures.firstPromptMs = performance.now();
      status.textContent = `kernel booted in ${figures.bootMs.toFixed(1)} ms (${(figures.kernelBytes / 1048576).toFixed(2)} MiB of wasm); shell attached`;
      show("Tidemark: the kernel is running in this page. Try `help`, `ps`, `pkg ls`.\n");
      prompt();
      readyResolve(figures);
      break;
    case "output": {
      if (msg.text) show(msg.text.endsWith("\n") ? msg.text : msg.text + "\n");
      const done = pending;
      pending = null;
      prompt();
      done?.({ text: msg.text, ok: msg.ok });
      break;
    }
    case "error":
      status.textContent = msg.text;
      status.className = "error";
      show(`\n${msg.text}\n`);
      break;
  }
}

function replace(text) {
  show("\b \b".repeat(line.length));
  line = text;
  show(line);
}

term.on("data", (data) => {
  if (busy) return;
  if (data === "\r") {
    const text = line;
    line = "";
    submit(text);
  } else if (data === "\x7f" || data === "\b") {
    if (line.length > 0) {
      line = line.slice(0, -1);
      show("\b \b");
    }
  } else if (data === "\x1b[A") {
    if (back < history.length) replace(history[history.length - ++back]);
  } else if (data === "\x1b[B") {
    if (back > 0) replace(--back === 0 ? "" : history[history.length - back]);
  } else if (data === "\x03") {
    show("^C\n");
    line = "";
    prompt();
  } else if (!data.startsWith("\x1b")) {
    const printable = data.replace(/[\x00-\x1f]/g, "");
    line += printable;
    show(printable);
  }
});

let readyResolve;
const ready = new Promise((r) => (readyResolve = r));

/** Types `text` and Enter as a user would; resolves with the output. */
async function type(text) {
  await ready;
  while (busy) await new Promise((r) => setTimeout(r, 10));
  line = text;
  show(text);
  line = "";
  return submit(text);
}

// For tests and the curious: window.playground.
window.playground = { ready, figures, type, transcript: () => transcript };

const guests = await (await fetch("/guests.json")).json();
const picker = document.getElementById("guest");
for (const g of guests) picker.add(new Option(g, g));
document.getElementById("spawn").onclick = () => {
  if (busy) return;
  replace(`spawn ${picker.value} `);
  term.focus();
};
document.getElementById("demo").onclick = async () => {
  for (const l of [
    "chan new req",
    "chan new resp",
    "spawn counter --cap req=req:r --cap resp=resp:w",
    'chan send req "add 41"',
    "chan send req inc",
    "chan send req get",
    "chan tail resp --count 3 --for 5s",
    "ps",
  ]) {
    await type(l);
  }
};

try {
  const bytes = await (await fetch("/kernel.wasm")).arrayBuffer();
  figures.kernelBytes = bytes.byteLength;
  const rt = await Runtime.create(bytes);
  figures.bootMs = rt.bootMs;
  rt.onExit((e) => {
    status.textContent = `the kernel stopped: ${e.message}`;
    status.className = "error";
  });
  status.textContent = "kernel booted; attaching the shell…";
  ws = new WebSocket(`ws://${location.host}/ws`);
  ws.binaryType = "arraybuffer";
  ws.onmessage = (e) => {
    if (typeof e.data === "string") onShell(JSON.parse(e.data));
    else rt.write(new Uint8Array(e.data));
  };
  ws.onclose = () => {
    status.textContent = "the shell went away (reload the page)";
    status.className = "error";
    // A line in flight gets no answer now: settle it, so nobody waits forever.
    const done = pending;
    pending = null;
    done?.({ text: "error: the shell went away", ok: false });
  };
  rt.onData((b) => ws.readyState === WebSocket.OPEN && ws.send(b));
  term.focus();
} catch (e) {
  status.textContent = `the kernel did not boot: ${e.message}`;
  status.className = "error";
}
