/*
 * Unit tests of broker/options (sluice_options_* in sluice.h): the defaults,
 * every option set by name with its limits (a table), boolean spellings,
 * refusals that change nothing and name the option, config files (written
 * to a mkdtemp directory, plus fixtures/every_option.conf), the command
 * line with --config applied in order, and --help naming every option with
 * a default that the option itself accepts.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sluice.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* every option, as on the command line */
static const char *const names[] = {
    "host",
    "port",
    "path",
    "origins",
    "reactors",
    "workers",
    "protocol-version",
    "ping-interval",
    "ping-timeout",
    "ping-timeout-disabled",
    "handshake-timeout",
    "ack-timeout",
    "allow-client-publish",
    "socket-channel-limit",
    "max-conns",
    "max-payload",
    "max-header",
    "outbound-limit",
    "send-timeout",
    "inbound-ring",
    "inbound-limit",
    "outbound-ring",
    "recv-buffers",
    "io-uring",
    "busy-poll",
    "slow-consumer-policy",
    "backpressure-limit",
    "inbound-rate",
    "inbound-burst",
    "channel-backlog-limit",
    "stats-socket",
    "stats-socket-mode",
    "metrics-listen",
    "auth-algorithm",
    "auth-key",
    "auth-key-file",
    "auth-public-key",
    "auth-private-key",
    "auth-default-expiry",
    "subscribe-auth-channels",
    "publish-auth-channels",
    "echo",
};

static void defaults(struct sluice_options *o)
{
	memset(o, 0, sizeof(*o));
	sluice_options_defaults(o);
}

static void assert_unchanged(const struct sluice_options *o, const char *what)
{
	struct sluice_options d;

	defaults(&d);
	cr_assert(memcmp(o, &d, sizeof(d)) == 0, "%s: options changed", what);
}

/* ---- defaults --------------------------------------------------------- */

Test(options, defaults)
{
	struct sluice_options o;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	defaults(&o);
	cr_assert_str_eq(o.host, "0.0.0.0");
	cr_assert_eq(o.port, 8000);
	cr_assert_str_eq(o.path, "/socketcluster/");
	cr_assert_str_eq(o.origins, "*:*");
	cr_assert_eq(o.reactors, cpus > 0 ? cpus : 1);
	cr_assert_eq(o.workers, cpus > 0 ? cpus : 1);
	cr_assert_eq(o.protocol_version, 2);
	cr_assert_eq(o.ping_interval_ms, 8000);
	cr_assert_eq(o.ping_timeout_ms, 30000);
	cr_assert_not(o.ping_timeout_disabled);
	cr_assert_eq(o.handshake_timeout_ms, 10000);
	cr_assert_eq(o.ack_timeout_ms, 10000);
	cr_assert(o.allow_client_publish);
	cr_assert_eq(o.socket_channel_limit, 0);
	cr_assert_not(o.echo);
	cr_assert_eq(o.max_conns, 10000);
	cr_assert_eq(o.max_payload, 1049600);
	cr_assert_eq(o.max_header, 8192);
	cr_assert_eq(o.outbound_limit, 8u << 20);
	cr_assert_eq(o.send_timeout_ms, 10000);
	cr_assert_eq(o.inbound_ring, 256);
	cr_assert_eq(o.inbound_limit, 4u << 20);
	cr_assert_eq(o.outbound_ring, 1024);
	cr_assert_eq(o.recv_buffers, 1024);
	cr_assert_eq(o.uring_mode, SLUICE_URING_DEFER);
	cr_assert_eq(o.slow_policy, SLUICE_SLOW_DISCONNECT);
	cr_assert_eq(o.backpressure_limit, 0);
	cr_assert_eq(o.inbound_rate, 0);
	cr_assert_eq(o.inbound_burst, 1000);
	cr_assert_eq(o.channel_backlog_limit, 0);
	cr_assert_str_eq(o.stats_socket, "");
	cr_assert_eq(o.stats_mode, 0600);
	cr_assert_str_eq(o.metrics_listen, "");
}

/* ---- set by name -------------------------------------------------------- */

enum check { NUM, STR, REFUSED };

struct set_case {
	const char *name, *value;
	enum check check;
	size_t off, size; /* the field */
	uint64_t num;
	const char *str;
};

#define FLD(f) offsetof(struct sluice_options, f), sizeof(((struct sluice_options *)0)->f)
#define SET_NUM(n, v, f, x)                                                                        \
	{                                                                                          \
		n, v, NUM, FLD(f), x, NULL                                                         \
	}
