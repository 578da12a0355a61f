/*
 * sluice-example-app: an application embedding sluice through include/sluice.h.
 * It is the app the conformance suite (tests/conformance) drives, and a
 * worked example of every part of the API:
 *
 *   procedure     data                          answer
 *   echo          any                           the same data
 *   fail          any                           error CustomError, "Custom failure", code 1234
 *   slow          {"ms":N}                      {"slept":N}, from the timer thread, N ms later
 *   invokeBack    {"event":E,"data":D}          invokes the client's E with D: {"reply":R},
 *                                               or the client's error, or TimeoutError
 *   transmitBack  {"event":E,"data":D,"count":N} N transmits of E, then {"sent":N}
 *   batchBack     {"event":E,"count":N}         N transmits (data 0..N-1) in one frame
 *   kickMe        {"channel":C,"message":M}     kicks the caller out of C, then null
 *   disconnectMe  {"code":N,"reason":R}         null, then closes the caller with N, R
 *   publish       {"channel":C,"data":D}        publishes D on C from the server, then null
 *   seqStatus     -                             {"count":n,"ordered":b} of receiver seq
 *   stats         -                             listener event counts since start
 *   receiver seq  {"i":k}                       counts; ordered while k == count so far
 *
 * Options: every option of sluiced (see --help).
 *
 * Threads: main (set-up, then sigwait), the server's workers (handlers,
 * listeners), and one timer thread that answers `slow` requests.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sluice.h"

/* ---- listener counts ---- */

static _Atomic long connections, disconnections, subscriptions, unsubscriptions;

static void on_connection(struct sluice_socket *s, void *ctx)
{
	(void)s, (void)ctx;
	atomic_fetch_add(&connections, 1);
}

static void on_disconnection(struct sluice_socket *s, int code, void *ctx)
{
	(void)code, (void)ctx;
	free(sluice_socket_user(s)); /* the seq counters, if any */
	atomic_fetch_add(&disconnections, 1);
}

static void on_subscription(struct sluice_socket *s, const char *channel, void *ctx)
{
	(void)s, (void)channel, (void)ctx;
	atomic_fetch_add(&subscriptions, 1);
}

static void on_unsubscription(struct sluice_socket *s, const char *channel, void *ctx)
{
	(void)s, (void)channel, (void)ctx;
	atomic_fetch_add(&unsubscriptions, 1);
}

static void stats(struct sluice_request *req, void *ctx)
{
	char out[256];
	int n = snprintf(out, sizeof(out),
			 "{\"connections\":%ld,\"disconnections\":%ld,\"subscriptions\":%ld,"
			 "\"unsubscriptions\":%ld}",
			 atomic_load(&connections), atomic_load(&disconnections),
			 atomic_load(&subscriptions), atomic_load(&unsubscriptions));
	(void)ctx;
	sluice_request_end(req, out, (size_t)n);
}

/* ---- data helpers ---- */

static int64_t member_int(const char *data, size_t len, const char *key, int64_t dflt)
{
	const char *v;
	size_t vl;
	int64_t x;

	if (sluice_json_member(data, len, key, &v, &vl) == 0 && sluice_json_int(v, vl, &x) == 0)
		return x;
	return dflt;
}

static bool member_str(const char *data, size_t len, const char *key, char *out, size_t cap)
{
	const char *v;
	size_t vl;

	return sluice_json_member(data, len, key, &v, &vl) == 0 &&
	       sluice_json_string(v, vl, out, cap) >= 0;
}

/* ---- simple procedures ---- */

static void echo(struct sluice_request *req, void *ctx)
{
	size_t n;
	const char *data = sluice_request_data(req, &n);

	(void)ctx;
	sluice_request_end(req, data, n);
}

static void fail(struct sluice_request *req, void *ctx)
{
	(void)ctx;
	sluice_request_error(req, "CustomError", "Custom failure", "\"code\":1234");
}

static void transmit_back(struct sluice_request *req, void *ctx)
{
	size_t n, dl = 0;
	const char *data = sluice_request_data(req, &n), *d = NULL;
	char event[128], out[64];
	int64_t count = member_int(data, n, "count", 1);

	(void)ctx;
	if (!member_str(data, n, "event", event, sizeof(event))) {
		sluice_request_error(req, "InvalidArgumentsError", "event must be a string", NULL);
		return;
	}
	sluice_json_member(data, n, "data", &d, &dl);
	for (int64_t i = 0; i < count; i++)
		sluice_socket_transmit(sluice_request_socket(req), event, d, dl);
	sluice_request_end(req, out, (size_t)snprintf(out, sizeof(out), "{\"sent\":%lld}",
						      (long long)count));
}

