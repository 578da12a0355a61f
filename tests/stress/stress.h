/*
 * stress.h: what every stress test includes instead of <criterion/criterion.h>.
 *
 * In the normal and ASan builds it is Criterion. In the ThreadSanitizer build
 * Criterion cannot run inside the instrumented process (its sandbox arena
 * fails under TSan: Snaipe/Criterion#274), so each stress test is compiled
 * into a standalone TSan program with the small shim below, and the Criterion
 * program tests/stress/tsan_runner.c runs those programs and asserts that
 * they passed and that TSan reported nothing. The tests are written once.
 *
 * The shim knows the few assertions the stress tests use; a failed one prints
 * where and exits 1, as a Criterion assertion ends its test.
 */
#ifndef SLUICE_STRESS_H
#define SLUICE_STRESS_H

#ifndef SLUICE_STRESS_STANDALONE
#include <criterion/criterion.h>
#else
#include <stdio.h>
#include <stdlib.h>

typedef void stress_fn(void);
void stress_shim_register(const char *suite, const char *name, stress_fn *fn);
_Noreturn void stress_shim_fail(const char *file, int line, const char *what);

#define Test(suite, name, ...)                                                                \
	static void suite##__##name(void);                                                   \
	__attribute__((constructor)) static void suite##__##name##__register(void)           \
	{                                                                                     \
		stress_shim_register(#suite, #name, suite##__##name);                         \
	}                                                                                     \
	static void suite##__##name(void)

#define cr_assert(cond, ...) ((cond) ? (void)0 : stress_shim_fail(__FILE__, __LINE__, #cond))
#define cr_assert_eq(a, b, ...)  cr_assert((a) == (b))
#define cr_assert_neq(a, b, ...) cr_assert((a) != (b))
#define cr_assert_gt(a, b, ...)  cr_assert((a) > (b))
#define cr_assert_geq(a, b, ...) cr_assert((a) >= (b))
#define cr_assert_leq(a, b, ...) cr_assert((a) <= (b))
#define cr_assert_null(p, ...)   cr_assert((p) == NULL)
#endif

#endif
