/*
 * fuzz_api.h - the entry point shared by the libFuzzer harness
 * (fuzz_api.c) and the replay program that runs its corpus in make check
 * (replay.c).
 *
 * Copyright (c) 2026 The smarm authors.  MIT licence, see COPYING.
 */
#ifndef SMARM_FUZZ_API_H
#define SMARM_FUZZ_API_H

#include <stddef.h>
#include <stdint.h>

/* Runs one input as a program over the public API in a fresh runtime;
 * abort()s when an invariant breaks.  Always returns 0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif /* SMARM_FUZZ_API_H */
