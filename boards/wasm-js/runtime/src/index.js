// Tidemark's JS runtime: runs the kernel's WebAssembly bytes (the wasm-js
// board's image) in a worker, drives its turns from the worker's event
// loop, and exposes the monitor protocol as a byte stream. It knows no
// package names, commands or UI: an application (the playground page, the
// Node bridge in bin/) speaks the monitor protocol over it.

import { startWorker } from "./host.js";

export { Kernel } from "./kernel.js";

export class Runtime {
  /**
   * Boots `kernelBytes` in a worker; resolves once the kernel has booted.
   * @param {BufferSource | WebAssembly.Module} kernelBytes
   */
  static async create(kernelBytes) {
    const module =
      kernelBytes instanceof WebAssembly.Module ? kernelBytes : await WebAssembly.compile(kernelBytes);
    const port = await startWorker(new URL("./worker.js", import.meta.url));
    const rt = new Runtime(port);
    const ready = new Promise((resolve, reject) => {
      rt.#booting = { resolve, reject };
    });
    port.post({ type: "boot", module });
    try {
      await ready;
    } catch (e) {
      // A kernel that did not boot leaves no worker behind.
      await port.terminate();
      throw e;
    }
    return rt;
  }

  #port;
  #booting = null;
  #data = new Set();
  #exit = new Set();
  #error = null;
  #terminated = false;
  /** Milliseconds the kernel took to boot, in its worker. */
  bootMs = 0;
  /** Bytes of linear memory the kernel module has. */
  memoryBytes = 0;

  constructor(port) {
    this.#port = port;
    port.onMessage((msg) => this.#message(msg));
    port.onError((e) => this.#fail(e.message));
  }

  #message(msg) {
    switch (msg.type) {
      case "ready":
        this.bootMs = msg.bootMs;
        this.memoryBytes = msg.memoryBytes;
        this.#booting?.resolve();
        this.#booting = null;
        break;
      case "output":
        for (const fn of this.#data) fn(msg.bytes);
        break;
      case "error":
        this.#fail(msg.message);
        break;
    }
  }

  #fail(message) {
    // Node reports a terminated worker as one that exited with code 1.
    if (this.#error || this.#terminated) return;
    this.#error = new Error(message);
    this.#booting?.reject(this.#error);
    this.#booting = null;
    for (const fn of this.#exit) fn(this.#error);
  }

  /** Sends monitor bytes to the kernel. */
  write(bytes) {
    if (this.#error) throw this.#error;
    const copy = Uint8Array.from(bytes);
    this.#port.post({ type: "input", bytes: copy }, [copy.buffer]);
  }

  /** Calls `fn(bytes)` with each chunk of monitor bytes the kernel sends; returns an unsubscribe function. */
  onData(fn) {
    this.#data.add(fn);
    return () => this.#data.delete(fn);
  }

  /** Calls `fn(error)` once if the kernel dies (a panic, a trap, a lost worker). */
  onExit(fn) {
    if (this.#error) queueMicrotask(() => fn(this.#error));
    else this.#exit.add(fn);
    return () => this.#exit.delete(fn);
  }

  /** Lets Node exit while the kernel still runs (no effect in browsers). */
  unref() {
    this.#port.unref();
  }

  /** Stops the kernel's worker. */
  async terminate() {
    this.#terminated = true;
    await this.#port.terminate();
  }
}
