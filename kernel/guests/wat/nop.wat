;; Calls cap_check 2,000,000 times on its capability `c`, timing the loop
;; with time_now; exits with the elapsed microseconds. Used by benchmarks,
;; which run the same module against a bare host function as the baseline.
(module
  (import "tidemark" "cap_lookup" (func $lookup (param i32 i32) (result i32)))
  (import "tidemark" "cap_check" (func $check (param i32 i32) (result i32)))
  (import "tidemark" "time_now" (func $now (result i64)))
  (import "tidemark" "proc_exit" (func $exit (param i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "c")
  (func (export "tidemark_main")
    (local $h i32) (local $n i32) (local $t0 i64)
    (local.set $h (call $lookup (i32.const 0) (i32.const 1)))
    (local.set $n (i32.const 2000000))
    (local.set $t0 (call $now))
    (loop $l
      (drop (call $check (local.get $h) (i32.const 0)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $l (i32.gt_s (local.get $n) (i32.const 0))))
    (drop (call $exit (i32.wrap_i64 (i64.div_u (i64.sub (call $now) (local.get $t0)) (i64.const 1000))))))
  (@custom "tidemark.manifest" "classes=time"))
