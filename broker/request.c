/*
 * request: a client's invoke of a registered procedure, from the moment its
 * worker hands it to the handler until the one answer, which may come from
 * any thread, later. A request holds a reference on its socket (so the
 * connection outlives it) and on the message it came in (so its event and
 * data stay where the handler read them): nothing is copied.
 *
 * Threads: request__invoke on the socket's worker; the sluice_request_*
 * functions on any thread, the answer once.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "frame.h"

struct sluice_request {
	struct sluice_socket *s;
	struct hstat *hs;       /* the procedure's cursors on the worker that started it */
	struct sproc *sp;       /* ... and on its socket, or NULL */
	struct io_msg *m;       /* holds data */
	int64_t cid;
	const char *data;
	size_t dlen;
	char event[];
};

void request__invoke(struct sluice_socket *s, struct io_msg *m, const struct handler *h,
		     const uint8_t *event, size_t elen, int64_t cid, const uint8_t *data,
		     size_t dlen)
{
	/* data outside m (a middleware's transform) is copied: the request may
	 * outlive the decision that holds it */
	bool inside = !data || (data >= m->data && data + dlen <= m->data + m->len);
	struct sluice_request *req = malloc(sizeof(*req) + elen + 1 + (inside ? 0 : dlen));

	if (!req) {
		static const char oom[] = "{\"name\":\"BrokerError\",\"message\":\"out of memory\"}";
		struct frame f;
		frame_begin(&f, 80);
		frame_lit(&f, "{\"rid\":");
		frame_int(&f, cid);
		frame_lit(&f, ",\"error\":");
		frame_lit(&f, oom);
		frame_lit(&f, "}");
		socket__send_msg(s, frame_end(&f));
		return;
	}
	req->s = s;
	req->hs = &h->stats[s->w->index];
	req->m = m;
	req->cid = cid;
	req->data = (const char *)data;
	req->dlen = data ? dlen : 0;
	memcpy(req->event, event, elen);
	req->event[elen] = '\0';
	if (!inside) {
		memcpy(req->event + elen + 1, data, dlen);
		req->data = req->event + elen + 1;
	}
	io_msg_hold(m, 1);
	socket__ref(s);
	/* cursors: started by this worker alone; done by whichever thread answers */
	uint64_t started = atomic_load_explicit(&req->hs->started, memory_order_relaxed) + 1;
	atomic_store_explicit(&req->hs->started, started, memory_order_relaxed);
	req->sp = socket__req_started(s, h);
	h->proc(req, h->ctx);
}

struct sluice_socket *sluice_request_socket(const struct sluice_request *req)
{
	return req->s;
}

const char *sluice_request_event(const struct sluice_request *req)
{
	return req->event;
}

const char *sluice_request_data(const struct sluice_request *req, size_t *len)
{
	*len = req->dlen;
	return req->data;
}

/* Sends {"rid":cid,<key>:<json>} (or {"rid":cid}) and frees req. */
static int request__answer(struct sluice_request *req, const char *key, const char *json,
			   size_t len)
{
	struct sluice_socket *s = req->s;
	struct frame f;
	int rc;

	frame_begin(&f, 32 + len);
	frame_lit(&f, "{\"rid\":");
	frame_int(&f, req->cid);
	if (json) {
		frame_lit(&f, key);
		frame_put(&f, json, len);
	}
	frame_lit(&f, "}");
	rc = socket__send_msg(s, frame_end(&f));
	atomic_fetch_add_explicit(&req->hs->done, 1, memory_order_relaxed);
	io_conn_gauge_add(s->c, GAUGE_REQ_DONE, 1);
	if (req->sp)
		atomic_fetch_add_explicit(&req->sp->done, 1, memory_order_relaxed);
	io_msg_free(req->m);
	free(req);
	socket__unref(s);
	return rc == -ENOBUFS ? 0 : rc; /* the socket is being cut off: the answer was taken */
}

int sluice_request_end(struct sluice_request *req, const char *data, size_t len)
{
	return request__answer(req, ",\"data\":", data, len);
}

int sluice_request_error_json(struct sluice_request *req, const char *error, size_t len)
{
	return request__answer(req, ",\"error\":", error, len);
}

int sluice_request_error(struct sluice_request *req, const char *name, const char *message,
			 const char *extra)
{
	struct frame f;
	int rc;

	name = name ? name : "Error";
	message = message ? message : "";
	frame_begin(&f, 32 + 2 * (strlen(name) + strlen(message)) + (extra ? strlen(extra) : 0));
	frame_lit(&f, "{\"name\":");
	frame_str(&f, name, strlen(name));
	frame_lit(&f, ",\"message\":");
	frame_str(&f, message, strlen(message));
	if (extra && *extra) {
		frame_lit(&f, ",");
		frame_lit(&f, extra);
	}
	frame_lit(&f, "}");
	if (f.oom) {
		static const char oom[] = "{\"name\":\"BrokerError\",\"message\":\"out of memory\"}";
		return request__answer(req, ",\"error\":", oom, sizeof(oom) - 1);
	}
	/* the error text is the payload of a scratch frame: answer with its bytes */
	rc = request__answer(req, ",\"error\":", (const char *)f.m->data, f.m->len);
	io_msg_free(f.m);
	return rc;
}
