/*
 * fuzz.h: what the libFuzzer targets share: the entry point's prototype and
 * CHECK, an assertion that stays on in every build and stops the fuzzer at
 * the first broken invariant (libFuzzer keeps the input as a crash artifact).
 */
#ifndef SLUICE_FUZZ_H
#define SLUICE_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

#endif
