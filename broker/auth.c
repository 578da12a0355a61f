/*
 * auth: JWT authentication of sockets. The token's signature and claims
 * are token.c's; this file owns what a socket does with them: the
 * #handshake (with its handshake and authenticate hooks), #authenticate,
 * #removeAuthToken, the server's own set/remove, and expiry.
 *
 *   #handshake --[handshake hook]--> token? --verify--> [authenticate hook]
 *        |               |blocked: error, close        |bad: authError, then #removeAuthToken
 *        '---------------'-----------------------------'--> answer, connection event
 *
 * A socket's token (struct auth: its payload and exp) is replaced whole and
 * the old one retired through the epoch, so a publish-out hook on another
 * worker may read a recipient's payload inside its epoch section.
 *
 * Threads: the socket's worker, except auth__init/deinit (server set-up).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "broker.h"
#include "frame.h"
#include "token.h"

int auth__init(struct sluice_server *srv, char *err, size_t errlen)
{
	const struct sluice_options *o = &srv->o;
	char msg[256];
	uint8_t rnd[32];
	const void *secret = o->auth_key;
	size_t len = strlen(o->auth_key);
	int rc;

	(void)err, (void)errlen;
	srv->keys = calloc(1, sizeof(*srv->keys));
	if (!srv->keys)
		return -ENOMEM;
	char filekey[512];
	if (!len && o->auth_key_file[0]) {
		FILE *f = fopen(o->auth_key_file, "r");
		size_t n = f ? fread(filekey, 1, sizeof(filekey), f) : 0;
		if (f)
			fclose(f);
		while (n && (filekey[n - 1] == '\n' || filekey[n - 1] == '\r'))
			n--; /* a secret written by echo ends in a newline */
		if (!n) {
			fprintf(stderr, "sluice: auth-key-file %s: unreadable or empty\n",
				o->auth_key_file);
			free(srv->keys);
			srv->keys = NULL;
			return -EINVAL;
		}
		secret = filekey;
		len = n;
	}
	if (!len && (!o->auth_algorithm[0] || strcmp(o->auth_algorithm, "HS256") == 0)) {
		/* no key given: a random one, as socketcluster does (tokens then
		 * verify only within this run) */
		if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
			free(srv->keys);
			srv->keys = NULL;
			return -EIO;
		}
		secret = rnd;
		len = sizeof(rnd);
	}
	rc = token_keys_init(srv->keys, o->auth_algorithm[0] ? o->auth_algorithm : "HS256", secret,
			     len, o->auth_private_key[0] ? o->auth_private_key : NULL,
			     o->auth_public_key[0] ? o->auth_public_key : NULL, msg, sizeof(msg));
	if (rc < 0) {
		fprintf(stderr, "sluice: auth keys: %s\n", msg);
		free(srv->keys);
		srv->keys = NULL;
		return rc;
	}
	return 0;
}

void auth__deinit(struct sluice_server *srv)
{
	if (!srv->keys)
		return;
	token_keys_deinit(srv->keys);
	free(srv->keys);
	srv->keys = NULL;
}

static int64_t auth__now_s(void)
{
	return (int64_t)time(NULL);
}

static void auth__free_entry(epoch_entry_t *e)
{
	free((struct auth *)((char *)e - offsetof(struct auth, entry)));
}

/* Makes payload (exp) the socket's token; NULL drops it. */
static void auth__set(struct sluice_socket *s, const char *payload, size_t len, int64_t exp)
{
	struct auth *nu = NULL, *old;

	if (payload) {
		nu = malloc(sizeof(*nu) + len + 1);
		if (!nu)
			return;
		memcpy(nu->payload, payload, len);
		nu->payload[len] = '\0';
		nu->len = len;
		nu->exp = exp;
	}
	/* release: a reader on another worker sees the payload whole */
	old = atomic_exchange_explicit(&s->auth, nu, memory_order_acq_rel);
	if (old)
		epoch_retire(s->w->rec, &old->entry, auth__free_entry);
	s->auth_deadline_ms = 0;
	if (nu && exp) {
		int64_t left = exp - auth__now_s();
		s->auth_deadline_ms = server__now_ms() + (uint64_t)(left > 0 ? left : 0) * 1000;
		socket__watch(s, s->auth_deadline_ms);
	}
}

