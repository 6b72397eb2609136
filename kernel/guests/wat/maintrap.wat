;; Starts fine (no start function) but its entry point traps at once, as a
;; Rust guest whose setup in `tidemark_main` panics would: reloaded over a
;; running process, it is rolled back and the old module serves again.
(module
  (func (export "tidemark_main")
    unreachable))
