/*
 * options: the server's options by name: defaults, one table that the
 * command line, the config file and --help all read, so a name means the
 * same thing everywhere and every option is documented once.
 *
 * Threads: any; nothing shared.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "io.h"
#include "sluice.h"

enum opt_kind {
	OPT_STR, OPT_U16, OPT_U32, OPT_U64, OPT_INT, OPT_BOOL, OPT_URING, OPT_PROTO, OPT_SLOW, OPT_MODE
};

struct opt {
	const char *name;
	enum opt_kind kind;
	size_t off;
	size_t size;         /* OPT_STR: buffer size */
	uint64_t min, max;   /* numbers */
	const char *arg;     /* placeholder in --help */
	const char *help;    /* may hold \n for more lines */
};

#define F(field) offsetof(struct sluice_options, field), sizeof(((struct sluice_options *)0)->field)

static const struct opt opts[] = {
	{"host", OPT_STR, F(host), 0, 0, "ADDR", "IPv4 address to listen on"},
	{"port", OPT_U16, F(port), 0, 65535, "N", "TCP port; 0 lets the kernel pick one"},
	{"path", OPT_STR, F(path), 0, 0, "PATH", "WebSocket path; other paths get HTTP 400"},
	{"origins", OPT_STR, F(origins), 0, 0, "LIST",
	 "allowed Origins, socketcluster style 'host:port ...', '*' for\neither side"},
	{"reactors", OPT_INT, F(reactors), 1, 256, "N", "I/O threads, each with its own io_uring"},
	{"workers", OPT_INT, F(workers), 1, 256, "N", "protocol and handler threads"},
	{"protocol-version", OPT_PROTO, F(protocol_version), 1, 2, "1|2",
	 "SocketCluster protocol: 2 pings with \"\", 1 with \"#1\"/\"#2\""},
	{"ping-interval", OPT_U32, F(ping_interval_ms), 1, UINT32_MAX, "MS",
	 "the server pings every socket this often, busy or idle"},
	{"ping-timeout", OPT_U32, F(ping_timeout_ms), 1, UINT32_MAX, "MS",
	 "a socket that sent nothing for this long is closed with 4001;\nsent to clients in the "
	 "handshake (their own ping deadline)"},
	{"ping-timeout-disabled", OPT_BOOL, F(ping_timeout_disabled), 0, 1, "BOOL",
	 "no pings and no pong deadline"},
	{"handshake-timeout", OPT_U32, F(handshake_timeout_ms), 1, UINT32_MAX, "MS",
	 "deadline for the HTTP request, then again for #handshake (4005)"},
	{"ack-timeout", OPT_U32, F(ack_timeout_ms), 1, UINT32_MAX, "MS",
	 "the server's invokes of a client fail with TimeoutError after this"},
	{"allow-client-publish", OPT_BOOL, F(allow_client_publish), 0, 1, "BOOL",
	 "clients may publish (else InvalidActionError)"},
	{"socket-channel-limit", OPT_U32, F(socket_channel_limit), 0, UINT32_MAX, "N",
	 "channels one socket may subscribe to; 0 is unlimited"},
	{"max-conns", OPT_U32, F(max_conns), 1, 1u << 24, "N",
	 "connections per reactor; more are refused"},
	{"max-payload", OPT_U64, F(max_payload), 1, 1ull << 31, "BYTES",
	 "largest message; larger closes with 1009"},
	{"max-header", OPT_U32, F(max_header), 256, 1u << 20, "BYTES",
	 "largest HTTP request head; larger gets 431"},
	{"outbound-limit", OPT_U64, F(outbound_limit), 1024, UINT64_MAX, "BYTES",
	 "bytes queued for one socket: past half of it sluiced takes no more\nof that client's "
	 "requests until it reads; past all of it the socket\nis closed as a slow consumer, 4100"},
	{"send-timeout", OPT_U32, F(send_timeout_ms), 1, UINT32_MAX, "MS",
	 "a socket that takes no byte of what is sent to it for this long\nis closed as a slow "
	 "consumer, 4100"},
	{"inbound-ring", OPT_U32, F(inbound_ring), 2, 1u << 20, "N",
	 "messages one socket may queue for its worker; when full, sluiced\nstops reading that "
	 "client"},
	{"inbound-limit", OPT_U64, F(inbound_limit), 1, UINT64_MAX, "BYTES",
	 "bytes of messages one socket may queue for its worker; one\nmessage always fits"},
	{"outbound-ring", OPT_U32, F(outbound_ring), 2, 1u << 20, "N",
	 "frames one socket may queue for sending"},
	{"recv-buffers", OPT_U32, F(recv_buffers), 1, 32768, "N",
	 "16 KiB receive buffers per reactor, a power of two; when all are\nin use a read waits"},
	{"io-uring", OPT_URING, F(uring_mode), 0, 2, "MODE",
	 "reactor ring set-up: defer (SINGLE_ISSUER+DEFER_TASKRUN), coop\n"
	 "(SINGLE_ISSUER+COOP_TASKRUN) or plain"},
	{"busy-poll", OPT_U32, F(busy_poll_us), 0, 1000000, "US",
	 "a reactor looks for work this long before it sleeps: waking a\nsleeping thread costs "
	 "more than a round trip; 0 sleeps at once"},
	{"slow-consumer-policy", OPT_SLOW, F(slow_policy), 0, 1, "POLICY",
	 "when a socket's outbound-ring or outbound-limit is reached:\ndisconnect (close 4100) or "
	 "drop-oldest (drop its oldest queued\nmessages, counted in slow_consumer_drops)"},
	{"backpressure-limit", OPT_U64, F(backpressure_limit), 0, UINT64_MAX, "N",
	 "messages any one stream of a socket may hold (inbound, outbound,\npending requests); "
	 "past it the socket is closed with 4101; 0 is off"},
	{"inbound-rate", OPT_U32, F(inbound_rate), 0, UINT32_MAX, "N",
	 "messages a second one socket may send (token bucket); past it the\nsocket is closed "
	 "with 4102; 0 is off"},
	{"inbound-burst", OPT_U32, F(inbound_burst), 1, UINT32_MAX, "N",
	 "messages one socket may send at once above --inbound-rate"},
	{"channel-backlog-limit", OPT_U64, F(channel_backlog_limit), 0, UINT64_MAX, "N",
	 "messages of one channel queued for its subscribers; past it the\nchannel's backlog is "
	 "killed (dropped, counted); 0 is off"},
	{"stats-socket", OPT_STR, F(stats_socket), 0, 0, "PATH",
	 "Unix socket of the stats commands (sluicectl); empty: none"},
	{"stats-socket-mode", OPT_MODE, F(stats_mode), 0, 0777, "OCTAL",
	 "permissions of the stats socket"},
	{"metrics-listen", OPT_STR, F(metrics_listen), 0, 0, "ADDR:PORT",
	 "serve Prometheus metrics at GET /metrics here (port 0: the\nkernel picks; show info "
	 "tells); empty: none"},
	{"auth-algorithm", OPT_STR, F(auth_algorithm), 0, 0, "ALG",
	 "JWT algorithm: HS256 (a shared secret), RS256 or ES256 (key files)"},
	{"auth-key", OPT_STR, F(auth_key), 0, 0, "SECRET",
	 "HS256 secret that verifies (and signs) tokens; empty: a random one\nper start"},
	{"auth-key-file", OPT_STR, F(auth_key_file), 0, 0, "FILE",
	 "read the HS256 secret from FILE (keeps it off the command line)"},
	{"auth-public-key", OPT_STR, F(auth_public_key), 0, 0, "FILE",
	 "RS256/ES256: PEM public key that verifies tokens"},
	{"auth-private-key", OPT_STR, F(auth_private_key), 0, 0, "FILE",
	 "RS256/ES256: PEM private key that signs tokens (optional)"},
	{"auth-default-expiry", OPT_U32, F(auth_default_expiry_s), 1, UINT32_MAX, "S",
	 "exp of tokens the server signs, seconds from now"},
	{"subscribe-auth-channels", OPT_STR, F(subscribe_auth_channels), 0, 0, "PATTERNS",
	 "channels ('*' matches any run) only an authenticated socket may\nsubscribe to, "
	 "space-separated; others get AuthRequiredError"},
	{"publish-auth-channels", OPT_STR, F(publish_auth_channels), 0, 0, "PATTERNS",
	 "channels only an authenticated socket may publish on"},
	{"echo", OPT_BOOL, F(echo), 0, 1, "BOOL",
	 "transport test mode: every message comes back unchanged; no\nSocketCluster protocol"},
};