#define SET_STR(n, v, f)                                                                           \
	{                                                                                          \
		n, v, STR, FLD(f), 0, v                                                            \
	}
#define REFUSE(n, v)                                                                               \
	{                                                                                          \
		n, v, REFUSED, 0, 0, 0, NULL                                                       \
	}

static char long63[64], long64[65], path255[256], path256[257], long1023[1024], long1024[1025];

static const struct set_case set_cases[] = {
    SET_STR("host", "127.0.0.1", host),
    SET_STR("host", "", host),
    SET_STR("host", long63, host),
    REFUSE("host", long64),
    SET_STR("path", "/", path),
    SET_STR("path", "/a b/c?d", path),
    SET_STR("path", path255, path),
    REFUSE("path", path256),
    REFUSE("path", ""),
    REFUSE("path", "socketcluster/"),
    SET_STR("origins", "a.com:* *:443", origins),
    SET_STR("origins", long1023, origins),
    REFUSE("origins", long1024),
    SET_NUM("port", "0", port, 0),
    SET_NUM("port", "443", port, 443),
    SET_NUM("port", "65535", port, 65535),
    REFUSE("port", "65536"),
    REFUSE("port", "-1"),
    REFUSE("port", ""),
    REFUSE("port", "abc"),
    REFUSE("port", "80x"),
    REFUSE("port", "1.5"),
    REFUSE("port", "0x50"),
    REFUSE("port", "99999999999999999999999"),
    SET_NUM("reactors", "1", reactors, 1),
    SET_NUM("reactors", "256", reactors, 256),
    REFUSE("reactors", "0"),
    REFUSE("reactors", "257"),
    SET_NUM("workers", "7", workers, 7),
    REFUSE("workers", "0"),
    SET_NUM("protocol-version", "1", protocol_version, 1),
    SET_NUM("protocol-version", "2", protocol_version, 2),
    REFUSE("protocol-version", "0"),
    REFUSE("protocol-version", "3"),
    REFUSE("protocol-version", "v2"),
    SET_NUM("ping-interval", "1", ping_interval_ms, 1),
    SET_NUM("ping-interval", "4294967295", ping_interval_ms, 4294967295u),
    REFUSE("ping-interval", "0"),
    REFUSE("ping-interval", "4294967296"),
    SET_NUM("ping-timeout", "30001", ping_timeout_ms, 30001),
    REFUSE("ping-timeout", "0"),
    SET_NUM("ping-timeout-disabled", "true", ping_timeout_disabled, 1),
    REFUSE("ping-timeout-disabled", "2"),
    SET_NUM("handshake-timeout", "500", handshake_timeout_ms, 500),
    REFUSE("handshake-timeout", "0"),
    SET_NUM("ack-timeout", "20000", ack_timeout_ms, 20000),
    REFUSE("ack-timeout", "0"),
    SET_NUM("allow-client-publish", "no", allow_client_publish, 0),
    REFUSE("allow-client-publish", "nope"),
    SET_NUM("socket-channel-limit", "0", socket_channel_limit, 0),
    SET_NUM("socket-channel-limit", "4294967295", socket_channel_limit, 4294967295u),
    SET_NUM("max-conns", "1", max_conns, 1),
    SET_NUM("max-conns", "16777216", max_conns, 16777216),
    REFUSE("max-conns", "0"),
    REFUSE("max-conns", "16777217"),
    SET_NUM("max-payload", "1", max_payload, 1),
    SET_NUM("max-payload", "2147483648", max_payload, 2147483648u),
    REFUSE("max-payload", "2147483649"),
    REFUSE("max-payload", "0"),
    SET_NUM("max-header", "256", max_header, 256),
    SET_NUM("max-header", "1048576", max_header, 1048576),
    REFUSE("max-header", "255"),
    REFUSE("max-header", "1048577"),
    SET_NUM("outbound-limit", "1024", outbound_limit, 1024),
    SET_NUM("outbound-limit", "18446744073709551615", outbound_limit, UINT64_MAX),
    REFUSE("outbound-limit", "1023"),
    REFUSE("outbound-limit", "18446744073709551616"),
    SET_NUM("send-timeout", "1", send_timeout_ms, 1),
    REFUSE("send-timeout", "0"),
    SET_NUM("inbound-ring", "2", inbound_ring, 2),
    SET_NUM("inbound-ring", "1048576", inbound_ring, 1048576),
    REFUSE("inbound-ring", "1"),
    REFUSE("inbound-ring", "1048577"),
    SET_NUM("inbound-limit", "1", inbound_limit, 1),
    REFUSE("inbound-limit", "0"),
    SET_NUM("outbound-ring", "2", outbound_ring, 2),
    SET_NUM("outbound-ring", "1048576", outbound_ring, 1048576),
    REFUSE("outbound-ring", "1"),
    SET_NUM("recv-buffers", "1", recv_buffers, 1),
    SET_NUM("recv-buffers", "2", recv_buffers, 2),
    SET_NUM("recv-buffers", "4096", recv_buffers, 4096),
    SET_NUM("recv-buffers", "32768", recv_buffers, 32768),
    REFUSE("recv-buffers", "0"),
    REFUSE("recv-buffers", "3"),
    REFUSE("recv-buffers", "1000"),
    REFUSE("recv-buffers", "65536"),
    SET_NUM("io-uring", "defer", uring_mode, SLUICE_URING_DEFER),
    SET_NUM("io-uring", "coop", uring_mode, SLUICE_URING_COOP),
    SET_NUM("io-uring", "plain", uring_mode, SLUICE_URING_PLAIN),
    REFUSE("io-uring", "Defer"),
    REFUSE("io-uring", ""),
    REFUSE("io-uring", "sqpoll"),
    REFUSE("io-uring", "0"),
    SET_NUM("slow-consumer-policy", "disconnect", slow_policy, SLUICE_SLOW_DISCONNECT),
    SET_NUM("slow-consumer-policy", "drop-oldest", slow_policy, SLUICE_SLOW_DROP_OLDEST),
    REFUSE("slow-consumer-policy", "drop"),
    REFUSE("slow-consumer-policy", "Disconnect"),
    REFUSE("slow-consumer-policy", ""),
    SET_NUM("backpressure-limit", "0", backpressure_limit, 0),
    SET_NUM("backpressure-limit", "5000", backpressure_limit, 5000),
    REFUSE("backpressure-limit", "-1"),
    SET_NUM("inbound-rate", "0", inbound_rate, 0),
    SET_NUM("inbound-rate", "100", inbound_rate, 100),
    SET_NUM("inbound-burst", "1", inbound_burst, 1),
    REFUSE("inbound-burst", "0"),
    SET_NUM("channel-backlog-limit", "0", channel_backlog_limit, 0),
    SET_NUM("channel-backlog-limit", "42", channel_backlog_limit, 42),
    SET_STR("stats-socket", "/run/sluice/stats.sock", stats_socket),
    SET_STR("stats-socket", "", stats_socket),
    SET_NUM("stats-socket-mode", "0660", stats_mode, 0660),
    SET_NUM("stats-socket-mode", "600", stats_mode, 0600),
    REFUSE("stats-socket-mode", "0800"),
    REFUSE("stats-socket-mode", "1777"),
    REFUSE("stats-socket-mode", "rw"),
    SET_STR("metrics-listen", "127.0.0.1:9464", metrics_listen),
    SET_NUM("echo", "on", echo, 1),
    REFUSE("echo", ""),
};