void auth__free(struct sluice_socket *s)
{
	/* relaxed: the socket is being freed; nobody else can see it */
	free(atomic_load_explicit(&s->auth, memory_order_relaxed));
}

static void auth__send(struct sluice_socket *s, const char *json)
{
	socket__send(s, (const uint8_t *)json, strlen(json));
}

void auth__drop(struct sluice_socket *s, bool tell)
{
	/* relaxed: the worker's own field */
	if (!atomic_load_explicit(&s->auth, memory_order_relaxed))
		return;
	auth__set(s, NULL, 0, 0);
	if (tell)
		auth__send(s, "{\"event\":\"#removeAuthToken\"}");
}

void auth__check_expiry(struct sluice_socket *s)
{
	/* relaxed: the worker's own field */
	struct auth *a = atomic_load_explicit(&s->auth, memory_order_relaxed);

	if (a && a->exp && auth__now_s() >= a->exp)
		auth__drop(s, true);
}

/* An ISO 8601 date of a Unix time, as JSON.stringify writes a Date. */
static void auth__iso(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
}

/*
 * Verifies jwt; on success *payload (malloc'd, the caller frees) and *exp;
 * else the error JSON the client is told (in err, NUL-terminated) and a
 * negative code.
 */
static int auth__verify(struct sluice_server *srv, const char *jwt, size_t len, char **payload,
			size_t *plen, int64_t *exp, char *err, size_t errlen)
{
	struct token_claims cl;
	char when[32];
	int rc = token_verify(srv->keys, jwt, len, auth__now_s(), &cl);

	if (rc == 0) {
		*payload = cl.payload;
		*plen = cl.len;
		*exp = cl.has_exp ? cl.exp : 0;
		return 0;
	}
	switch (rc) {
	case TOKEN_ERR_EXPIRED:
		auth__iso(cl.exp, when);
		snprintf(err, errlen,
			 "{\"name\":\"AuthTokenExpiredError\",\"message\":\"jwt expired\","
			 "\"expiry\":\"%s\",\"isBadToken\":true}",
			 when);
		break;
	case TOKEN_ERR_NOT_BEFORE:
		auth__iso(cl.nbf, when);
		/* a good token, only early: not bad, so the client keeps it */
		snprintf(err, errlen,
			 "{\"name\":\"AuthTokenNotBeforeError\",\"message\":\"jwt not active\","
			 "\"date\":\"%s\",\"isBadToken\":false}",
			 when);
		break;
	case TOKEN_ERR_SIGNATURE:
		snprintf(err, errlen, "{\"name\":\"AuthTokenInvalidError\",\"message\":"
				      "\"invalid signature\",\"isBadToken\":true}");
		break;
	case TOKEN_ERR_ALG:
		snprintf(err, errlen, "{\"name\":\"AuthTokenInvalidError\",\"message\":"
				      "\"invalid algorithm\",\"isBadToken\":true}");
		break;
	default:
		snprintf(err, errlen, "{\"name\":\"AuthTokenInvalidError\",\"message\":"
				      "\"jwt malformed\",\"isBadToken\":true}");
		break;
	}
	return rc;
}

