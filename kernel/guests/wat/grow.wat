;; Grows its memory one page at a time until the kernel's limit stops it.
(module
  (memory (export "memory") 1)
  (func (export "tidemark_main")
    (loop $l
      (drop (memory.grow (i32.const 1)))
      (br $l))))
