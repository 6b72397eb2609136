;; Imports a hostcall that does not exist: refused at link time.
(module
  (import "tidemark" "format_disk" (func (result i32)))
  (func (export "tidemark_main")))
