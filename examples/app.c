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
 *   login         an object                     makes it the socket's token (#setAuthToken)
 *   loginConfirmed an object                    the same, answered once the client confirms
 *   logout        -                             drops the token (#removeAuthToken)
 *   whoAmI        -                             the token's payload, or null
 *   mwBlock, mwSilent, mwTransform, mwAsync, mwAsyncBlock: echo (for the middleware)
 *
 * Options: every option of sluiced (see --help), and --middleware, which
 * installs the hooks of middleware() and upgrade() below (every kind: block,
 * block silently, transform, decide later from the timer thread).
 *
 * Threads: main (set-up, then sigwait), the server's workers (handlers,
 * listeners), and one timer thread that answers `slow` requests.
 */
#define _GNU_SOURCE /* memmem */
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

/* The backpressure API (sluice.h) as the caller's socket and the server see
 * it: this request counts itself among the procedures' pending requests. */
static void backpressure(struct sluice_request *req, void *ctx)
{
	struct sluice_socket *s = sluice_request_socket(req);
	struct sluice_server *srv = sluice_socket_server(s);
	struct sluice_socket_stats st;
	char out[512];
	int n;

	(void)ctx;
	sluice_socket_stats(s, &st);
	n = snprintf(out, sizeof(out),
		     "{\"backpressure\":%llu,\"inbound\":%llu,\"outbound\":%llu,"
		     "\"procedures\":%llu,\"slow\":%lld,\"serverSlow\":%lld,\"msgsIn\":%llu,"
		     "\"subscriptions\":%u}",
		     (unsigned long long)sluice_socket_backpressure(s), (unsigned long long)st.inbound,
		     (unsigned long long)st.outbound, (unsigned long long)st.procedures,
		     (long long)sluice_socket_procedure_backpressure(s, "slow"),
		     (long long)sluice_procedure_backpressure(srv, "slow"),
		     (unsigned long long)st.msgs_in, st.subscriptions);
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
	struct sluice_request *req;   /* slow: answer it */
	struct sluice_action *act;    /* an async middleware decision: take it */
	bool block;
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
			if (t->act && t->block)
				sluice_action_block(t->act, "MwBlockedError", "blocked by middleware", 0);
			else if (t->act)
				sluice_action_allow(t->act);
			else
				sluice_request_end(t->req, out,
						   (size_t)snprintf(out, sizeof(out), "{\"slept\":%lld}",
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

/* Queues t (req or act set) for the timer thread, t->ms from now. */
static void timer_add(struct timer *t)
{
	struct timer **at;

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

static void slow(struct sluice_request *req, void *ctx)
{
	size_t n;
	const char *data = sluice_request_data(req, &n);
	struct timer *t = calloc(1, sizeof(*t));

	(void)ctx;
	if (!t) {
		sluice_request_error(req, "Error", "out of memory", NULL);
		return;
	}
	t->req = req;
	t->ms = member_int(data, n, "ms", 100);
	timer_add(t);
}

/* ---- authentication ---- */

static void login_confirmed_reply(struct sluice_socket *s, const char *error, size_t elen,
				  const char *data, size_t len, void *ctx)
{
	struct sluice_request *req = ctx;

	(void)s, (void)data, (void)len;
	if (error)
		sluice_request_error_json(req, error, elen);
	else
		sluice_request_end(req, "null", 4);
}

static void login_as(struct sluice_request *req, bool confirmed)
{
	size_t n;
	const char *data = sluice_request_data(req, &n);
	struct sluice_socket *s = sluice_request_socket(req);
	int rc;

	if (!data || !n) {
		data = "{}";
		n = 2;
	}
	rc = sluice_socket_set_auth_token(s, data, n, confirmed ? login_confirmed_reply : NULL,
					  req);
	if (rc == -EINVAL)
		sluice_request_error(req, "InvalidArgumentsError", "the token data must be an object",
				     NULL);
	else if (rc < 0 && !confirmed)
		sluice_request_error(req, "AuthError", "could not set the token", NULL);
	else if (rc < 0)
		sluice_request_error(req, "AuthError", "could not set the token", NULL);
	else if (!confirmed)
		sluice_request_end(req, "null", 4);
}

static void login(struct sluice_request *req, void *ctx)
{
	(void)ctx;
	login_as(req, false);
}

static void login_confirmed(struct sluice_request *req, void *ctx)
{
	(void)ctx;
	login_as(req, true);
}

static void logout(struct sluice_request *req, void *ctx)
{
	(void)ctx;
	sluice_socket_deauthenticate(sluice_request_socket(req));
	sluice_request_end(req, "null", 4);
}

static void who_am_i(struct sluice_request *req, void *ctx)
{
	size_t n;
	const char *token = sluice_socket_auth_token(sluice_request_socket(req), &n);

	(void)ctx;
	sluice_request_end(req, token ? token : "null", token ? n : 4);
}

/* ---- middleware (--middleware): what tests/conformance/middleware.test.mjs drives ---- */

static bool has_prefix(const char *s, const char *prefix)
{
	return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool member_true(const char *data, size_t len, const char *key)
{
	const char *v;
	size_t vl;

	return data && sluice_json_member(data, len, key, &v, &vl) == 0 && vl == 4 &&
	       memcmp(v, "true", 4) == 0;
}

static void decide_later(struct sluice_action *a, bool block)
{
	struct timer *t = calloc(1, sizeof(*t));

	if (!t) {
		sluice_action_allow(a);
		return;
	}
	t->act = a;
	t->block = block;
	t->ms = 50;
	timer_add(t);
}

/* A copy of data[0, len) with every `from` replaced by `to` (same length). */
static char *replace_all(const char *data, size_t len, const char *from, const char *to)
{
	char *out = malloc(len + 1);
	size_t k = strlen(from);

	if (!out)
		return NULL;
	memcpy(out, data, len);
	out[len] = '\0';
	for (char *p = out; (p = memmem(p, len - (size_t)(p - out), from, k)); p += k)
		memcpy(p, to, k);
	return out;
}

static void middleware(struct sluice_action *a, void *ctx)
{
	size_t n;
	const char *data = sluice_action_data(a, &n);
	const char *event = sluice_action_event(a), *channel = sluice_action_channel(a);

	(void)ctx;
	switch (sluice_action_kind(a)) {
	case SLUICE_MW_INVOKE:
		if (strcmp(event, "mwBlock") == 0) {
			sluice_action_block(a, "MwBlockedError", "blocked by middleware", 0);
		} else if (strcmp(event, "mwSilent") == 0) {
			sluice_action_block_silently(a);
		} else if (strcmp(event, "mwTransform") == 0) {
			char *out = malloc(n + 32);
			if (!out) {
				sluice_action_allow(a);
				break;
			}
			int k = sprintf(out, "{\"transformed\":%.*s}", data ? (int)n : 4,
					data ? data : "null");
			sluice_action_transform(a, out, (size_t)k);
			free(out);
		} else if (strcmp(event, "mwAsync") == 0) {
			decide_later(a, false);
		} else if (strcmp(event, "mwAsyncBlock") == 0) {
			decide_later(a, true);
		} else {
			sluice_action_allow(a);
		}
		break;
	case SLUICE_MW_TRANSMIT:
		if (member_true(data, n, "drop"))
			sluice_action_block(a, "MwBlockedError", "dropped", 0);
		else
			sluice_action_allow(a);
		break;
	case SLUICE_MW_SUBSCRIBE:
		if (has_prefix(channel, "forbidden/"))
			sluice_action_block(a, "ForbiddenChannelError", "forbidden", 0);
		else if (has_prefix(channel, "silent/"))
			sluice_action_block_silently(a);
		else
			sluice_action_allow(a);
		break;
	case SLUICE_MW_PUBLISH_IN:
		if (strcmp(channel, "readonly") == 0) {
			sluice_action_block(a, "ReadOnlyError", "read only", 0);
		} else if (strcmp(channel, "upper") == 0 && data) {
			char *out = malloc(n);
			if (!out) {
				sluice_action_allow(a);
				break;
			}
			for (size_t i = 0; i < n; i++)
				out[i] = data[i] >= 'a' && data[i] <= 'z' ? (char)(data[i] - 32) : data[i];
			sluice_action_transform(a, out, n);
			free(out);
		} else {
			sluice_action_allow(a);
		}
		break;
	case SLUICE_MW_PUBLISH_OUT:
		if (channel && strcmp(channel, "vip") == 0) {
			size_t tl;
			const char *tok = sluice_socket_auth_token(sluice_action_socket(a), &tl);
			if (member_true(tok, tl, "vip"))
				sluice_action_allow(a);
			else
				sluice_action_block_silently(a);
		} else {
			sluice_action_allow(a);
		}
		break;
	case SLUICE_MW_AUTHENTICATE:
		if (member_true(data, n, "banned"))
			sluice_action_block(a, "BannedError", "banned", 0);
		else
			sluice_action_allow(a);
		break;
	case SLUICE_MW_HANDSHAKE:
		if (strstr(sluice_socket_query(sluice_action_socket(a)), "scReject=1"))
			sluice_action_block(a, "HandshakeRejectedError", "rejected", 4321);
		else
			sluice_action_allow(a);
		break;
	case SLUICE_MW_RAW:
		if (data && memmem(data, n, "rawBlock", 8)) {
			sluice_action_block_silently(a);
		} else if (data && memmem(data, n, "rawSwap", 7)) {
			char *out = replace_all(data, n, "rawSwap", "swapped");
			if (out) {
				sluice_action_transform(a, out, n);
				free(out);
			} else {
				sluice_action_allow(a);
			}
		} else {
			sluice_action_allow(a);
		}
		break;
	}
}

static int upgrade(const struct sluice_http *req, void *ctx)
{
	size_t n;
	const char *q = sluice_http_query(req, &n);

	(void)ctx;
	return q && memmem(q, n, "wsReject=1", 10) ? 401 : 0;
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
		{"login", login},       {"loginConfirmed", login_confirmed}, {"logout", logout},
		{"whoAmI", who_am_i},   {"mwBlock", echo},       {"mwSilent", echo},
		{"mwTransform", echo},  {"mwAsync", echo},       {"mwAsyncBlock", echo},
		{"backpressure", backpressure},
	};
	struct sluice_options o;
	struct sluice_server *srv;
	pthread_condattr_t ca;
	pthread_t timer;
	char err[512];
	sigset_t sigs;
	int stop, sig, rc;

	/* --middleware is the app's own flag; everything else is sluice's */
	bool with_middleware = false;
	int kept = 1;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--middleware") == 0)
			with_middleware = true;
		else
			argv[kept++] = argv[i];
	}
	argc = kept;
	sluice_options_defaults(&o);
	if (sluice_options_parse(&o, argc, argv, &stop, err, sizeof(err)) < 0 || stop < argc) {
		if (stop < argc && strcmp(argv[stop], "--help") == 0) {
			printf("usage: sluice-example-app [--middleware] [options]\n\n"
			       "  --middleware                install the test middleware of every kind\n"
			       "                              (see the top of examples/app.c)\n\n"
			       "Options (as sluiced):\n");
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
	if (with_middleware) {
		sluice_middleware(srv, 0xff, middleware, NULL); /* every kind */
		sluice_on_upgrade(srv, upgrade, NULL);
	}

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
		if (t->act)
			sluice_action_allow(t->act);
		else
			sluice_request_error(t->req, "BadConnectionError", "server shutting down",
					     NULL);
		free(t);
	}
	sluice_server_stop(srv);
	sluice_server_destroy(srv);
	return 0;
}
