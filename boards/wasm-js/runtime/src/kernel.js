// The kernel module itself, in the thread that runs it: instantiate the
// bytes and call the plain exports the wasm-js board defines
// (boards/wasm-js/kernel/src/main.rs). No glue generator is involved, and
// nothing here knows what the monitor bytes mean.

const decoder = new TextDecoder();

/** What a kernel module exports (boards/wasm-js/kernel/src/main.rs). */
const EXPORTS = [
  "memory",
  "tm_boot",
  "tm_feed_buf",
  "tm_feed",
  "tm_run",
  "tm_next_ms",
  "tm_out_ptr",
  "tm_out_len",
  "tm_out_clear",
];

/**
 * A booted kernel instance. Single-threaded: call it from one thread (the
 * runtime's worker does).
 */
export class Kernel {
  /**
   * Instantiates and boots `bytes` (a `tidemark-wasm-js.wasm`).
   * @param {BufferSource | WebAssembly.Module} bytes
   * @param {{ now?: () => number, onPanic?: (message: string) => void }} [options]
   *   A panic's last words (the monitor bytes it sends before its text: the
   *   kernel's dump as a frame) are kept for `takeLastWords`.
   */
  static async boot(bytes, options = {}) {
    const now = options.now ?? (() => performance.now());
    let panicked = null;
    let lastWords = null;
    let memory = null;
    const imports = {
      env: {
        tm_now_ms: () => now(),
        tm_last_words: (ptr, len) => {
          lastWords = new Uint8Array(memory.buffer, ptr, len).slice();
        },
        tm_panic: (ptr, len) => {
          panicked = decoder.decode(new Uint8Array(memory.buffer, ptr, len));
          options.onPanic?.(panicked);
        },
      },
    };
    const module = bytes instanceof WebAssembly.Module ? bytes : await WebAssembly.compile(bytes);
    const missing = EXPORTS.filter(
      (name) => !WebAssembly.Module.exports(module).some((e) => e.name === name),
    );
    if (missing.length > 0) {
      throw new Error(`not a Tidemark kernel module: it lacks the export${missing.length > 1 ? "s" : ""} ${missing.join(", ")}`);
    }
    const instance = await WebAssembly.instantiate(module, imports);
    memory = instance.exports.memory;
    const k = new Kernel(instance.exports, () => panicked, () => {
      const words = lastWords;
      lastWords = null;
      return words;
    });
    let booted;
    try {
      booted = k.#x.tm_boot();
    } catch (e) {
      throw new Error(`the kernel did not boot: ${panicked ?? `trap: ${e.message}`}`, { cause: e });
    }
    if (booted !== 0) {
      throw new Error(`the kernel did not boot: ${panicked ?? "no reason given"}`);
    }
    return k;
  }

  #x;
  #panicked;
  #lastWords;

  constructor(exports, panicked, lastWords) {
    this.#x = exports;
    this.#panicked = panicked;
    this.#lastWords = lastWords;
  }

  /**
   * The monitor bytes a kernel panic sent as it died (the rest of a frame
   * under way, then the kernel's dump as a frame), once; null when none.
   * A host hands them to its client as it would any output.
   */
  takeLastWords() {
    return this.#lastWords();
  }

  /** Monitor bytes from the host, in. A kernel that traps here throws, as `run` does. */
  feed(bytes) {
    if (bytes.length === 0) return;
    try {
      const ptr = this.#x.tm_feed_buf(bytes.length);
      new Uint8Array(this.#x.memory.buffer, ptr, bytes.length).set(bytes);
      this.#x.tm_feed(bytes.length);
    } catch (e) {
      const why = this.#panicked();
      throw new Error(why ? why : `kernel trap: ${e.message}`, { cause: e });
    }
  }

  /**
   * One turn: answer the monitor and give every runnable process a slice.
   * Returns true when the kernel has more to do at once. A kernel panic or
   * trap throws, with the panic's text when there was one.
   */
  run() {
    try {
      return this.#x.tm_run() !== 0;
    } catch (e) {
      const why = this.#panicked();
      throw new Error(why ? why : `kernel trap: ${e.message}`, { cause: e });
    }
  }

  /** Milliseconds until a sleeping process wakes; -1 when only input wakes the kernel. */
  nextMs() {
    return this.#x.tm_next_ms();
  }

  /** The monitor bytes the kernel sent since the last call (a copy). */
  take() {
    const len = this.#x.tm_out_len();
    if (len === 0) return null;
    const out = new Uint8Array(this.#x.memory.buffer, this.#x.tm_out_ptr(), len).slice();
    this.#x.tm_out_clear();
    return out;
  }

  /** Bytes of linear memory the kernel module has. */
  get memoryBytes() {
    return this.#x.memory.buffer.byteLength;
  }
}