static void fill(char *buf, size_t n, char first)
{
	memset(buf, 'x', n - 1);
	buf[0] = first;
	buf[n - 1] = '\0';
}

static void make_long_values(void)
{
	fill(long63, sizeof(long63), 'h');
	fill(long64, sizeof(long64), 'h');
	fill(path255, sizeof(path255), '/');
	fill(path256, sizeof(path256), '/');
	fill(long1023, sizeof(long1023), 'o');
	fill(long1024, sizeof(long1024), 'o');
}

static uint64_t field_num(const struct sluice_options *o, size_t off, size_t size)
{
	const char *p = (const char *)o + off;
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;

	switch (size) {
	case 1:
		memcpy(&u8, p, 1);
		return u8;
	case 2:
		memcpy(&u16, p, 2);
		return u16;
	case 4:
		memcpy(&u32, p, 4);
		return u32; /* int fields hold small positive values */
	default:
		memcpy(&u64, p, 8);
		return u64;
	}
}

Test(options, set_table, .init = make_long_values)
{
	for (size_t i = 0; i < N(set_cases); i++) {
		const struct set_case *c = &set_cases[i];
		struct sluice_options o;
		char err[256] = "", what[128], opt[64];
		int rc;

		snprintf(what, sizeof(what), "--%s '%.40s'", c->name, c->value);
		defaults(&o);
		rc = sluice_options_set(&o, c->name, c->value, err, sizeof(err));
		if (c->check == REFUSED) {
			cr_assert_eq(rc, -EINVAL, "%s: rc %d", what, rc);
			snprintf(opt, sizeof(opt), "--%s", c->name);
			cr_assert(strstr(err, opt), "%s: message '%s' names the option", what, err);
			assert_unchanged(&o, what);
			continue;
		}
		cr_assert_eq(rc, 0, "%s: rc %d (%s)", what, rc, err);
		if (c->check == STR)
			cr_assert_str_eq((const char *)&o + c->off, c->str, "%s", what);
		else
			cr_assert_eq(field_num(&o, c->off, c->size), c->num, "%s: %llu", what,
				     (unsigned long long)field_num(&o, c->off, c->size));
	}
}

