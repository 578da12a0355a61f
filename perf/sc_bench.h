/*
 * sc_bench: what sluice-bench's driver (sluice-bench.c) and its scenarios
 * (sc_bench_pubsub.c, sc_bench_rpc.c, sc_bench_connect.c) share: the
 * options, the run, the scenario interface, the protocol-neutral operations,
 * the payload marks and the report fields.
 *
 * A run, as the driver steps it; a scenario supplies the hooks on the right:
 *
 *   CONNECT  every connection upgraded and handshaken,      (timeout)
 *      |     at most --connecting at once                   on_lost: carry on?
 *   PREPARE  e.g. subscribe, wait for every reply           prepare, prepared (timeout)
 *      |     t_run: the measurement starts                  start
 *   RUN      producers pump as fast as flow control lets    pump, on_msg, on_reply, tick;
 *      |     them (b->phase == SCB_RUN is their licence)    ends after --duration, or
 *      |                                                    run_done (--count), or run_over
 *   DRAIN    barrier: what was sent is all accounted for    drain, drained (timeout)
 *      |     t_end: the measurement stops
 *   DONE     report                                         report
 *
 * Rates are over [t_run, t_end], so the barrier's wait counts: every message
 * counted was processed by the server, not merely handed to a socket. During
 * RUN, no progress for --timeout seconds fails the run too. A scenario that
 * measures connecting itself (measure_connect: the connection storm) has
 * [t_run, t_end] around CONNECT instead, and RUN and DRAIN are its own.
 *
 * Threads: one. The driver and the scenario share struct scb and its loop.
 *
 * Adding a scenario: write its hooks in a file of its own, add its options to
 * struct scb_opts and to parse_opts in sluice-bench.c, and list it in its
 * scenarios[]. Scenarios speak through scb_publish, scb_subscribe,
 * scb_barrier, scb_request and scb_respond, never a protocol's bytes, so
 * each runs on SocketCluster and NATS alike.
 */
#ifndef SLUICE_PERF_SC_BENCH_H
#define SLUICE_PERF_SC_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sc_bench_conn.h"

/* The sequence mark: 16 hex digits at the start of every payload (the
 * stream in the top 24 bits, the sequence number in the low 40), plus 8 at
 * its end (a tag of both) when the payload has room. */
#define SCB_SEQ_LEN	 16
#define SCB_TAG_LEN	 8
#define SCB_SEQ_BITS	 40
#define SCB_STREAM_LIMIT (1u << 24)

struct scb_opts {
	const char *scenario;
	const char *label; /* the target's name in the report */
	const char *channel;
	struct scb_target target;
	size_t size;	     /* payload bytes */
	double duration;     /* seconds of RUN, unless count */
	uint64_t count;	     /* messages or requests of RUN; 0: use duration */
	double timeout;	     /* CONNECT, PREPARE, DRAIN, and a stalled RUN */
	unsigned channels;   /* ingest, fanout: channels the publishers spread over */
	unsigned publishers; /* ingest, fanout; 0: the scenario's default */
	unsigned subscribers; /* fanout, slow */
	unsigned window;      /* fanout, slow; 0: the default */
	unsigned conns;	      /* rpc, connect; 0: the scenario's default */
	unsigned inflight;    /* rpc, per connection; 0: the default */
	double rate;	      /* rpc: requests/s in all; 0: closed loop */
	double hold;	      /* connect: seconds to hold the connections */
	unsigned connecting;  /* connections being opened at once */
	pid_t server_pid;     /* 0: no server CPU or memory figures */
	bool json;
};

enum scb_phase { SCB_CONNECT, SCB_PREPARE, SCB_RUN, SCB_DRAIN, SCB_DONE };

struct scb_scenario;