#define NOPTS (sizeof(opts) / sizeof(opts[0]))

void sluice_options_defaults(struct sluice_options *o)
{
	struct io_config io;

	/* the transport's defaults are io's, so they are written down once */
	io_config_defaults(&io);
	*o = (struct sluice_options){
		.port = io.port,
		.reactors = io.reactors,
		.workers = io.workers,
		.protocol_version = 2,
		.ping_interval_ms = 8000,
		.ping_timeout_ms = 30000,
		.handshake_timeout_ms = io.handshake_timeout_ms,
		.ack_timeout_ms = 10000,
		.allow_client_publish = true,
		.max_conns = io.max_conns,
		.max_payload = io.max_payload,
		.max_header = io.max_header,
		.outbound_limit = io.outbound_limit,
		.send_timeout_ms = io.send_timeout_ms,
		.inbound_ring = io.inbound_ring,
		.inbound_limit = io.inbound_limit,
		.outbound_ring = io.outbound_ring,
		.recv_buffers = io.recv_buffers,
		.uring_mode = io.uring_mode,
		.busy_poll_us = io.busy_poll_us,
		.inbound_burst = 1000,
		.stats_mode = 0600,
		.auth_algorithm = "HS256",
		.auth_default_expiry_s = 86400,
	};
	snprintf(o->host, sizeof(o->host), "%s", io.host);
	snprintf(o->path, sizeof(o->path), "%s", io.path);
	snprintf(o->origins, sizeof(o->origins), "%s", io.origins);
}

