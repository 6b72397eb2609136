;; Computes forever, reading the clock on every turn: the reads are local
;; hostcalls the kernel counts, so its counters show that it makes progress.
;; Used to show that busy guests share the workers fairly.
(module
  (import "tidemark" "time_now" (func $now (result i64)))
  (func (export "tidemark_main")
    (loop $l
      (drop (call $now))
      (br $l)))
  (@custom "tidemark.manifest" "classes=time"))
