;; Its start function traps: it can never replace a running process.
(module
  (func $start unreachable)
  (start $start)
  (func (export "tidemark_main")))