/* {"rid":N,"data":{"id":...,"pingTimeout":...,"isAuthenticated":b[,"authError":e]}} */
static void auth__answer(struct sluice_socket *s, int64_t cid, bool authenticated,
			 const char *auth_error)
{
	struct frame f;

	frame_begin(&f, 128 + (auth_error ? strlen(auth_error) : 0));
	frame_lit(&f, "{\"rid\":");
	frame_int(&f, cid);
	frame_lit(&f, ",\"data\":{\"id\":");
	frame_str(&f, s->id, strlen(s->id));
	frame_lit(&f, ",\"pingTimeout\":");
	frame_int(&f, s->srv->o.ping_timeout_ms);
	frame_lit(&f, authenticated ? ",\"isAuthenticated\":true" : ",\"isAuthenticated\":false");
	if (auth_error) {
		frame_lit(&f, ",\"authError\":");
		frame_lit(&f, auth_error);
	}
	frame_lit(&f, "}}");
	socket__send_msg(s, frame_end(&f));
}

/* Stage of a #handshake after its handshake hook allowed it: the token. */
enum { HS_HOOK = 0, HS_TOKEN, HS_DONE };

#define AUTH_NOT_A_STRING "{\"name\":\"AuthTokenError\",\"message\":\"Invalid token format - " \
			  "Token must be a string\",\"isBadToken\":true}"

/*
 * The token in the handshake's data: 1 with its text in out, 0 when there
 * is none (absent, null, or ""), -1 when it is not a string.
 */
static int auth__token_of(const uint8_t *buf, const struct packet *p, char *out, size_t cap)
{
	const char *v;
	size_t vl;

	if (!packet_has(p->data) ||
	    sluice_json_member((const char *)buf + p->data.off, p->data.len, "authToken", &v,
			       &vl) < 0 ||
	    (vl == 4 && memcmp(v, "null", 4) == 0))
		return 0;
	if (sluice_json_string(v, vl, out, cap) < 0)
		return -1;
	return out[0] ? 1 : 0;
}

/* {"rid":cid,"data":{"isAuthenticated":false,"authError":<err>}}: a token
 * that is good but not taken (early, or refused by the hook); kept by the client. */
static void auth__refused(struct sluice_socket *s, int64_t cid, const char *err, size_t n)
{
	struct frame f;

	frame_begin(&f, 64 + n);
	frame_lit(&f, "{\"rid\":");
	frame_int(&f, cid);
	frame_lit(&f, ",\"data\":{\"isAuthenticated\":false,\"authError\":");
	frame_put(&f, err, n);
	frame_lit(&f, "}}");
	socket__send_msg(s, frame_end(&f));
}

/*
 * Asks the authenticate hook about a verified token (payload, malloc'd: the
 * action owns it now). True when it decided at once: *d then holds the
 * decision (mw__clear it); false when the packet waits (resumed at stage).
 */
static bool auth__ask(struct sluice_socket *s, struct io_msg *m, const struct packet *p,
		      char *payload, size_t plen, int64_t exp, int stage, struct sluice_action *d)
{
	struct sluice_action *a = &s->act;

	a->kind = SLUICE_MW_AUTHENTICATE;
	a->p = *p;
	a->in_batch = false;
	a->sync_only = false;
	a->payload = payload;
	a->plen = plen;
	a->exp = exp;
	a->data = payload;
	a->dlen = plen;
	a->stage = stage;
	if (!mw__ask(s, m))
		return false;
	mw__take(s, d);
	return true;
}

