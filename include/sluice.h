/*
 * sluice.h: the public API of sluice, for programs that embed the broker.
 *
 * Today it holds the version; the embedding API (server options, procedure
 * and receiver handlers, listeners, backpressure getters) joins it with the
 * SocketCluster protocol. Everything here is stable: internals stay in the
 * module headers of lockfree/, io/ and broker/.
 */
#ifndef SLUICE_H
#define SLUICE_H

#define SLUICE_VERSION_MAJOR 0
#define SLUICE_VERSION_MINOR 1
#define SLUICE_VERSION_PATCH 0
#define SLUICE_VERSION       "0.1.0"

#endif
