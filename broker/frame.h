/*
 * frame: builds the JSON of outbound packets straight into an io_msg, the
 * WebSocket frame the reactor sends. One pass, no intermediate buffer: the
 * caller sizes the message from the parts it already has, so a realloc is
 * the exception.
 *
 * Threads: a struct frame belongs to the thread that builds it; the finished
 * io_msg may go anywhere.
 */
#ifndef SLUICE_FRAME_H
#define SLUICE_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "io.h"

struct frame {
	struct io_msg *m;
	bool oom;
};

/* Starts a text frame with room for cap payload bytes. */
void frame_begin(struct frame *f, size_t cap);

void frame_put(struct frame *f, const void *p, size_t n);

static inline void frame_lit(struct frame *f, const char *s)
{
	frame_put(f, s, strlen(s));
}

/* A JSON string, quoted and escaped, of the UTF-8 bytes s[0, n). */
void frame_str(struct frame *f, const char *s, size_t n);

/* A decimal integer. */
void frame_int(struct frame *f, int64_t v);

/* The finished frame (header written), or NULL when memory ran out (the
 * partial message is freed). */
struct io_msg *frame_end(struct frame *f);

/* Bytes frame_str writes for s[0, n), quotes included. */
size_t frame_str_len(const char *s, size_t n);

#endif