Test(options, booleans)
{
	static const struct {
		const char *v;
		int want; /* -1: refused */
	} cases[] = {
	    {"true", 1}, {"false", 0},	{"yes", 1},    {"no", 0},	{"on", 1},
	    {"off", 0},	 {"1", 1},	{"0", 0},      {"TRUE", 1},	{"False", 0},
	    {"YES", 1},	 {"Off", 0},	{"", -1},      {"2", -1},	{"y", -1},
	    {"n", -1},	 {"truee", -1}, {" true", -1}, {"enabled", -1},
	};
	static const char *const bools[] = {"echo", "allow-client-publish",
					    "ping-timeout-disabled"};

	for (size_t b = 0; b < N(bools); b++) {
		for (size_t i = 0; i < N(cases); i++) {
			struct sluice_options o;
			char err[256] = "";
			bool *field = strcmp(bools[b], "echo") == 0 ? &o.echo
				      : strcmp(bools[b], "allow-client-publish") == 0
					  ? &o.allow_client_publish
					  : &o.ping_timeout_disabled;
			defaults(&o);
			*field = !cases[i].want; /* so that a set is visible */
			int rc = sluice_options_set(&o, bools[b], cases[i].v, err, sizeof(err));
			if (cases[i].want < 0) {
				cr_assert_eq(rc, -EINVAL, "%s '%s'", bools[b], cases[i].v);
				cr_assert(strstr(err, bools[b]), "%s '%s': '%s'", bools[b],
					  cases[i].v, err);
			} else {
				cr_assert_eq(rc, 0, "%s '%s': %s", bools[b], cases[i].v, err);
				cr_assert_eq(*field, cases[i].want, "%s '%s'", bools[b],
					     cases[i].v);
			}
		}
	}
}

Test(options, unknown_names)
{
	static const char *const bad[] = {
	    "nope", "", "--port", "Port", "port ", "ping", "ping-timeout-", "config", "help"};

	for (size_t i = 0; i < N(bad); i++) {
		struct sluice_options o;
		char err[256] = "";

		defaults(&o);
		cr_assert_eq(sluice_options_set(&o, bad[i], "1", err, sizeof(err)), -ENOENT, "'%s'",
			     bad[i]);
		cr_assert(strstr(err, "unknown option"), "'%s': '%s'", bad[i], err);
		assert_unchanged(&o, bad[i]);
	}
}

Test(options, err_may_be_null_or_short)
{
	struct sluice_options o;
	char err[8];

	defaults(&o);
	cr_assert_eq(sluice_options_set(&o, "port", "x", NULL, 0), -EINVAL);
	cr_assert_eq(sluice_options_set(&o, "nope", "x", NULL, 0), -ENOENT);
	memset(err, '#', sizeof(err));
	cr_assert_eq(sluice_options_set(&o, "port", "x", err, sizeof(err)), -EINVAL);
	cr_assert_eq(err[7], '\0', "truncated and terminated");
	cr_assert_eq(strncmp(err, "--port", 6), 0);
}

/*
 * A number with a space and a minus sign in front wrapped around: the
 * options whose maximum is UINT64_MAX took " -1" as 2^64 - 1.
 */
Test(options, negative_numbers_are_refused_with_leading_space)
{
	static const char *const opts[] = {"outbound-limit", "inbound-limit", "port"};

	for (size_t i = 0; i < N(opts); i++) {
		struct sluice_options o;
		char err[256] = "";

		defaults(&o);
		cr_assert_eq(sluice_options_set(&o, opts[i], " -1", err, sizeof(err)), -EINVAL,
			     "--%s ' -1' accepted: outbound_limit %llu, inbound_limit %llu",
			     opts[i], (unsigned long long)o.outbound_limit,
			     (unsigned long long)o.inbound_limit);
		assert_unchanged(&o, opts[i]);
	}
}

