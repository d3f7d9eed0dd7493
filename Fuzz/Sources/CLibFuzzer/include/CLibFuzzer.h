// libFuzzer's driver entry point (compiler-rt, `FuzzerInterface.h`). SwiftPM links every executable with its own
// `main` (an alias of `<module>_main`), so libFuzzer's `main` is never used: each target's main.swift calls this.
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*UserCb)(const uint8_t *Data, size_t Size));