void auth__handshake(struct sluice_socket *s, struct io_msg *m, const struct packet *p,
		     const struct sluice_action *d)
{
	struct sluice_server *srv = s->srv;
	const uint8_t *buf = m->data;
	int stage = d ? d->stage : HS_HOOK;

	if (stage == HS_HOOK) {
		if (!p->has_cid) {
			io_conn_close(s->c, SLUICE_CLOSE_BAD_HANDSHAKE,
				      "#handshake without a numeric cid");
			return;
		}
		if (mw__hooked(srv, SLUICE_MW_HANDSHAKE)) {
			struct sluice_action *a = &s->act;
			a->kind = SLUICE_MW_HANDSHAKE;
			a->p = *p;
			a->in_batch = false;
			a->sync_only = false;
			a->data = packet_has(p->data) ? (const char *)buf + p->data.off : NULL;
			a->dlen = p->data.len;
			a->stage = HS_TOKEN;
			if (!mw__ask(s, m))
				return; /* socket__resume calls again with the decision */
			struct sluice_action now;
			mw__take(s, &now);
			auth__handshake(s, m, p, &now);
			mw__clear(&now);
			return;
		}
		stage = HS_TOKEN;
		d = NULL;
	}
	if (stage == HS_TOKEN) {
		if (d && (d->decision == ACT_BLOCK || d->decision == ACT_SILENT)) {
			size_t n;
			const char *err = mw__error(d, &n);
			socket__error_json(s, p->cid, err, n);
			io_conn_close(s->c, d->close_code ? d->close_code : SLUICE_CLOSE_BAD_HANDSHAKE,
				      "handshake rejected");
			return;
		}
		char tok[16384];
		int has = auth__token_of(buf, p, tok, sizeof(tok));
		if (has == 0) {
			auth__answer(s, p->cid, false, NULL);
			socket__handshaken(s);
			return;
		}
		const char *jwt = tok;
		char err[512], *payload = NULL;
		size_t plen = 0;
		int64_t exp = 0;
		int vr = has < 0 ? TOKEN_ERR_MALFORMED
				 : auth__verify(srv, jwt, strlen(jwt), &payload, &plen, &exp, err,
						sizeof(err));
		if (has < 0)
			snprintf(err, sizeof(err), "%s", AUTH_NOT_A_STRING);
		if (vr < 0) {
			auth__answer(s, p->cid, false, err);
			if (vr != TOKEN_ERR_NOT_BEFORE) /* a bad token: the client drops it */
				auth__send(s, "{\"event\":\"#removeAuthToken\"}");
			socket__handshaken(s);
			return;
		}
		if (mw__hooked(srv, SLUICE_MW_AUTHENTICATE)) {
			struct sluice_action now;
			if (auth__ask(s, m, p, payload, plen, exp, HS_DONE, &now)) {
				auth__handshake(s, m, p, &now);
				mw__clear(&now);
			}
			return;
		}
		auth__set(s, payload, plen, exp);
		free(payload);
		auth__answer(s, p->cid, true, NULL);
		socket__handshaken(s);
		return;
	}
	/* HS_DONE: the authenticate hook decided on a token that verified; a
	 * refusal is no bad token, so the client is not told to drop it */
	if (d->decision == ACT_BLOCK || d->decision == ACT_SILENT) {
		size_t n;
		const char *err = mw__error(d, &n);
		char *e = strndup(err, n);
		auth__answer(s, p->cid, false, e ? e : "null");
		free(e);
	} else {
		auth__set(s, d->payload, d->plen, d->exp);
		auth__answer(s, p->cid, true, NULL);
	}
	socket__handshaken(s);
}

