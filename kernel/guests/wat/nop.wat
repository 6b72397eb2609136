;; Calls cap_check in a loop N times (N from the first argument byte
;; string as a little-endian u32). Used by benchmarks.
(module
  (import "tidemark" "cap_check" (func $check (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "run") (param $h i32) (param $n i32)
    (loop $l
      (drop (call $check (local.get $h) (i32.const 0)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $l (i32.gt_s (local.get $n) (i32.const 0)))))
  (func (export "tidemark_main")))
