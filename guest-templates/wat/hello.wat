;; A minimal guest: logs a line every second.
(module
  (import "tidemark" "log" (func $log (param i32 i32 i32) (result i32)))
  (import "tidemark" "sleep" (func $sleep (param i64) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "hello from wat")
  (func (export "tidemark_main")
    (loop $forever
      (drop (call $log (i32.const 3) (i32.const 0) (i32.const 14)))
      (drop (call $sleep (i64.const 1000000000)))
      (br $forever)))
  (@custom "tidemark.manifest" "classes=log,time"))
