;; Sleeps forever, an hour at a time: an idle process, parked in the kernel.
;; Used to count what an idle guest (one page of linear memory) costs the
;; hosted kernel.
(module
  (import "tidemark" "sleep" (func $sleep (param i64) (result i32)))
  (memory (export "memory") 1)
  (func (export "tidemark_main")
    (loop $l
      (drop (call $sleep (i64.const 3600000000000)))
      (br $l)))
  (@custom "tidemark.manifest" "classes=time"))
