/*
 * frame: JSON packets built in place in an outbound io_msg.
 *
 * Threads: any; a struct frame is the builder's own.
 */
#include "frame.h"

#include <stdlib.h>
#include <string.h>

void frame_begin(struct frame *f, size_t cap)
{
	f->m = io_msg_new(cap < 64 ? 64 : cap);
	f->oom = f->m == NULL;
	if (f->m)
		f->m->opcode = 0x1; /* text: the client reads binary as opaque data */
}

void frame_put(struct frame *f, const void *p, size_t n)
{
	struct io_msg *m = f->m;

	if (f->oom)
		return;
	if (m->len + n > m->cap) {
		uint64_t cap = m->cap * 2 > m->len + n ? m->cap * 2 : m->len + n;
		/* io_msg_new memory (malloc), never pooled: realloc is allowed */
		struct io_msg *g = realloc(m, sizeof(*m) + cap);
		if (!g) {
			io_msg_free(m);
			f->m = NULL;
			f->oom = true;
			return;
		}
		g->cap = cap;
		f->m = m = g;
	}
	memcpy(m->data + m->len, p, n);
	m->len += n;
}

static const char hex[] = "0123456789abcdef";

static size_t frame__esc(uint8_t ch, char out[6])
{
	switch (ch) {
	case '"': out[0] = '\\'; out[1] = '"'; return 2;
	case '\\': out[0] = '\\'; out[1] = '\\'; return 2;
	case '\n': out[0] = '\\'; out[1] = 'n'; return 2;
	case '\r': out[0] = '\\'; out[1] = 'r'; return 2;
	case '\t': out[0] = '\\'; out[1] = 't'; return 2;
	default:
		if (ch >= 0x20) {
			out[0] = (char)ch;
			return 1;
		}
		memcpy(out, "\\u00", 4);
		out[4] = hex[ch >> 4];
		out[5] = hex[ch & 15];
		return 6;
	}
}

size_t frame_str_len(const char *s, size_t n)
{
	char tmp[6];
	size_t k = 2;

	for (size_t i = 0; i < n; i++)
		k += frame__esc((uint8_t)s[i], tmp);
	return k;
}

void frame_str(struct frame *f, const char *s, size_t n)
{
	size_t run = 0;
	char tmp[6];

	frame_put(f, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		uint8_t ch = (uint8_t)s[i];
		if (ch >= 0x20 && ch != '"' && ch != '\\')
			continue;
		frame_put(f, s + run, i - run);
		frame_put(f, tmp, frame__esc(ch, tmp));
		run = i + 1;
	}
	frame_put(f, s + run, n - run);
	frame_put(f, "\"", 1);
}

void frame_int(struct frame *f, int64_t v)
{
	char buf[24];
	char *p = buf + sizeof(buf);
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	frame_put(f, p, (size_t)(buf + sizeof(buf) - p));
}

struct io_msg *frame_end(struct frame *f)
{
	if (f->oom)
		return NULL;
	io_msg_frame(f->m);
	return f->m;
}