static void batch_back(struct sluice_request *req, void *ctx)
{
	struct sluice_socket *s = sluice_request_socket(req);
	size_t n;
	const char *data = sluice_request_data(req, &n);
	char event[128], num[24], out[64];
	int64_t count = member_int(data, n, "count", 1);

	(void)ctx;
	if (!member_str(data, n, "event", event, sizeof(event))) {
		sluice_request_error(req, "InvalidArgumentsError", "event must be a string", NULL);
		return;
	}
	sluice_socket_start_batch(s);
	for (int64_t i = 0; i < count; i++)
		sluice_socket_transmit(s, event, num,
				       (size_t)snprintf(num, sizeof(num), "%lld", (long long)i));
	sluice_socket_flush_batch(s);
	sluice_request_end(req, out, (size_t)snprintf(out, sizeof(out), "{\"sent\":%lld}",
						      (long long)count));
}

static void kick_me(struct sluice_request *req, void *ctx)
{
	size_t n;
	const char *data = sluice_request_data(req, &n);
	char channel[256], message[256];
	bool has_msg = member_str(data, n, "message", message, sizeof(message));

	(void)ctx;
	if (!member_str(data, n, "channel", channel, sizeof(channel))) {
		sluice_request_error(req, "InvalidArgumentsError", "channel must be a string", NULL);
		return;
	}
	sluice_socket_kick_out(sluice_request_socket(req), channel, has_msg ? message : NULL);
	sluice_request_end(req, "null", 4);
}

static void disconnect_me(struct sluice_request *req, void *ctx)
{
	struct sluice_socket *s = sluice_request_socket(req);
	size_t n;
	const char *data = sluice_request_data(req, &n);
	char reason[124] = "";
	int code = (int)member_int(data, n, "code", 4500);

	(void)ctx;
	member_str(data, n, "reason", reason, sizeof(reason));
	sluice_request_end(req, "null", 4); /* the answer leaves before the close frame */
	sluice_socket_disconnect(s, code, reason);
}

static void publish(struct sluice_request *req, void *ctx)
{
	size_t n, dl = 0;
	const char *data = sluice_request_data(req, &n), *d = NULL;
	char channel[256];

	(void)ctx;
	if (!member_str(data, n, "channel", channel, sizeof(channel))) {
		sluice_request_error(req, "InvalidArgumentsError", "channel must be a string", NULL);
		return;
	}
	sluice_json_member(data, n, "data", &d, &dl);
	sluice_publish(sluice_socket_server(sluice_request_socket(req)), channel, d, dl);
	sluice_request_end(req, "null", 4);
}

/* ---- the seq receiver: per-socket state in the socket's user pointer ---- */

struct seq {
	int64_t count;
	bool ordered;
};

static void seq(struct sluice_socket *s, const char *data, size_t len, void *ctx)
{
	struct seq *q = sluice_socket_user(s);

	(void)ctx;
	if (!q) {
		q = calloc(1, sizeof(*q));
		if (!q)
			return;
		q->ordered = true;
		sluice_socket_set_user(s, q);
	}
	if (member_int(data, len, "i", -1) != q->count)
		q->ordered = false;
	q->count++;
}

static void seq_status(struct sluice_request *req, void *ctx)
{
	const struct seq *q = sluice_socket_user(sluice_request_socket(req));
	char out[64];

	(void)ctx;
	sluice_request_end(req, out,
			   (size_t)snprintf(out, sizeof(out), "{\"count\":%lld,\"ordered\":%s}",
					    (long long)(q ? q->count : 0),
					    !q || q->ordered ? "true" : "false"));
}

/* ---- invokeBack: the server invokes the client, then answers ---- */

static void invoke_back_reply(struct sluice_socket *s, const char *error, size_t elen,
			      const char *data, size_t len, void *ctx)
{
	struct sluice_request *req = ctx;
	char *out;

	(void)s;
	if (error) {
		sluice_request_error_json(req, error, elen);
		return;
	}
	out = malloc(len + 16);
	if (!out) {
		sluice_request_error(req, "Error", "out of memory", NULL);
		return;
	}
	int n = sprintf(out, "{\"reply\":%.*s}", data ? (int)len : 4, data ? data : "null");
	sluice_request_end(req, out, (size_t)n);
	free(out);
}

static void invoke_back(struct sluice_request *req, void *ctx)
{
	size_t n, dl = 0;
	const char *data = sluice_request_data(req, &n), *d = NULL;
	char event[128];

	(void)ctx;
	if (!member_str(data, n, "event", event, sizeof(event))) {
		sluice_request_error(req, "InvalidArgumentsError", "event must be a string", NULL);
		return;
	}
	sluice_json_member(data, n, "data", &d, &dl);
	if (sluice_socket_invoke(sluice_request_socket(req), event, d, dl, invoke_back_reply, req) < 0)
		sluice_request_error(req, "BadConnectionError", "could not invoke the client", NULL);
}

/* ---- slow: answered by another thread, later ---- */