Test(options, usage_names_every_option_with_its_default)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int defaults_seen = 0;

	cr_assert_not_null(f);
	sluice_options_usage(f);
	fclose(f);
	for (const char *p = text; (p = strstr(p, "(default ")); p++)
		defaults_seen++;
	cr_assert_eq(defaults_seen, (int)N(names), "one default per option");

	for (size_t i = 0; i < N(names); i++) {
		char head[64], value[128];
		snprintf(head, sizeof(head), "  --%s ", names[i]);
		const char *at = strstr(text, head);
		cr_assert_not_null(at, "%s is in --help", names[i]);
		const char *next = strstr(at + 1, "\n  --");
		const char *def = strstr(at, "(default ");
		cr_assert(def && (!next || def < next), "%s has '(default '", names[i]);

		/* the default shown is one the option takes, and is the default */
		def += strlen("(default ");
		const char *end = strchr(def, ')');
		cr_assert_not_null(end);
		snprintf(value, sizeof(value), "%.*s", (int)(end - def), def);
		char *cpus = strstr(value, ": CPUs");
		if (cpus)
			*cpus = '\0';
		struct sluice_options o;
		char err[256] = "";
		defaults(&o);
		cr_assert_eq(sluice_options_set(&o, names[i], value, err, sizeof(err)), 0,
			     "%s: default '%s' refused: %s", names[i], value, err);
		assert_unchanged(&o, names[i]);
	}
	cr_assert(strstr(text, "  --port N "), "placeholder");
	cr_assert(strstr(text, "(default 8000)"));
	cr_assert(strstr(text, "(default /socketcluster/)"));
	cr_assert(strstr(text, "--config FILE"));
	free(text);
}

/* ---- config files --------------------------------------------------------- */

static char dir[64];
static int files;

