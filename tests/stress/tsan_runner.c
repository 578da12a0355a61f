/*
 * tsan_runner: the Criterion side of the ThreadSanitizer stress run (see
 * stress.h). For each standalone TSan stress program it asserts that the
 * program ran its tests to the end, passed, and that ThreadSanitizer printed
 * no report. Built without TSan itself; only the programs it runs are
 * instrumented.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "tsan_programs.h" /* generated: SLUICE_TSAN_DIR, SLUICE_TSAN_PROGRAMS */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#ifndef SLUICE_TSAN_DIR
#error "SLUICE_TSAN_DIR must name the folder of the TSan stress programs"
#endif

/* by value: Criterion runs each test in a fresh process image, where a
 * pointer into this one would not point at the same string */
struct program {
	char name[64];
};

static struct program programs[] = {SLUICE_TSAN_PROGRAMS};

ParameterizedTestParameters(tsan, stress)
{
	return cr_make_param_array(struct program, programs,
				   sizeof(programs) / sizeof(programs[0]));
}

ParameterizedTest(struct program *p, tsan, stress, .timeout = 1800)
{
	const char *const *prog = &(const char *){p->name};

	char cmd[1024], line[512];
	int passed = -1, failed = -1, reports = 0;

	snprintf(cmd, sizeof(cmd),
		 "TSAN_OPTIONS='halt_on_error=1 exitcode=66 second_deadlock_stack=1' %s/%s 2>&1",
		 SLUICE_TSAN_DIR, *prog);
	FILE *out = popen(cmd, "r");
	cr_assert_not_null(out, "cannot run %s", *prog);
	while (fgets(line, sizeof(line), out)) {
		fputs(line, stderr); /* ctest --output-on-failure shows it */
		if (strstr(line, "WARNING: ThreadSanitizer") || strstr(line, "ERROR: ThreadSanitizer"))
			reports++;
		sscanf(line, "%d passed, %d failed", &passed, &failed);
	}
	int status = pclose(out);
	cr_assert_eq(reports, 0, "%s: ThreadSanitizer reported %d problem(s)", *prog, reports);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s exited with status %d", *prog,
		  status);
	cr_assert_gt(passed, 0, "%s ran no test", *prog);
	cr_assert_eq(failed, 0, "%s: %d failed", *prog, failed);
}
