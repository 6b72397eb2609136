/** A booted kernel instance, driven from the thread that created it. */
export declare class Kernel {
  private constructor();
  static boot(
    bytes: BufferSource | WebAssembly.Module,
    options?: { now?: () => number; onPanic?: (message: string) => void },
  ): Promise<Kernel>;
  /** Monitor bytes from the host, in. Throws if the kernel panicked or trapped. */
  feed(bytes: Uint8Array): void;
  /** One turn; true when the kernel has more to do at once. Throws if the kernel panicked or trapped. */
  run(): boolean;
  /** Milliseconds until a sleeping process wakes; -1 when only input wakes the kernel. */
  nextMs(): number;
  /** The monitor bytes the kernel sent since the last call, or null. */
  take(): Uint8Array | null;
  /** The monitor bytes a kernel panic sent as it died (its dump as a frame), once; null when none. */
  takeLastWords(): Uint8Array | null;
  /** Bytes of linear memory the kernel module has. */
  readonly memoryBytes: number;
}

/** The kernel in a worker, its monitor protocol as a byte stream. */
export declare class Runtime {
  private constructor();
  /** Boots the kernel's bytes in a worker; resolves once it has booted. */
  static create(kernelBytes: BufferSource | WebAssembly.Module): Promise<Runtime>;
  /** Milliseconds the kernel took to boot, in its worker. */
  readonly bootMs: number;
  /** Bytes of linear memory the kernel module has. */
  readonly memoryBytes: number;
  /** Sends monitor bytes to the kernel. Throws once the kernel is gone. */
  write(bytes: Uint8Array): void;
  /** Each chunk of monitor bytes the kernel sends; returns an unsubscribe function. */
  onData(fn: (bytes: Uint8Array) => void): () => void;
  /** Called once if the kernel dies; returns an unsubscribe function. */
  onExit(fn: (error: Error) => void): () => void;
  /** Lets Node exit while the kernel still runs (no effect in browsers). */
  unref(): void;
  /** Stops the kernel's worker (`onExit` is not called for it). */
  terminate(): Promise<void>;
}