struct scb {
	const struct scb_opts *o;
	const struct scb_scenario *sc;
	const struct scb_proto *proto;
	struct scb_loop loop;
	struct scb_conn *conns;
	unsigned nconns;
	unsigned nstarted;   /* connections started (in id order) */
	unsigned nopen;	     /* connections open now */
	unsigned max_open;   /* the most open at once */
	unsigned nfailed;    /* lost before they opened */
	unsigned ndropped;   /* lost after they opened */
	enum scb_phase phase;
	double t_phase; /* when the current phase began */
	double t_run, t_end;
	uint8_t *payload; /* o->size bytes of filler, letters only */
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
	/* [t_run, t_end] is the CONNECT phase; RUN ends by run_over */
	bool measure_connect;
	/* a connection of the run opened (may be NULL) */
	int (*on_open)(struct scb *b, struct scb_conn *c);
	/* the server refused or closed c: 0 carries on without it; NULL (or
	 * -1) ends the run. b's counters are updated after it returns 0. */
	int (*on_lost)(struct scb *b, struct scb_conn *c, unsigned close_code, const char *why);
	/* PREPARE: both may be NULL (ready at once) */
	int (*prepare)(struct scb *b);
	bool (*prepared)(const struct scb *b);
	/* entering RUN (may be NULL) */
	int (*start)(struct scb *b);
	/* RUN: see struct scb_ops */
	int (*pump)(struct scb *b, struct scb_conn *c);
	int (*on_msg)(struct scb *b, struct scb_conn *c, const struct scb_msg *m);
	int (*on_reply)(struct scb *b, struct scb_conn *c, const struct scb_reply *r);
	/* RUN, each loop turn (may be NULL): mark what is due at now; returns
	 * when something is next due (0: nothing) */
	double (*tick)(struct scb *b, double now);
	/* with --count: RUN is over (everything sent) */
	bool (*run_done)(const struct scb *b);
	/* instead of --duration and --count (may be NULL) */
	bool (*run_over)(const struct scb *b, double now);
	/* DRAIN: drain may be NULL; drained is called each turn: 1 when
	 * drained, 0 not yet, -1 on error */
	int (*drain)(struct scb *b);
	int (*drained)(struct scb *b);
	/* the count shown each second and watched for stalls, and its name */
	const char *progress_name;
	uint64_t (*progress)(const struct scb *b);
	const char *stall_hint; /* appended to the stall error, or NULL */
	/* the scenario's own figures, secs = t_end - t_run */
	void (*report)(const struct scb *b, double secs, struct scb_out *out);
};

extern const struct scb_scenario scb_ingest, scb_fanout, scb_slow, scb_rpc, scb_connect;

/* The payload's marks. Stream (below SCB_STREAM_LIMIT) tells writers apart
 * (a publisher, a connection); seq (below 2^40) counts its messages. */
void scb_payload_mark(uint8_t *p, size_t size, uint64_t seq, uint32_t stream);

/* Reads the marks of the payload p[0, n) that should be size bytes: 0 with
 * *seq and *stream, or -1 with a short reason in why (wrong size, no mark,
 * an end that does not match). */
int scb_payload_read(const uint8_t *p, size_t n, size_t size, uint64_t *seq, uint32_t *stream,
		     char *why, size_t why_len);

/* Checks that p[0, n) is the payload (seq, stream) of size bytes. Returns
 * 0; or -1 with a short reason in why. */
int scb_payload_check(const uint8_t *p, size_t n, size_t size, uint64_t seq, uint32_t stream,
		      char *why, size_t why_len);

/* Marks every open connection dirty (at the start of RUN, say). */
void scb_mark_all(struct scb *b);

/* ---- the operations, whatever the protocol (sc_bench_conn.h) ------------- */

/* Appends t (a publish of b->o->size bytes) with its payload marked (seq,
 * c->id). Returns 0 or -1. */
int scb_publish(struct scb *b, struct scb_conn *c, const struct scb_tpl *t, uint64_t seq);

static inline int scb_subscribe(struct scb *b, struct scb_conn *c, const char *channel, int64_t id)
{
	return b->proto->subscribe(&b->loop, c, channel, id);
}

static inline int scb_barrier(struct scb *b, struct scb_conn *c, const char *channel, int64_t id)
{
	return b->proto->barrier(&b->loop, c, channel, id);
}

static inline int scb_request(struct scb *b, struct scb_conn *c, int64_t id,
			      const uint8_t *payload, size_t size)
{
	return b->proto->request(&b->loop, c, id, payload, size);
}

#endif