static void make_dir(void)
{
	snprintf(dir, sizeof(dir), "/tmp/sluice-options-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	files = 0;
	make_long_values();
}

static void remove_dir(void)
{
	char path[128];

	for (int i = 0; i < files; i++) {
		snprintf(path, sizeof(path), "%s/%d.conf", dir, i);
		unlink(path);
	}
	rmdir(dir);
}

/* A new file in the test's directory holding text; its path in out. */
static const char *conf(const char *text, char out[128])
{
	snprintf(out, 128, "%s/%d.conf", dir, files++);
	FILE *f = fopen(out, "w");
	cr_assert_not_null(f, "%s", out);
	cr_assert_eq(fputs(text, f) >= 0, 1);
	cr_assert_eq(fclose(f), 0);
	return out;
}

Test(options, load_the_every_option_fixture)
{
	char path[512];
	char err[256] = "";
	struct sluice_options o;
	const char *slash = strrchr(__FILE__, '/');

	cr_assert_not_null(slash, "__FILE__ is a path: %s", __FILE__);
	snprintf(path, sizeof(path), "%.*s/fixtures/every_option.conf", (int)(slash - __FILE__),
		 __FILE__);
	defaults(&o);
	cr_assert_eq(sluice_options_load(&o, path, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(o.host, "10.0.0.1");
	cr_assert_eq(o.port, 9001);
	cr_assert_str_eq(o.path, "/sc path/");
	cr_assert_str_eq(o.origins, "example.com:* other.org:443 #frag");
	cr_assert_eq(o.reactors, 3);
	cr_assert_eq(o.workers, 5);
	cr_assert_eq(o.protocol_version, 1);
	cr_assert_eq(o.ping_interval_ms, 1000);
	cr_assert_eq(o.ping_timeout_ms, 2000);
	cr_assert(o.ping_timeout_disabled);
	cr_assert_eq(o.handshake_timeout_ms, 3000);
	cr_assert_eq(o.ack_timeout_ms, 4000);
	cr_assert_not(o.allow_client_publish);
	cr_assert_eq(o.socket_channel_limit, 100);
	cr_assert(o.echo);
	cr_assert_eq(o.max_conns, 500);
	cr_assert_eq(o.max_payload, 65536);
	cr_assert_eq(o.max_header, 4096);
	cr_assert_eq(o.outbound_limit, 1048576);
	cr_assert_eq(o.send_timeout_ms, 5000);
	cr_assert_eq(o.inbound_ring, 64);
	cr_assert_eq(o.inbound_limit, 262144);
	cr_assert_eq(o.outbound_ring, 128);
	cr_assert_eq(o.recv_buffers, 256);
	cr_assert_eq(o.uring_mode, SLUICE_URING_PLAIN);
	cr_assert_eq(o.busy_poll_us, 7);
	cr_assert_eq(o.slow_policy, SLUICE_SLOW_DROP_OLDEST);
	cr_assert_eq(o.backpressure_limit, 2000);
	cr_assert_eq(o.inbound_rate, 50);
	cr_assert_eq(o.inbound_burst, 20);
	cr_assert_eq(o.channel_backlog_limit, 777);
	cr_assert_str_eq(o.stats_socket, "/run/sluice/stats.sock");
	cr_assert_eq(o.stats_mode, 0640);
	cr_assert_str_eq(o.metrics_listen, "0.0.0.0:9464");
	cr_assert_str_eq(o.auth_algorithm, "RS256");
	cr_assert_str_eq(o.auth_key, "s3cret with spaces");
	cr_assert_str_eq(o.auth_key_file, "/etc/sluice/key");
	cr_assert_str_eq(o.auth_public_key, "/etc/sluice/pub.pem");
	cr_assert_str_eq(o.auth_private_key, "/etc/sluice/priv.pem");
	cr_assert_eq(o.auth_default_expiry_s, 3600);
	cr_assert_str_eq(o.subscribe_auth_channels, "private/* admin/*");
	cr_assert_str_eq(o.publish_auth_channels, "news");
}

Test(options, load_comments_blanks_quotes_and_whitespace, .init = make_dir, .fini = remove_dir)
{
	char path[128], err[256] = "";
	struct sluice_options o;

	conf("# a comment\n"
	     "\n"
	     "   # an indented comment\n"
	     "\t\n"
	     "port=9000\n"
	     "host   =   10.1.2.3   \n"
	     "\tworkers\t=\t4\t\n"
	     "origins = \"a.com:* b.com:80\"\n"
	     "path = \"/with # hash/\"\n"
	     "max-conns = 77 # a trailing comment\n"
	     "ping-interval = 1234#no space before it\n"
	     "echo = on\r\n"
	     "socket-channel-limit = a=b\n"
	     "ack-timeout = 5",
	     path);
	defaults(&o);
	int rc = sluice_options_load(&o, path, err, sizeof(err));
	/* "a=b" is no number: everything before that line was applied */
	cr_assert_eq(rc, -EINVAL);
	cr_assert(strstr(err, ":13: --socket-channel-limit"), "%s", err);
	cr_assert_eq(o.port, 9000);
	cr_assert_str_eq(o.host, "10.1.2.3");
	cr_assert_eq(o.workers, 4);
	cr_assert_str_eq(o.origins, "a.com:* b.com:80");
	cr_assert_str_eq(o.path, "/with # hash/");
	cr_assert_eq(o.max_conns, 77);
	cr_assert_eq(o.ping_interval_ms, 1234);
	cr_assert(o.echo, "CRLF line");

	conf("origins = a=b\n"
	     "host = \"\"\n"
	     "ack-timeout = 5", /* no newline at the end */
	     path);
	cr_assert_eq(sluice_options_load(&o, path, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(o.origins, "a=b", "split at the first '='");
	cr_assert_str_eq(o.host, "", "an empty quoted value");
	cr_assert_eq(o.ack_timeout_ms, 5);

	conf("", path);
	defaults(&o);
	cr_assert_eq(sluice_options_load(&o, path, err, sizeof(err)), 0, "an empty file");
	assert_unchanged(&o, "empty file");
}

/* A comment may follow a quoted value as it may follow a bare one. */
Test(options, load_comment_after_a_quoted_value, .init = make_dir, .fini = remove_dir)
{
	char path[128], err[256] = "";
	struct sluice_options o;

	conf("path = \"/a b/\" # the path\n", path);
	defaults(&o);
	cr_assert_eq(sluice_options_load(&o, path, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(o.path, "/a b/");
}

Test(options, load_errors_name_the_file_and_line, .init = make_dir, .fini = remove_dir)
{
	static const struct {
		const char *text;
		int line;
		const char *why;
	} cases[] = {
	    {"port = 1\nnonsense\n", 2, "expected 'name = value'"},
	    {"host = \"abc\n", 1, "unterminated quote"},
	    {"host = \"\n", 1, "unterminated quote"},
	    {"host = abc\"\n", -1, NULL}, /* a quote inside a bare value is just a byte */
	    {"config = other.conf\n", 1, "cannot include another"},
	    {"port = 70000\n", 1, "--port"},
	    {"\n\n# c\nport = x\n", 4, "--port: 'x'"},
	    {"bogus = 1\n", 1, "unknown option 'bogus'"},
	    {" = 1\n", 1, "unknown option ''"},
	    {"path = relative\n", 1, "--path"},
	};
	char path[128], err[512], want[256];

	for (size_t i = 0; i < N(cases); i++) {
		struct sluice_options o;
		defaults(&o);
		err[0] = '\0';
		conf(cases[i].text, path);
		int rc = sluice_options_load(&o, path, err, sizeof(err));
		if (cases[i].line < 0) {
			cr_assert_eq(rc, 0, "case %zu: %s", i, err);
			continue;
		}
		cr_assert_eq(rc, -EINVAL, "case %zu", i);
		snprintf(want, sizeof(want), "%s:%d: ", path, cases[i].line);
		cr_assert_eq(strncmp(err, want, strlen(want)), 0, "case %zu: '%s' starts '%s'", i,
			     err, want);
		cr_assert(strstr(err, cases[i].why), "case %zu: '%s' says '%s'", i, err,
			  cases[i].why);
	}
}

Test(options, load_long_lines, .init = make_dir, .fini = remove_dir)
{
	char path[128], err[256] = "";
	struct sluice_options o;
	static char text[4096];

	/* the longest origins fits a line; a line past the buffer is refused */
	snprintf(text, sizeof(text), "origins = %s\n", long1023);
	conf(text, path);
	defaults(&o);
	cr_assert_eq(sluice_options_load(&o, path, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(o.origins, long1023);

	memset(text, ' ', 3000);
	memcpy(text + 3000, "port = 1\n", 10);
	conf(text, path);
	cr_assert_eq(sluice_options_load(&o, path, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, ":1: line longer than"), "%s", err);
}

Test(options, load_a_missing_file)
{
	char err[256] = "";
	struct sluice_options o;
	const char *path = "/nonexistent/sluice/options.conf";

	defaults(&o);
	cr_assert_eq(sluice_options_load(&o, path, err, sizeof(err)), -ENOENT);
	cr_assert(strstr(err, path), "%s", err);
	assert_unchanged(&o, "missing file");
}

/* ---- the command line --------------------------------------------------- */

static int parse(struct sluice_options *o, char **argv, int *stop, char *err)
{
	int argc = 0;

	while (argv[argc])
		argc++;
	*stop = -1;
	return sluice_options_parse(o, argc, argv, stop, err, 256);
}

#define ARGV(...) ((char *[]){"sluiced", __VA_ARGS__, NULL})

Test(options, parse_both_forms)
{
	struct sluice_options o;
	char err[256] = "";
	int stop;

	defaults(&o);
	cr_assert_eq(parse(&o,
			   ARGV("--port", "9000", "--host=1.2.3.4", "--path=/x=y", "--workers", "3",
				"--io-uring=coop", "--origins", "a:1 b:2"),
			   &stop, err),
		     0, "%s", err);
	cr_assert_eq(stop, 10, "every argument used");
	cr_assert_eq(o.port, 9000);
	cr_assert_str_eq(o.host, "1.2.3.4");
	cr_assert_str_eq(o.path, "/x=y", "split at the first '='");
	cr_assert_eq(o.workers, 3);
	cr_assert_eq(o.uring_mode, SLUICE_URING_COOP);
	cr_assert_str_eq(o.origins, "a:1 b:2");

	defaults(&o);
	cr_assert_eq(parse(&o, ((char *[]){"sluiced", NULL}), &stop, err), 0);
	cr_assert_eq(stop, 1, "no arguments");
	assert_unchanged(&o, "no arguments");
}

Test(options, parse_bare_booleans)
{
	const struct {
		char **argv;
		int stop;
		bool echo;
		bool publish;
		const char *host;
	} cases[] = {
	    {ARGV("--echo"), 2, true, true, "0.0.0.0"},
	    {ARGV("--echo", "--host", "h"), 4, true, true, "h"},
	    {ARGV("--echo", "false", "--host", "h"), 5, false, true, "h"},
	    {ARGV("--echo", "0"), 3, false, true, "0.0.0.0"},
	    {ARGV("--echo", "YES"), 3, true, true, "0.0.0.0"},
	    {ARGV("--echo=no"), 2, false, true, "0.0.0.0"},
	    {ARGV("--allow-client-publish", "off", "--echo"), 4, true, false, "0.0.0.0"},
	    {ARGV("--echo", "--allow-client-publish"), 3, true, true, "0.0.0.0"},
	    {ARGV("--echo", "positional"), 2, true, true, "0.0.0.0"},
	};

	for (size_t i = 0; i < N(cases); i++) {
		struct sluice_options o;
		char err[256] = "";
		int stop;

		defaults(&o);
		o.allow_client_publish = true;
		cr_assert_eq(parse(&o, cases[i].argv, &stop, err), 0, "case %zu: %s", i, err);
		cr_assert_eq(stop, cases[i].stop, "case %zu: stop %d", i, stop);
		cr_assert_eq(o.echo, cases[i].echo, "case %zu: echo", i);
		cr_assert_eq(o.allow_client_publish, cases[i].publish, "case %zu: publish", i);
		cr_assert_str_eq(o.host, cases[i].host, "case %zu", i);
	}
}

Test(options, parse_stops_at_the_first_unknown_argument)
{
	const struct {
		char **argv;
		int stop;
		uint16_t port;
	} cases[] = {
	    {ARGV("--port", "1", "--help", "--port", "2"), 3, 1},
	    {ARGV("--version"), 1, 8000},
	    {ARGV("--help=x"), 1, 8000},
	    {ARGV("positional", "--port", "5"), 1, 8000},
	    {ARGV("-p", "5"), 1, 8000},
	    {ARGV("--"), 1, 8000},
	    {ARGV("--port", "7", "--portx", "8"), 3, 7},
	    {ARGV("--port=9", "--configx"), 2, 9},
	};

	for (size_t i = 0; i < N(cases); i++) {
		struct sluice_options o;
		char err[256] = "";
		int stop;

		defaults(&o);
		cr_assert_eq(parse(&o, cases[i].argv, &stop, err), 0, "case %zu: %s", i, err);
		cr_assert_eq(stop, cases[i].stop, "case %zu: stop %d", i, stop);
		cr_assert_eq(o.port, cases[i].port, "case %zu: port %u", i, o.port);
	}
}

Test(options, parse_errors)
{
	const struct {
		char **argv;
		const char *why;
	} cases[] = {
	    {ARGV("--port"), "--port needs a value"},
	    {ARGV("--echo", "--port"), "--port needs a value"},
	    {ARGV("--port", "x"), "--port: 'x'"},
	    {ARGV("--port=", "1"), "--port: ''"},
	    {ARGV("--io-uring", "fast"), "--io-uring: 'fast'"},
	    {ARGV("--config"), "--config needs a file"},
	    {ARGV("--config=/nonexistent/sluice.conf"), "/nonexistent/sluice.conf"},
	    {ARGV("--config", "/nonexistent/sluice.conf", "--port", "1"),
	     "/nonexistent/sluice.conf"},
	};

	for (size_t i = 0; i < N(cases); i++) {
		struct sluice_options o;
		char err[256] = "";
		int stop;

		defaults(&o);
		cr_assert_eq(parse(&o, cases[i].argv, &stop, err), -EINVAL, "case %zu", i);
		cr_assert(strstr(err, cases[i].why), "case %zu: '%s' says '%s'", i, err,
			  cases[i].why);
	}
}

Test(options, parse_config_applies_in_order, .init = make_dir, .fini = remove_dir)
{
	char path[128], path2[128], arg[160], err[256] = "";
	struct sluice_options o;
	int stop;

	conf("port = 1111\nhost = 10.0.0.9\necho = yes\n", path);
	conf("port = 2222\n", path2);

	/* the file overrides what came before, what comes after overrides the file */
	defaults(&o);
	cr_assert_eq(parse(&o,
			   ARGV("--port", "5", "--host", "h1", "--config", path, "--host", "h2"),
			   &stop, err),
		     0, "%s", err);
	cr_assert_eq(stop, 9);
	cr_assert_eq(o.port, 1111);
	cr_assert_str_eq(o.host, "h2");
	cr_assert(o.echo);

	/* --config=FILE, twice: the later file wins */
	defaults(&o);
	snprintf(arg, sizeof(arg), "--config=%s", path);
	cr_assert_eq(parse(&o, ARGV(arg, "--config", path2), &stop, err), 0, "%s", err);
	cr_assert_eq(stop, 4);
	cr_assert_eq(o.port, 2222);
	cr_assert_str_eq(o.host, "10.0.0.9");

	/* an error in the file is reported with its line */
	conf("port = 3\nworkers = many\n", path);
	defaults(&o);
	cr_assert_eq(parse(&o, ARGV("--config", path), &stop, err), -EINVAL);
	snprintf(arg, sizeof(arg), "%s:2: --workers", path);
	cr_assert(strstr(err, arg), "'%s' has '%s'", err, arg);
}
