// The kernel's worker: boots the kernel module and drives its turns from
// the event loop. Messages in: {type: "boot", module}, {type: "input",
// bytes}. Messages out: {type: "ready", bootMs, memoryBytes}, {type:
// "output", bytes}, {type: "error", message} (the kernel is gone).

import { Kernel } from "./kernel.js";
import { parentPort } from "./host.js";

/** Longest run of turns before the worker yields to its message queue. */
const SLICE_MS = 8;
/** Longest wait when idle: a ceiling on how late anything time-based runs when no process sleeps. */
const IDLE_MS = 100;

const port = await parentPort();
let kernel = null;
let pending = false;
let timer = null;

// A macrotask that is not clamped the way nested setTimeout(0) is in
// browsers: messages on a channel of our own.
const tick = new MessageChannel();
tick.port1.onmessage = () => {
  pending = false;
  pump();
};
// Node: a channel with a listener keeps the worker alive; the parent ends
// the worker, so that is what we want.

function soon() {
  if (timer !== null) {
    clearTimeout(timer);
    timer = null;
  }
  if (!pending) {
    pending = true;
    tick.port2.postMessage(0);
  }
}

/** Posts what the kernel sent; whether it sent anything. */
function flush() {
  const out = kernel.take();
  if (!out) return false;
  port.post({ type: "output", bytes: out }, [out.buffer]);
  return true;
}

/** The kernel is gone: its last words (a panic's dump, as monitor bytes) go out first, then why, once. */
function fail(e) {
  const words = kernel?.takeLastWords();
  if (words) port.post({ type: "output", bytes: words }, [words.buffer]);
  kernel = null;
  port.post({ type: "error", message: e.message });
}

function pump() {
  if (!kernel) return;
  try {
    const until = performance.now() + SLICE_MS;
    let busy;
    do {
      // A turn that sent something may have more queued (events go out a
      // bounded slice per turn): run again at once.
      busy = kernel.run();
      busy = flush() || busy;
    } while (busy && performance.now() < until);
    if (busy) return soon();
    const next = kernel.nextMs();
    const wait = next < 0 ? IDLE_MS : Math.min(next, IDLE_MS);
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      pump();
    }, wait);
  } catch (e) {
    fail(e);
  }
}

port.onMessage(async (msg) => {
  switch (msg.type) {
    case "boot": {
      try {
        const t0 = performance.now();
        kernel = await Kernel.boot(msg.module);
        port.post({ type: "ready", bootMs: performance.now() - t0, memoryBytes: kernel.memoryBytes });
        soon();
      } catch (e) {
        port.post({ type: "error", message: e.message });
      }
      break;
    }
    case "input":
      if (kernel) {
        try {
          kernel.feed(msg.bytes);
          soon();
        } catch (e) {
          fail(e);
        }
      }
      break;
  }
});