struct timer {
	struct timer *next;
	struct timespec due;
	struct sluice_request *req;
	int64_t ms;
};

static pthread_mutex_t timer_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t timer_cond = PTHREAD_COND_INITIALIZER;
static struct timer *timers; /* sorted by due */
static bool timer_stop;

static bool due_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static void *timer_thread(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&timer_lock);
	while (!timer_stop) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (timers && !due_before(&now, &timers->due)) {
			struct timer *t = timers;
			char out[48];
			timers = t->next;
			pthread_mutex_unlock(&timer_lock);
			sluice_request_end(t->req, out, (size_t)snprintf(out, sizeof(out),
									 "{\"slept\":%lld}",
									 (long long)t->ms));
			free(t);
			pthread_mutex_lock(&timer_lock);
			continue;
		}
		if (timers)
			pthread_cond_timedwait(&timer_cond, &timer_lock, &timers->due);
		else
			pthread_cond_wait(&timer_cond, &timer_lock);
	}
	pthread_mutex_unlock(&timer_lock);
	return NULL;
}

static void slow(struct sluice_request *req, void *ctx)
{
	size_t n;
	const char *data = sluice_request_data(req, &n);
	struct timer *t = calloc(1, sizeof(*t)), **at;

	(void)ctx;
	if (!t) {
		sluice_request_error(req, "Error", "out of memory", NULL);
		return;
	}
	t->req = req;
	t->ms = member_int(data, n, "ms", 100);
	clock_gettime(CLOCK_MONOTONIC, &t->due);
	t->due.tv_sec += t->ms / 1000;
	t->due.tv_nsec += (t->ms % 1000) * 1000000;
	if (t->due.tv_nsec >= 1000000000) {
		t->due.tv_sec++;
		t->due.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&timer_lock);
	for (at = &timers; *at && !due_before(&t->due, &(*at)->due); at = &(*at)->next)
		;
	t->next = *at;
	*at = t;
	pthread_cond_signal(&timer_cond);
	pthread_mutex_unlock(&timer_lock);
}

/* ---- main ---- */

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		sluice_procedure_fn *fn;
	} procs[] = {
		{"echo", echo},         {"fail", fail},          {"slow", slow},
		{"invokeBack", invoke_back}, {"transmitBack", transmit_back},
		{"batchBack", batch_back}, {"kickMe", kick_me},  {"disconnectMe", disconnect_me},
		{"publish", publish},   {"seqStatus", seq_status}, {"stats", stats},
	};
	struct sluice_options o;
	struct sluice_server *srv;
	pthread_condattr_t ca;
	pthread_t timer;
	char err[512];
	sigset_t sigs;
	int stop, sig, rc;

	sluice_options_defaults(&o);
	if (sluice_options_parse(&o, argc, argv, &stop, err, sizeof(err)) < 0 || stop < argc) {
		if (stop < argc && strcmp(argv[stop], "--help") == 0) {
			printf("usage: sluice-example-app [options]\n\nOptions (as sluiced):\n");
			sluice_options_usage(stdout);
			return 0;
		}
		fprintf(stderr, "sluice-example-app: %s\n",
			stop < argc ? "unknown argument (see --help)" : err);
		return 2;
	}

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	rc = sluice_server_create(&o, &srv);
	if (rc < 0) {
		fprintf(stderr, "sluice-example-app: cannot listen: %s\n", strerror(-rc));
		return 1;
	}
	for (size_t i = 0; i < sizeof(procs) / sizeof(procs[0]); i++)
		sluice_procedure(srv, procs[i].name, procs[i].fn, NULL);
	sluice_receiver(srv, "seq", seq, NULL);
	sluice_on_connection(srv, on_connection, NULL);
	sluice_on_disconnection(srv, on_disconnection, NULL);
	sluice_on_subscription(srv, on_subscription, NULL);
	sluice_on_unsubscription(srv, on_unsubscription, NULL);

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&timer_cond, &ca);
	pthread_create(&timer, NULL, timer_thread, NULL);

	rc = sluice_server_start(srv);
	if (rc < 0) {
		fprintf(stderr, "sluice-example-app: cannot start: %s\n", strerror(-rc));
		return 1;
	}
	printf("sluice-example-app: listening on %s:%u\n", o.host, sluice_server_port(srv));
	fflush(stdout);

	sigwait(&sigs, &sig);
	/* answer what the timer holds first: a request keeps its socket open */
	pthread_mutex_lock(&timer_lock);
	timer_stop = true;
	pthread_cond_signal(&timer_cond);
	pthread_mutex_unlock(&timer_lock);
	pthread_join(timer, NULL);
	for (struct timer *t = timers, *next; t; t = next) {
		next = t->next;
		sluice_request_error(t->req, "BadConnectionError", "server shutting down", NULL);
		free(t);
	}
	sluice_server_stop(srv);
	sluice_server_destroy(srv);
	return 0;
}
