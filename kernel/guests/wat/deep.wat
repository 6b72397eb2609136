;; Recurses without end: the engine's stack limit traps it (a stack overflow).
(module
  (func $down (param i32) (result i32)
    (call $down (i32.add (local.get 0) (i32.const 1))))
  (func (export "tidemark_main")
    (drop (call $down (i32.const 0)))))
