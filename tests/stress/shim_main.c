/*
 * shim_main: the main() of a standalone stress program (ThreadSanitizer
 * build, see stress.h). Runs every registered test in order and ends with
 * "N passed, N failed"; exits non-zero when a test fails.
 */
#ifndef SLUICE_STRESS_STANDALONE
#define SLUICE_STRESS_STANDALONE
#endif
#include "stress.h"

#include <time.h>

#define MAX_TESTS 32

static struct {
	const char *suite, *name;
	stress_fn *fn;
} tests[MAX_TESTS];
static int ntests, passed;

void stress_shim_register(const char *suite, const char *name, stress_fn *fn)
{
	if (ntests == MAX_TESTS) {
		fprintf(stderr, "stress_shim: more than %d tests\n", MAX_TESTS);
		exit(2);
	}
	tests[ntests].suite = suite;
	tests[ntests].name = name;
	tests[ntests].fn = fn;
	ntests++;
}

_Noreturn void stress_shim_fail(const char *file, int line, const char *what)
{
	printf("[FAIL] %s:%d: %s\n%d passed, 1 failed\n", file, line, what, passed);
	fflush(stdout);
	exit(1);
}

int main(void)
{
	for (int i = 0; i < ntests; i++) {
		struct timespec a, b;
		clock_gettime(CLOCK_MONOTONIC, &a);
		tests[i].fn();
		clock_gettime(CLOCK_MONOTONIC, &b);
		printf("[PASS] %s::%s (%.2fs)\n", tests[i].suite, tests[i].name,
		       (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) * 1e-9);
		fflush(stdout);
		passed++;
	}
	printf("%d passed, 0 failed\n", passed);
	return ntests ? 0 : 1;
}
