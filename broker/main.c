/*
 * sluiced: the daemon. Parses options, starts the reactors (io/) and the
 * workers, prints one "listening" line, and on SIGINT or SIGTERM closes
 * every WebSocket with 1001 and frees everything before it exits.
 *
 * Threads: main only; SIGINT and SIGTERM are blocked in every thread and
 * taken here with sigwait.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io.h"
#include "sluice.h"
#include "worker.h"

static void usage(FILE *f, const struct io_config *d)
{
	fprintf(f,
		"usage: sluiced [options]\n"
		"\n"
		"A WebSocket message broker. Until the SocketCluster protocol lands, sluiced runs\n"
		"in echo mode: every message a client sends comes back unchanged.\n"
		"\n"
		"  --host ADDR              IPv4 address to listen on (default %s)\n"
		"  --port N                 TCP port; 0 lets the kernel pick one (default %u)\n"
		"  --path PATH              WebSocket path; other paths get HTTP 400 (default %s)\n"
		"  --origins LIST           allowed Origins, socketcluster style 'host:port ...',\n"
		"                           '*' for either side (default '%s')\n"
		"  --reactors N             I/O threads, each with its own io_uring (default %d: CPUs)\n"
		"  --workers N              worker threads (default %d: CPUs)\n"
		"  --max-conns N            connections per reactor; more are refused (default %u)\n"
		"  --max-payload BYTES      largest message; larger closes with 1009 (default %llu)\n"
		"  --max-header BYTES       largest HTTP request head; larger gets 431 (default %u)\n"
		"  --handshake-timeout MS   deadline for the whole HTTP request (default %u)\n"
		"  --outbound-limit BYTES   bytes queued for one client: past half of it sluiced takes no\n"
		"                           more of that client's requests until it reads; past all of\n"
		"                           it the client is disconnected as a slow consumer, close\n"
		"                           code %d (default %llu)\n"
		"  --send-timeout MS        a client that takes no byte of what sluiced sends for this\n"
		"                           long is disconnected as a slow consumer (default %u)\n"
		"  --inbound-ring N         messages one connection may queue for its worker; when\n"
		"                           full, sluiced stops reading that client (default %u)\n"
		"  --inbound-limit BYTES    bytes of messages one connection may queue for its worker;\n"
		"                           at least one message always fits (default %llu)\n"
		"  --outbound-ring N        frames one connection may queue for sending (default %u)\n"
		"  --recv-buffers N         16 KiB receive buffers per reactor, a power of two up to\n"
		"                           32768; when all are in use a read waits for one (default %u)\n"
		"  --io-uring MODE          reactor ring set-up: defer (SINGLE_ISSUER+DEFER_TASKRUN),\n"
		"                           coop (SINGLE_ISSUER+COOP_TASKRUN) or plain (default defer)\n"
		"  --echo                   echo mode (the default, for now)\n"
		"  --version                print the version\n"
		"  --help                   this text\n"
		"\n"
		"When it is ready sluiced prints 'sluiced: listening on ADDR:PORT'. SIGINT or SIGTERM\n"
		"closes every WebSocket with 1001 and exits 0.\n",
		d->host, d->port, d->path, d->origins, d->reactors, d->workers, d->max_conns,
		(unsigned long long)d->max_payload, d->max_header, d->handshake_timeout_ms,
		IO_CLOSE_SLOW_CONSUMER, (unsigned long long)d->outbound_limit, d->send_timeout_ms,
		d->inbound_ring, (unsigned long long)d->inbound_limit,
		d->outbound_ring, d->recv_buffers);
}

/* A whole number in [lo, hi], or exit 2 with a clear message. */
static unsigned long long number(const char *opt, const char *v, unsigned long long lo,
				 unsigned long long hi)
{
	char *end;
	unsigned long long x;

	errno = 0;
	x = strtoull(v, &end, 10);
	if (errno || end == v || *end || v[0] == '-' || x < lo || x > hi) {
		fprintf(stderr, "sluiced: --%s wants a whole number from %llu to %llu, not '%s'\n",
			opt, lo, hi, v);
		exit(2);
	}
	return x;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"host", required_argument, 0, 'h'},
		{"port", required_argument, 0, 'p'},
		{"path", required_argument, 0, 'P'},
		{"origins", required_argument, 0, 'o'},
		{"reactors", required_argument, 0, 'r'},
		{"workers", required_argument, 0, 'w'},
		{"max-conns", required_argument, 0, 'c'},
		{"max-payload", required_argument, 0, 'm'},
		{"max-header", required_argument, 0, 'H'},
		{"handshake-timeout", required_argument, 0, 't'},
		{"outbound-limit", required_argument, 0, 'l'},
		{"inbound-ring", required_argument, 0, 'i'},
		{"outbound-ring", required_argument, 0, 'O'},
		{"io-uring", required_argument, 0, 'u'},
		{"recv-buffers", required_argument, 0, 'b'},
		{"send-timeout", required_argument, 0, 'T'},
		{"inbound-limit", required_argument, 0, 'I'},
		{"echo", no_argument, 0, 'e'},
		{"version", no_argument, 0, 'V'},
		{"help", no_argument, 0, '?' + 256},
		{0, 0, 0, 0},
	};
	struct io_config cfg, dflt;
	struct io_server *s = NULL;
	struct workers *ws = NULL;
	sigset_t sigs;
	int opt, sig, rc;

	io_config_defaults(&cfg);
	dflt = cfg;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'h': cfg.host = optarg; break;
		case 'p': cfg.port = (uint16_t)number("port", optarg, 0, 65535); break;
		case 'P':
			if (optarg[0] != '/') {
				fprintf(stderr, "sluiced: --path must start with '/'\n");
				return 2;
			}
			cfg.path = optarg;
			break;
		case 'o': cfg.origins = optarg; break;
		case 'r': cfg.reactors = (int)number("reactors", optarg, 1, 64); break;
		case 'w': cfg.workers = (int)number("workers", optarg, 1, 64); break;
		case 'c': cfg.max_conns = (uint32_t)number("max-conns", optarg, 1, 1u << 20); break;
		case 'm': cfg.max_payload = number("max-payload", optarg, 1, 1ull << 32); break;
		case 'H': cfg.max_header = (uint32_t)number("max-header", optarg, 256, 1u << 20); break;
		case 't':
			cfg.handshake_timeout_ms =
				(uint32_t)number("handshake-timeout", optarg, 1, 3600000);
			break;
		case 'l': cfg.outbound_limit = number("outbound-limit", optarg, 1024, 1ull << 40); break;
		case 'i': cfg.inbound_ring = (uint32_t)number("inbound-ring", optarg, 2, 1u << 20); break;
		case 'O': cfg.outbound_ring = (uint32_t)number("outbound-ring", optarg, 2, 1u << 20); break;
		case 'u':
			if (!strcmp(optarg, "defer"))
				cfg.uring_mode = IO_URING_DEFER;
			else if (!strcmp(optarg, "coop"))
				cfg.uring_mode = IO_URING_COOP;
			else if (!strcmp(optarg, "plain"))
				cfg.uring_mode = IO_URING_PLAIN;
			else {
				fprintf(stderr, "sluiced: --io-uring is defer, coop or plain, not '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'b':
			cfg.recv_buffers = (uint32_t)number("recv-buffers", optarg, 1, 32768);
			if (cfg.recv_buffers & (cfg.recv_buffers - 1)) {
				fprintf(stderr, "sluiced: --recv-buffers must be a power of two\n");
				return 2;
			}
			break;
		case 'T':
			cfg.send_timeout_ms = (uint32_t)number("send-timeout", optarg, 100, 3600000);
			break;
		case 'I': cfg.inbound_limit = number("inbound-limit", optarg, 1024, 1ull << 40); break;
		case 'e': break;
		case 'V': printf("sluiced %s\n", SLUICE_VERSION); return 0;
		case '?' + 256: usage(stdout, &dflt); return 0;
		default: usage(stderr, &dflt); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "sluiced: unexpected argument '%s' (see --help)\n", argv[optind]);
		return 2;
	}

	/* every thread inherits the mask: the signals reach main's sigwait only */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	rc = io_server_create(&cfg, &s);
	if (rc < 0) {
		fprintf(stderr, "sluiced: cannot listen on %s:%u: %s\n", cfg.host, cfg.port,
			strerror(-rc));
		return 1;
	}
	rc = workers_start(s, cfg.workers, worker_echo, NULL, &ws);
	if (rc == 0)
		rc = io_server_start(s);
	if (rc < 0) {
		fprintf(stderr, "sluiced: cannot start threads: %s\n", strerror(-rc));
		workers_stop(ws);
		io_server_destroy(s);
		return 1;
	}
	printf("sluiced: listening on %s:%u\n", cfg.host, io_server_port(s));
	fflush(stdout);

	sigwait(&sigs, &sig);
	fprintf(stderr, "sluiced: %s, closing connections\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
	io_server_stop(s);
	workers_stop(ws);
	io_server_destroy(s);
	return 0;
}
