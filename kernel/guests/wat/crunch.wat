;; Compute-bound and short: 4,000,000 iterations of compute.wat's integer
;; hash with no hostcall, then exits with the hash. Small enough to time on
;; every board (the wasm-js bench compares interpreters: wasmi on
;; qemu-riscv32, wasmi compiled to wasm in Node and in Chromium).
(module
  (import "tidemark" "proc_exit" (func $exit (param i32) (result i32)))
  (func (export "tidemark_main")
    (local $n i32) (local $h i32)
    (local.set $n (i32.const 4000000))
    (local.set $h (i32.const 2166136261))
    (loop $l
      (local.set $h (i32.mul (i32.xor (local.get $h) (local.get $n)) (i32.const 16777619)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $l (i32.gt_s (local.get $n) (i32.const 0))))
    (drop (call $exit (i32.and (local.get $h) (i32.const 0x7fffffff))))))
