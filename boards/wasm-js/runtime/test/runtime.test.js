// The runtime itself: the kernel's bytes boot in a worker, the monitor is a
// byte stream, and bad input is refused with a reason.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Runtime, Kernel } from "../src/index.js";
import { kernelBytes } from "./support.js";

test("the kernel boots in a worker and reports its boot time and memory", async () => {
  const rt = await Runtime.create(kernelBytes());
  try {
    assert.ok(rt.bootMs > 0, `boot took ${rt.bootMs} ms`);
    // The board's [memory] ram: the heap is in the module's .bss.
    assert.ok(rt.memoryBytes >= 48 << 20, `${rt.memoryBytes} bytes of memory`);
    console.log(`boot to ready in a Node worker: ${rt.bootMs.toFixed(1)} ms; kernel memory ${rt.memoryBytes >> 20} MiB`);
  } finally {
    await rt.terminate();
  }
});

test("garbage on the monitor is answered, not fatal", async () => {
  const rt = await Runtime.create(kernelBytes());
  try {
    let exited = null;
    rt.onExit((e) => (exited = e));
    const replies = [];
    rt.onData((b) => replies.push(b));
    // Bytes that are no frame, then frames' delimiters around noise.
    rt.write(new TextEncoder().encode("hello kernel, this is not a frame"));
    rt.write(Uint8Array.from([0, 0x54, 0x4d, 0x07, 0xff, 0xfe, 0, 1, 2, 3, 0]));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(exited, null, "the kernel died");
    assert.ok(replies.length > 0, "no error reply to malformed frames");
    // Still alive: it keeps answering.
    const before = replies.length;
    rt.write(Uint8Array.from([0, 9, 9, 9, 0]));
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(replies.length > before, "no reply after the garbage");
  } finally {
    await rt.terminate();
  }
});

test("a module that is not a kernel is refused, naming what it lacks", async () => {
  // (module (memory (export "memory") 1))
  const notKernel = Uint8Array.from([
    0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 5, 3, 1, 0, 1, 7, 10, 1, 6, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 2, 0,
  ]);
  await assert.rejects(Kernel.boot(notKernel), /not a Tidemark kernel module: it lacks the exports tm_boot/);
  await assert.rejects(Runtime.create(notKernel), /not a Tidemark kernel module/);
  await assert.rejects(Runtime.create(Uint8Array.from([1, 2, 3])), /WebAssembly|magic/i);
});

test("the kernel steps on the caller's thread too, with the host's clock", async () => {
  let now = 0;
  const k = await Kernel.boot(kernelBytes(), { now: () => now });
  // Nothing runnable and no sleeper: only input wakes it.
  while (k.run()) now += 1;
  assert.equal(k.nextMs(), -1);
  k.feed(Uint8Array.from([0, 1, 2, 0]));
  k.run();
  assert.ok(k.take()?.length > 0, "a malformed frame got no reply");
  assert.equal(k.take(), null, "output is taken once");
});
