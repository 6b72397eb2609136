;; Loops forever without a hostcall: only preemption can stop it.
(module
  (func (export "tidemark_main")
    (loop $l (br $l))))
