/*
 * sluiced: the daemon, a small program on the embedding API (sluice.h).
 * Parses options (command line and --config file), runs a server with no
 * procedures of its own (pub/sub, keep-alive and the protocol come with
 * it), prints one "listening" line, and on SIGINT or SIGTERM closes every
 * WebSocket with 1001 and frees everything before it exits.
 *
 * Threads: main only; SIGINT and SIGTERM are blocked in every thread and
 * taken here with sigwait.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "sluice.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: sluiced [options]\n"
		   "\n"
		   "sluice, a SocketCluster message broker: clients connect with the npm\n"
		   "socketcluster-client over WebSocket, publish and subscribe on channels.\n"
		   "Invokes of procedures get %s (sluiced has none;\n"
		   "embed the broker through include/sluice.h to add them).\n"
		   "\n",
		SLUICE_UNKNOWN_PROCEDURE);
	sluice_options_usage(f);
	fprintf(f, "  %-27s print the version\n  %-27s this text\n", "--version", "--help");
	fprintf(f, "\n"
		   "Booleans take true/false (a bare --flag means true). Close codes: 1009 too\n"
		   "big, 4001 pong timeout, 4005 no handshake, 4008 bad handshake, 4009 message\n"
		   "before the handshake, 4100 slow consumer, 1001 shutting down.\n"
		   "\n"
		   "When it is ready sluiced prints 'sluiced: listening on ADDR:PORT'. SIGINT or\n"
		   "SIGTERM closes every WebSocket with 1001 and exits 0.\n");
}

int main(int argc, char **argv)
{
	struct sluice_options o;
	struct sluice_server *srv;
	char err[512];
	sigset_t sigs;
	int stop, sig, rc;

	sluice_options_defaults(&o);
	if (sluice_options_parse(&o, argc, argv, &stop, err, sizeof(err)) < 0) {
		fprintf(stderr, "sluiced: %s\n", err);
		return 2;
	}
	if (stop < argc) {
		if (strcmp(argv[stop], "--help") == 0 || strcmp(argv[stop], "-h") == 0) {
			usage(stdout);
			return 0;
		}
		if (strcmp(argv[stop], "--version") == 0) {
			printf("sluiced %s\n", SLUICE_VERSION);
			return 0;
		}
		fprintf(stderr, "sluiced: unknown argument '%s' (see --help)\n", argv[stop]);
		return 2;
	}

	/* every thread inherits the mask: the signals reach main's sigwait only */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	rc = sluice_server_create(&o, &srv);
	if (rc < 0) {
		fprintf(stderr, "sluiced: cannot listen on %s:%u: %s\n", o.host, o.port,
			strerror(-rc));
		return 1;
	}
	rc = sluice_server_start(srv);
	if (rc < 0) {
		fprintf(stderr, "sluiced: cannot start threads: %s\n", strerror(-rc));
		sluice_server_destroy(srv);
		return 1;
	}
	printf("sluiced: listening on %s:%u\n", o.host, sluice_server_port(srv));
	fflush(stdout);

	sigwait(&sigs, &sig);
	fprintf(stderr, "sluiced: %s, closing connections\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
	sluice_server_stop(srv);
	sluice_server_destroy(srv);
	return 0;
}
