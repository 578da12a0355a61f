/*
 * bench: what the micro-benchmarks in perf/ share: a clock, CPU pinning,
 * starting threads together, and the one-line report format:
 *
 *   bench=spsc impl=sluice batch=16 producers=1 consumers=1 items=50000000 secs=0.412 mitems_per_s=121.36 ns_per_item=8.24
 *
 * Benchmarks print figures; nothing here asserts a speed.
 */
#ifndef SLUICE_BENCH_H
#define SLUICE_BENCH_H

#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

static inline double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Pins the calling thread to cpu modulo the online CPU count. */
static inline void bench_pin(int cpu)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu % (n > 0 ? (int)n : 1), &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/* Every thread calls this once; all return together when `parties` arrived. */
static inline void bench_gate(_Atomic int *gate, int parties)
{
	atomic_fetch_add(gate, 1);
	while (atomic_load(gate) < parties)
		;
}

static inline void bench_report(const char *bench, const char *impl, const char *params,
				uint64_t items, double secs)
{
	printf("bench=%s impl=%s %s items=%llu secs=%.3f mitems_per_s=%.2f ns_per_item=%.2f\n",
	       bench, impl, params, (unsigned long long)items, secs, (double)items / secs / 1e6,
	       secs * 1e9 / (double)items);
	fflush(stdout);
}

/* Item count: argv[1] if given, else the default. */
static inline uint64_t bench_items(int argc, char **argv, uint64_t dflt)
{
	return argc > 1 ? strtoull(argv[1], NULL, 10) : dflt;
}

/* utime + stime of a process, in seconds; -1 when it cannot be read. */
static inline double bench_proc_cpu(pid_t pid)
{
	char path[64], buf[1024];
	unsigned long long ut, st;
	const char *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* the command name may hold spaces and parentheses: fields start after the last ')' */
	p = strrchr(buf, ')');
	if (!p ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Resident set of a process (VmRSS of /proc/PID/status), in KiB; -1 when it
 * cannot be read. */
static inline long bench_proc_rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

#endif
