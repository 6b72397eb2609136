// The one place that knows whether we run in Node or a browser: how a
// worker is started and how messages cross between it and its parent.
// Everything else in the runtime is the same code on both.

export const isNode = typeof process !== "undefined" && !!process.versions?.node;

/** Starts `url` (a module script) as a worker; returns a uniform port. */
export async function startWorker(url) {
  if (isNode) {
    const { Worker } = await import("node:worker_threads");
    const w = new Worker(url);
    return {
      post: (msg, transfer) => w.postMessage(msg, transfer),
      onMessage: (fn) => w.on("message", fn),
      onError: (fn) => {
        w.on("error", fn);
        w.on("exit", (code) => code !== 0 && fn(new Error(`the kernel worker exited with code ${code}`)));
      },
      terminate: () => w.terminate(),
      unref: () => w.unref(),
    };
  }
  const w = new Worker(url, { type: "module" });
  return {
    post: (msg, transfer) => w.postMessage(msg, transfer),
    onMessage: (fn) => w.addEventListener("message", (e) => fn(e.data)),
    onError: (fn) => w.addEventListener("error", (e) => fn(new Error(e.message))),
    terminate: () => w.terminate(),
    unref: () => {},
  };
}

/** Inside a worker: the port to the parent. */
export async function parentPort() {
  if (isNode) {
    const { parentPort } = await import("node:worker_threads");
    return {
      post: (msg, transfer) => parentPort.postMessage(msg, transfer),
      onMessage: (fn) => parentPort.on("message", fn),
    };
  }
  return {
    post: (msg, transfer) => self.postMessage(msg, transfer),
    onMessage: (fn) => self.addEventListener("message", (e) => fn(e.data)),
  };
}