static const struct opt *options__find(const char *name, size_t len)
{
	for (size_t i = 0; i < NOPTS; i++)
		if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
			return &opts[i];
	return NULL;
}

static int options__err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int options__bool(const char *v)
{
	static const char *yes[] = {"true", "yes", "on", "1"}, *no[] = {"false", "no", "off", "0"};

	for (int i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0)
			return 1;
		if (strcasecmp(v, no[i]) == 0)
			return 0;
	}
	return -1;
}

static int options__apply(struct sluice_options *o, const struct opt *op, const char *v, char *err,
			  size_t errlen)
{
	char *p = (char *)o + op->off;
	unsigned long long n;
	char *end;

	switch (op->kind) {
	case OPT_STR:
		if (strlen(v) >= op->size)
			return options__err(err, errlen, "--%s: longer than %zu bytes", op->name,
					    op->size - 1);
		if (op->off == offsetof(struct sluice_options, path) && v[0] != '/')
			return options__err(err, errlen, "--path: must start with '/'");
		memcpy(p, v, strlen(v) + 1);
		return 0;
	case OPT_BOOL: {
		int b = options__bool(v);
		if (b < 0)
			return options__err(err, errlen, "--%s: '%s' is not true or false", op->name,
					    v);
		*(bool *)p = b;
		return 0;
	}
	case OPT_URING: {
		static const char *modes[] = {"defer", "coop", "plain"};
		for (int i = 0; i < 3; i++) {
			if (strcmp(v, modes[i]) == 0) {
				*(int *)p = i;
				return 0;
			}
		}
		return options__err(err, errlen, "--%s: '%s' is not defer, coop or plain", op->name,
				    v);
	}
	case OPT_SLOW:
		if (strcmp(v, "disconnect") == 0 || strcmp(v, "drop-oldest") == 0) {
			*(int *)p = v[0] == 'd' && v[1] == 'r' ? SLUICE_SLOW_DROP_OLDEST
							    : SLUICE_SLOW_DISCONNECT;
			return 0;
		}
		return options__err(err, errlen, "--%s: '%s' is not disconnect or drop-oldest",
				    op->name, v);
	case OPT_MODE:
		errno = 0;
		n = strtoull(v, &end, 8);
		if (*v < '0' || *v > '7' || *end || errno || n > op->max)
			return options__err(err, errlen, "--%s: '%s' is not an octal mode like 0600",
					    op->name, v);
		*(uint32_t *)p = (uint32_t)n;
		return 0;
	default:
		break;
	}
	errno = 0;
	n = strtoull(v, &end, 10);
	/* digits only: strtoull would skip spaces and take a sign (" -1" wraps) */
	if (*v < '0' || *v > '9' || *end || errno || n < op->min || n > op->max)
		return options__err(err, errlen, "--%s: '%s' is not a number from %llu to %llu",
				    op->name, v, (unsigned long long)op->min,
				    (unsigned long long)op->max);
	if (op->off == offsetof(struct sluice_options, recv_buffers) && (n & (n - 1)))
		return options__err(err, errlen, "--%s: %llu is not a power of two", op->name, n);
	switch (op->kind) {
	case OPT_U16: *(uint16_t *)p = (uint16_t)n; break;
	case OPT_U32: *(uint32_t *)p = (uint32_t)n; break;
	case OPT_U64: *(uint64_t *)p = (uint64_t)n; break;
	default: *(int *)p = (int)n; break; /* OPT_INT, OPT_PROTO */
	}
	return 0;
}