void auth__authenticate(struct sluice_socket *s, struct io_msg *m, const struct packet *p,
			const struct sluice_action *d)
{
	struct sluice_server *srv = s->srv;
	const uint8_t *buf = m->data;
	struct frame f;

	if (!d) {
		char tok[16384], err[512], *payload = NULL;
		size_t plen = 0;
		int64_t exp = 0;
		long n;

		if (!p->has_cid) {
			io_conn_close(s->c, SLUICE_CLOSE_BAD_HANDSHAKE, "#authenticate without a cid");
			return;
		}
		n = packet_has(p->data) ? sluice_json_string((const char *)buf + p->data.off,
							      p->data.len, tok, sizeof(tok))
					: -EINVAL;
		int vr = n < 0 ? 0
			       : auth__verify(srv, tok, (size_t)n, &payload, &plen, &exp, err,
					      sizeof(err));
		if (vr == TOKEN_ERR_NOT_BEFORE) { /* good but early */
			auth__refused(s, p->cid, err, strlen(err));
			return;
		}
		if (n < 0 || vr < 0) {
			bool none = !packet_has(p->data) ||
				    (p->data.len == 4 && memcmp(buf + p->data.off, "null", 4) == 0);
			if (n < 0 && none)
				snprintf(err, sizeof(err),
					 "{\"name\":\"AuthTokenInvalidError\",\"message\":"
					 "\"jwt must be provided\",\"isBadToken\":true}");
			else if (n < 0)
				snprintf(err, sizeof(err), "%s", AUTH_NOT_A_STRING);
			socket__error_json(s, p->cid, err, strlen(err));
			auth__drop(s, false);
			auth__send(s, "{\"event\":\"#removeAuthToken\"}");
			return;
		}
		if (mw__hooked(srv, SLUICE_MW_AUTHENTICATE)) {
			struct sluice_action now;
			if (auth__ask(s, m, p, payload, plen, exp, 0, &now)) {
				auth__authenticate(s, m, p, &now);
				mw__clear(&now);
			}
			return;
		}
		auth__set(s, payload, plen, exp);
		free(payload);
	} else if (d->decision == ACT_BLOCK || d->decision == ACT_SILENT) {
		size_t n; /* refused by the hook: an answer, not an error */
		const char *err = mw__error(d, &n);
		auth__refused(s, p->cid, err, n);
		return;
	} else {
		auth__set(s, d->payload, d->plen, d->exp);
	}
	frame_begin(&f, 80);
	frame_lit(&f, "{\"rid\":");
	frame_int(&f, p->cid);
	frame_lit(&f, ",\"data\":{\"isAuthenticated\":true,\"authError\":null}}");
	socket__send_msg(s, frame_end(&f));
}

/* ---- the API ---- */

int sluice_socket_set_auth_token(struct sluice_socket *s, const char *payload, size_t len,
				 sluice_reply_fn *fn, void *ctx)
{
	struct sluice_server *srv = s->srv;
	char *jwt = NULL;
	size_t jlen = 0;
	int rc;

	if (atomic_load_explicit(&s->closed, memory_order_relaxed)) /* relaxed: own field */
		return -EPIPE;
	rc = token_sign(srv->keys, payload, len, auth__now_s(), srv->o.auth_default_expiry_s, &jwt,
			&jlen);
	if (rc == -EINVAL)
		return rc;
	if (rc < 0) {
		io_conn_close(s->c, SLUICE_CLOSE_AUTH_SIGN, "Server failed to sign auth token");
		return -EKEYREJECTED;
	}
	/* the socket's payload is the token's, iat and exp included; a payload
	 * whose own exp (or nbf) makes the token invalid now authenticates nothing */
	struct token_claims cl;
	if (token_verify(srv->keys, jwt, jlen, auth__now_s(), &cl) == 0) {
		auth__set(s, cl.payload, cl.len, cl.has_exp ? cl.exp : 0);
		free(cl.payload);
	}
	struct frame f;
	frame_begin(&f, 48 + jlen);
	frame_lit(&f, "{\"token\":");
	frame_str(&f, jwt, jlen);
	frame_lit(&f, "}");
	free(jwt);
	if (f.oom)
		return -ENOMEM;
	if (fn)
		rc = sluice_socket_invoke(s, "#setAuthToken", (const char *)f.m->data, f.m->len, fn,
					  ctx);
	else
		rc = sluice_socket_transmit(s, "#setAuthToken", (const char *)f.m->data, f.m->len);
	io_msg_free(f.m);
	return rc;
}

void sluice_socket_deauthenticate(struct sluice_socket *s)
{
	auth__drop(s, true);
}

const char *sluice_socket_auth_token(const struct sluice_socket *s, size_t *len)
{
	/* acquire: the payload of a token set on another worker is whole */
	struct auth *a = atomic_load_explicit(&((struct sluice_socket *)s)->auth,
					      memory_order_acquire);

	*len = a ? a->len : 0;
	return a ? a->payload : NULL;
}

const char *sluice_socket_query(const struct sluice_socket *s)
{
	return io_conn_query(s->c);
}
