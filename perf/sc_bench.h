/*
 * sc_bench: what sluice-bench's driver (sluice-bench.c) and its scenarios
 * (sc_bench_pubsub.c, sc_bench_rpc.c) share: the options, the run, the
 * scenario interface, the payload marks and the report fields.
 *
 * A run, as the driver steps it; a scenario supplies the hooks on the right:
 *
 *   CONNECT  every connection upgraded and handshaken      (timeout)
 *      |
 *   PREPARE  e.g. subscribe, wait for every reply           prepare, prepared (timeout)
 *      |     t_run: the measurement starts
 *   RUN      producers pump as fast as flow control lets    pump, on_packet; ends after
 *      |     them (b->phase == SCB_RUN is their licence)    --duration or when run_done
 *   DRAIN    barrier: what was sent is all accounted for    drain, drained (timeout)
 *      |     t_end: the measurement stops
 *   DONE     report                                         report
 *
 * Rates are over [t_run, t_end], so the barrier's wait counts: every message
 * counted was processed by the server, not merely handed to a socket. During
 * RUN, no progress for --timeout seconds fails the run too.
 *
 * Threads: one. The driver and the scenario share struct scb and its loop.
 *
 * Adding a scenario (connection storm, slow consumer, a NATS target...):
 * write its hooks in a file of its own, add its options to struct scb_opts
 * and to parse_opts in sluice-bench.c, and list it in its scenarios[].
 */
#ifndef SLUICE_PERF_SC_BENCH_H
#define SLUICE_PERF_SC_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sc_bench_conn.h"

/* The sequence mark: 16 hex digits at the start of every payload, plus 8
 * at its end (a tag of sequence and stream) when the payload has room. */
#define SCB_SEQ_LEN 16
#define SCB_TAG_LEN 8

struct scb_opts {
	const char *scenario;
	const char *label; /* the target's name in the report */
	const char *channel;
	struct scb_target target;
	size_t size;	     /* payload bytes (the JSON string's contents) */
	double duration;     /* seconds of RUN, unless count */
	uint64_t count;	     /* messages or requests of RUN; 0: use duration */
	double timeout;	     /* CONNECT, PREPARE, DRAIN, and a stalled RUN */
	unsigned publishers; /* ingest */
	unsigned subscribers; /* fanout */
	unsigned window;      /* fanout */
	unsigned conns;	      /* rpc */
	unsigned inflight;    /* rpc, per connection */
	pid_t server_pid;     /* 0: no server CPU figure */
	bool json;
};

enum scb_phase { SCB_CONNECT, SCB_PREPARE, SCB_RUN, SCB_DRAIN, SCB_DONE };

struct scb_scenario;

struct scb {
	const struct scb_opts *o;
	const struct scb_scenario *sc;
	struct scb_loop loop;
	struct scb_conn *conns;
	unsigned nconns;
	unsigned nopen; /* connections that finished the handshake */
	enum scb_phase phase;
	double t_phase; /* when the current phase began */
	double t_run, t_end;
	uint8_t *payload; /* o->size bytes of filler, valid JSON string contents */
	void *state;	  /* the scenario's */
};

/* A report under construction: one line of key=value, or one JSON object. */
struct scb_out {
	bool json;
	size_t len;
	char buf[2048];
};

void scb_out_str(struct scb_out *out, const char *key, const char *val);
void scb_out_u64(struct scb_out *out, const char *key, uint64_t val);
/* prec digits after the point */
void scb_out_f(struct scb_out *out, const char *key, double val, int prec);

struct scb_scenario {
	const char *name;
	const char *help; /* lines for --help, each "  " indented */
	/* connections of the run, for the options */
	unsigned (*nconns)(const struct scb_opts *o);
	/* checks the options, allocates b->state, sets each connection's role
	 * and user (before they connect). Returns 0, or -1 with a message on
	 * stderr. */
	int (*init)(struct scb *b);
	void (*deinit)(struct scb *b);
	/* PREPARE: both may be NULL (ready at once) */
	int (*prepare)(struct scb *b);
	bool (*prepared)(const struct scb *b);
	/* RUN: see struct scb_ops */
	int (*pump)(struct scb *b, struct scb_conn *c);
	int (*on_packet)(struct scb *b, struct scb_conn *c, const uint8_t *buf,
			 const struct packet *p);
	/* with --count: RUN is over (everything sent) */
	bool (*run_done)(const struct scb *b);
	/* DRAIN: drain may be NULL; drained is called each turn */
	int (*drain)(struct scb *b);
	bool (*drained)(const struct scb *b);
	/* the count shown each second and watched for stalls, and its name */
	const char *progress_name;
	uint64_t (*progress)(const struct scb *b);
	const char *stall_hint; /* appended to the stall error, or NULL */
	/* the scenario's own figures, secs = t_end - t_run */
	void (*report)(const struct scb *b, double secs, struct scb_out *out);
};

extern const struct scb_scenario scb_ingest, scb_fanout, scb_rpc;

/* The payload's marks. Stream tells writers apart (a publisher, a
 * connection); seq counts its messages. */
void scb_payload_mark(uint8_t *p, size_t size, uint64_t seq, uint32_t stream);

/* Checks that the JSON string s (with its quotes, as in a packet span) is
 * the payload (seq, stream) of size bytes. Returns 0; or -1 with a short
 * reason in why. */
int scb_payload_check(const uint8_t *s, size_t n, size_t size, uint64_t seq, uint32_t stream,
		      char *why, size_t why_len);

/* Marks every open connection dirty (at the start of RUN, say). */
void scb_mark_all(struct scb *b);

#endif