int sluice_options_set(struct sluice_options *o, const char *name, const char *value, char *err,
		       size_t errlen)
{
	const struct opt *op = options__find(name, strlen(name));

	if (!op) {
		options__err(err, errlen, "unknown option '%s'", name);
		return -ENOENT;
	}
	return options__apply(o, op, value, err, errlen);
}

static char *options__trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

int sluice_options_load(struct sluice_options *o, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char line[2048];
	int no = 0, rc = 0;

	if (!f) {
		rc = -errno;
		options__err(err, errlen, "%s: %s", path, strerror(errno));
		return rc;
	}
	while (rc == 0 && fgets(line, sizeof(line), f)) {
		char *s = line, *eq, *name, *value, msg[256];
		no++;
		if (!strchr(line, '\n') && !feof(f)) {
			rc = options__err(err, errlen, "%s:%d: line longer than %zu bytes", path, no,
					  sizeof(line) - 2);
			break;
		}
		if (*(s = options__trim(s)) == '#' || !*s)
			continue;
		if (!(eq = strchr(s, '='))) {
			rc = options__err(err, errlen, "%s:%d: expected 'name = value'", path, no);
			break;
		}
		*eq = '\0';
		name = options__trim(s);
		value = options__trim(eq + 1);
		if (*value == '"') {
			char *close = strchr(value + 1, '"'), *rest;
			if (!close) {
				rc = options__err(err, errlen, "%s:%d: unterminated quote", path, no);
				break;
			}
			rest = options__trim(close + 1);
			if (*rest && *rest != '#') {
				rc = options__err(err, errlen, "%s:%d: text after the quoted value", path,
						  no);
				break;
			}
			*close = '\0';
			value++;
		} else {
			char *hash = strchr(value, '#'); /* a comment after an unquoted value */
			if (hash) {
				*hash = '\0';
				value = options__trim(value);
			}
		}
		if (strcmp(name, "config") == 0) {
			rc = options__err(err, errlen, "%s:%d: a config file cannot include another",
					  path, no);
			break;
		}
		rc = sluice_options_set(o, name, value, msg, sizeof(msg));
		if (rc < 0) {
			options__err(err, errlen, "%s:%d: %s", path, no, msg);
			rc = -EINVAL;
		}
	}
	fclose(f);
	return rc;
}

int sluice_options_parse(struct sluice_options *o, int argc, char **argv, int *stop, char *err,
			 size_t errlen)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *eq, *value = NULL;
		const struct opt *op;
		size_t len;
		int rc;

		if (strncmp(a, "--", 2) != 0)
			break;
		a += 2;
		eq = strchr(a, '=');
		len = eq ? (size_t)(eq - a) : strlen(a);
		if (eq)
			value = eq + 1;
		if (len == 6 && strncmp(a, "config", 6) == 0) {
			if (!value && i + 1 < argc)
				value = argv[++i];
			if (!value)
				return options__err(err, errlen, "--config needs a file");
			rc = sluice_options_load(o, value, err, errlen);
			if (rc < 0)
				return -EINVAL;
			continue;
		}
		op = options__find(a, len);
		if (!op)
			break;
		if (!value && op->kind == OPT_BOOL &&
		    (i + 1 >= argc || options__bool(argv[i + 1]) < 0))
			value = "true"; /* a bare flag */
		if (!value && i + 1 < argc)
			value = argv[++i];
		if (!value)
			return options__err(err, errlen, "--%s needs a value (%s)", op->name, op->arg);
		rc = options__apply(o, op, value, err, errlen);
		if (rc < 0)
			return rc;
	}
	*stop = i;
	return 0;
}

static void options__default(const struct sluice_options *d, const struct opt *op, char *out,
			     size_t n)
{
	const char *p = (const char *)d + op->off;

	switch (op->kind) {
	case OPT_STR: snprintf(out, n, "%s", p); break;
	case OPT_BOOL: snprintf(out, n, "%s", *(const bool *)p ? "true" : "false"); break;
	case OPT_URING: snprintf(out, n, "defer"); break;
	case OPT_SLOW:
		snprintf(out, n, "%s", *(const int *)p ? "drop-oldest" : "disconnect");
		break;
	case OPT_MODE: snprintf(out, n, "0%o", *(const uint32_t *)p); break;
	case OPT_U16: snprintf(out, n, "%u", *(const uint16_t *)p); break;
	case OPT_U32: snprintf(out, n, "%u", *(const uint32_t *)p); break;
	case OPT_U64: snprintf(out, n, "%llu", (unsigned long long)*(const uint64_t *)p); break;
	default: snprintf(out, n, "%d", *(const int *)p); break;
	}
}

void sluice_options_usage(FILE *out)
{
	struct sluice_options d;

	sluice_options_defaults(&d);
	for (size_t i = 0; i < NOPTS; i++) {
		const struct opt *op = &opts[i];
		char head[64], def[128];
		const char *h = op->help;
		options__default(&d, op, def, sizeof(def));
		snprintf(head, sizeof(head), "--%s %s", op->name, op->arg);
		fprintf(out, "  %-27s ", head);
		for (const char *nl; (nl = strchr(h, '\n')); h = nl + 1)
			fprintf(out, "%.*s\n  %-27s ", (int)(nl - h), h, "");
		if (op->kind == OPT_INT && (strcmp(op->name, "reactors") == 0 ||
					    strcmp(op->name, "workers") == 0))
			fprintf(out, "%s (default %s: CPUs)\n", h, def);
		else
			fprintf(out, "%s (default %s)\n", h, def);
	}
	fprintf(out, "  %-27s %s\n", "--config FILE",
		"read options from FILE: 'name = value' lines, names as above\n"
		"                              without '--', '#' comments; later options win");
}
