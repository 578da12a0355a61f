/*
 * Unit tests of broker/token: npm jsonwebtoken's own tokens
 * (fixtures/tokens/tokens.txt, made by fixtures/make-tokens.mjs with the
 * keys beside it) verified at fixed times with the outcome each must have,
 * algorithm confusion and "none" refused, garbage refused, every prefix of a
 * token refused while reading only its bytes, the length limit; signing
 * round trips for HS256, RS256 and ES256 that keep the application's
 * payload bytes and add iat/exp as jsonwebtoken does; refusals to sign;
 * key sets refused for the wrong type, size or pairing; base64url; and
 * verification and signing from four threads at once.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "token.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

#define SECRET	"sluice-test-secret"
#define IAT	1700000000
#define NOW	(IAT + 100)
#define FAR	4102444800 /* 2100-01-01, the far exp of the vectors */
#define EXPIRY	86400
#define ALICE	"{\"username\":\"alice\",\"iat\":1700000000,\"exp\":4102444800}"
#define NO_TIME INT64_MIN /* a claim that must be absent */

/* ---- fixtures --------------------------------------------------------- */

static char fixture_dir[512];
static char tokens_text[64 << 10];

/* The key sets the vectors are checked with. */
static struct token_keys hs, rs, es, rs_pub, es_pub;

static const char *fixture(const char *name)
{
	static char path[640];

	snprintf(path, sizeof(path), "%s/%s", fixture_dir, name);
	return path;
}

static void keys_up(void)
{
	const char *slash = strrchr(__FILE__, '/');
	char err[256], ep[640], eu[640], rp[640], ru[640];
	size_t n;
	FILE *f;

	cr_assert_not_null(slash, "__FILE__ is a path: %s", __FILE__);
	snprintf(fixture_dir, sizeof(fixture_dir), "%.*s/fixtures/tokens", (int)(slash - __FILE__),
		 __FILE__);
	f = fopen(fixture("tokens.txt"), "r");
	cr_assert_not_null(f, "%s", fixture("tokens.txt"));
	n = fread(tokens_text, 1, sizeof(tokens_text) - 1, f);
	fclose(f);
	tokens_text[n] = '\0';

	snprintf(rp, sizeof(rp), "%s", fixture("rsa-private.pem"));
	snprintf(ru, sizeof(ru), "%s", fixture("rsa-public.pem"));
	snprintf(ep, sizeof(ep), "%s", fixture("ec-private.pem"));
	snprintf(eu, sizeof(eu), "%s", fixture("ec-public.pem"));
	cr_assert_eq(
	    token_keys_init(&hs, "HS256", SECRET, strlen(SECRET), NULL, NULL, err, sizeof(err)), 0,
	    "%s", err);
	cr_assert_eq(token_keys_init(&rs, "RS256", NULL, 0, rp, ru, err, sizeof(err)), 0, "%s",
		     err);
	cr_assert_eq(token_keys_init(&es, "ES256", NULL, 0, ep, eu, err, sizeof(err)), 0, "%s",
		     err);
	cr_assert_eq(token_keys_init(&rs_pub, "RS256", NULL, 0, NULL, ru, err, sizeof(err)), 0,
		     "%s", err);
	cr_assert_eq(token_keys_init(&es_pub, "ES256", NULL, 0, "", eu, err, sizeof(err)), 0, "%s",
		     err);
}

static void keys_down(void)
{
	token_keys_deinit(&hs);
	token_keys_deinit(&rs);
	token_keys_deinit(&es);
	token_keys_deinit(&rs_pub);
	token_keys_deinit(&es_pub);
}

TestSuite(token, .init = keys_up, .fini = keys_down);

/* The vector called name, as a fresh string (free it). */
static char *vector(const char *name)
{
	size_t nl = strlen(name);
	const char *p = tokens_text, *end;

	for (; *p; p = *end ? end + 1 : end) {
		end = strchr(p, '\n');
		if (!end)
			end = p + strlen(p);
		if (*p != '#' && (size_t)(end - p) > nl + 1 && memcmp(p, name, nl) == 0 &&
		    p[nl] == ' ')
			return strndup(p + nl + 1, (size_t)(end - p) - nl - 1);
	}
	cr_assert_fail("no vector %s in tokens.txt", name);
	return NULL;
}

static struct token_keys *keyset(const char *name)
{
	if (strcmp(name, "hs") == 0)
		return &hs;
	if (strcmp(name, "rs") == 0)
		return &rs;
	if (strcmp(name, "es") == 0)
		return &es;
	if (strcmp(name, "rs_pub") == 0)
		return &rs_pub;
	cr_assert_str_eq(name, "es_pub");
	return &es_pub;
}

/* ---- jsonwebtoken's vectors ------------------------------------------- */

struct vec {
	const char *name, *keys;
	int64_t now;
	int rc;
	const char *payload;   /* rc 0: the exact payload */
	int64_t exp, iat, nbf; /* rc 0: claims (NO_TIME: absent); EXPIRED: exp; NOT_BEFORE: nbf */
};

#define OK(n, k, t, p, e, i, b)                                                                    \
	{                                                                                          \
		n, k, t, 0, p, e, i, b                                                             \
	}
#define FAIL(n, k, t, r)                                                                           \
	{                                                                                          \
		n, k, t, r, NULL, 0, 0, 0                                                          \
	}
#define EXPIRED(n, k, t, e)                                                                        \
	{                                                                                          \
		n, k, t, TOKEN_ERR_EXPIRED, NULL, e, 0, 0                                          \
	}
#define NOT_BEFORE(n, k, t, b)                                                                     \
	{                                                                                          \
		n, k, t, TOKEN_ERR_NOT_BEFORE, NULL, 0, 0, b                                       \
	}
#define MALFORMED(n) FAIL(n, "hs", NOW, TOKEN_ERR_MALFORMED)

static const struct vec vecs[] = {
    /* valid, and exactly at the edges of exp and nbf */
    OK("hs256_valid", "hs", NOW, ALICE, FAR, IAT, NO_TIME),
    OK("hs256_valid", "hs", FAR - 1, ALICE, FAR, IAT, NO_TIME),
    EXPIRED("hs256_valid", "hs", FAR, FAR),
    OK("hs256_expires_in", "hs", NOW, "{\"sub\":\"x\",\"iat\":1700000000,\"exp\":1700003600}",
       IAT + 3600, IAT, NO_TIME),
    OK("hs256_expires_in", "hs", IAT + 3599,
       "{\"sub\":\"x\",\"iat\":1700000000,\"exp\":1700003600}", IAT + 3600, IAT, NO_TIME),
    EXPIRED("hs256_expires_in", "hs", IAT + 3600, IAT + 3600),
    EXPIRED("hs256_expired", "hs", NOW, 1600003600),
    NOT_BEFORE("hs256_nbf_future", "hs", NOW, 1800000000),
    NOT_BEFORE("hs256_nbf_future", "hs", 1800000000 - 1, 1800000000),
    OK("hs256_nbf_future", "hs", 1800000000,
       "{\"iat\":1700000000,\"nbf\":1800000000,\"exp\":4102444800}", FAR, IAT, 1800000000),
    OK("hs256_nbf_past", "hs", NOW, "{\"iat\":1700000000,\"nbf\":1650000000,\"exp\":4102444800}",
       FAR, IAT, 1650000000),
    OK("hs256_no_claims", "hs", NOW, "{\"username\":\"alice\"}", NO_TIME, NO_TIME, NO_TIME),
    OK("hs256_no_claims", "hs", 0, "{\"username\":\"alice\"}", NO_TIME, NO_TIME, NO_TIME),
    /* exp 1700003600.5: valid through ...600, expired from ...601 */
    OK("hs256_float_exp", "hs", IAT + 3600, "{\"iat\":1700000000,\"exp\":1700003600.5}", IAT + 3601,
       IAT, NO_TIME),
    EXPIRED("hs256_float_exp", "hs", IAT + 3601, IAT + 3601),
    OK("hs256_unicode", "hs", NOW,
       "{\"name\":\"Zo\xc3\xab \xf0\x9f\x9a\x80\",\"q\":\"\\\"\\\\\",\"iat\":1700000000,"
       "\"exp\":4102444800}",
       FAR, IAT, NO_TIME),
    OK("hs256_kid", "hs", NOW, ALICE, FAR, IAT, NO_TIME),
    /* "alg":"HS\u0032\u0035\u0036" is "HS256" to JSON.parse, and to us */
    OK("hs256_header_escaped", "hs", NOW, ALICE, FAR, IAT, NO_TIME),
    /* a header of 2 KiB: past TOKEN__HEADER_MAX (jsonwebtoken would take it) */
    FAIL("hs256_header_too_big", "hs", NOW, TOKEN_ERR_MALFORMED),
    FAIL("hs256_wrong_secret", "hs", NOW, TOKEN_ERR_SIGNATURE),
    FAIL("hs256_tampered_payload", "hs", NOW, TOKEN_ERR_SIGNATURE),
    FAIL("hs256_tampered_sig", "hs", NOW, TOKEN_ERR_SIGNATURE),
    FAIL("hs256_exp_string", "hs", NOW, TOKEN_ERR_MALFORMED),
    FAIL("hs256_nbf_null", "hs", NOW, TOKEN_ERR_MALFORMED),
    /* not the server's algorithm, whatever the signature */
    FAIL("alg_none", "hs", NOW, TOKEN_ERR_ALG),
    FAIL("alg_none", "rs", NOW, TOKEN_ERR_ALG),
    FAIL("alg_none", "es_pub", NOW, TOKEN_ERR_ALG),
    FAIL("alg_none_signed", "hs", NOW, TOKEN_ERR_ALG),
    FAIL("alg_lowercase", "hs", NOW, TOKEN_ERR_ALG),
    FAIL("alg_hs512", "hs", NOW, TOKEN_ERR_ALG),
    FAIL("alg_missing", "hs", NOW, TOKEN_ERR_ALG),
    FAIL("alg_number", "hs", NOW, TOKEN_ERR_ALG),
    FAIL("confusion_rsa_pub", "rs", NOW, TOKEN_ERR_ALG),
    FAIL("confusion_rsa_pub", "rs_pub", NOW, TOKEN_ERR_ALG),
    FAIL("confusion_ec_pub", "es", NOW, TOKEN_ERR_ALG),
    FAIL("confusion_ec_pub", "es_pub", NOW, TOKEN_ERR_ALG),
    FAIL("hs256_valid", "rs", NOW, TOKEN_ERR_ALG),
    FAIL("rs256_valid", "hs", NOW, TOKEN_ERR_ALG),
    FAIL("rs256_valid", "es", NOW, TOKEN_ERR_ALG),
    FAIL("es256_valid", "rs", NOW, TOKEN_ERR_ALG),
    FAIL("es256_valid", "hs", NOW, TOKEN_ERR_ALG),
    /* RS256, ES256 */
    OK("rs256_valid", "rs", NOW, ALICE, FAR, IAT, NO_TIME),
    OK("rs256_valid", "rs_pub", NOW, ALICE, FAR, IAT, NO_TIME),
    FAIL("rs256_tampered_payload", "rs", NOW, TOKEN_ERR_SIGNATURE),
    FAIL("rs256_tampered_sig", "rs", NOW, TOKEN_ERR_SIGNATURE),
    FAIL("rs256_other_key", "rs_pub", NOW, TOKEN_ERR_SIGNATURE),
    EXPIRED("rs256_expired", "rs", NOW, 1600003600),
    OK("es256_valid", "es", NOW, ALICE, FAR, IAT, NO_TIME),
    OK("es256_valid", "es_pub", NOW, ALICE, FAR, IAT, NO_TIME),
    FAIL("es256_tampered_payload", "es", NOW, TOKEN_ERR_SIGNATURE),
    FAIL("es256_tampered_sig", "es", NOW, TOKEN_ERR_SIGNATURE),
    FAIL("es256_other_key", "es_pub", NOW, TOKEN_ERR_SIGNATURE),
    /* garbage */
    MALFORMED("garbage_one_part"),
    MALFORMED("garbage_two_parts"),
    MALFORMED("garbage_four_parts"),
    MALFORMED("garbage_dots"),
    MALFORMED("garbage_words"),
    MALFORMED("garbage_bad_b64_header"),
    MALFORMED("garbage_padding"),
    MALFORMED("garbage_std_b64_sig"),
    MALFORMED("garbage_header_not_json"),
    MALFORMED("garbage_header_array"),
    MALFORMED("garbage_payload_string"),
    MALFORMED("garbage_payload_json_string"),
    MALFORMED("garbage_payload_array"),
    MALFORMED("garbage_payload_trailing"),
    MALFORMED("garbage_payload_empty"),
    MALFORMED("garbage_empty_sig"),
};

static void assert_claim(const struct vec *v, const char *what, bool has, int64_t got, int64_t want)
{
	if (want == NO_TIME) {
		cr_assert_not(has, "%s@%lld: %s should be absent", v->name, (long long)v->now,
			      what);
		return;
	}
	cr_assert(has, "%s@%lld: %s missing", v->name, (long long)v->now, what);
	cr_assert_eq(got, want, "%s@%lld: %s %lld, want %lld", v->name, (long long)v->now, what,
		     (long long)got, (long long)want);
}

Test(token, jsonwebtoken_vectors)
{
	for (size_t i = 0; i < N(vecs); i++) {
		const struct vec *v = &vecs[i];
		char *jwt = vector(v->name);
		struct token_claims c;
		int rc = token_verify(keyset(v->keys), jwt, strlen(jwt), v->now, &c);

		cr_assert_eq(rc, v->rc, "%s with %s at %lld: %d (%s), want %d (%s)", v->name,
			     v->keys, (long long)v->now, rc, token_strerror(rc), v->rc,
			     token_strerror(v->rc));
		if (rc == 0) {
			cr_assert_not_null(c.payload);
			cr_assert_eq(c.len, strlen(v->payload), "%s: payload '%s'", v->name,
				     c.payload);
			cr_assert_str_eq(c.payload, v->payload, "%s", v->name);
			assert_claim(v, "exp", c.has_exp, c.exp, v->exp);
			assert_claim(v, "iat", c.has_iat, c.iat, v->iat);
			assert_claim(v, "nbf", c.has_nbf, c.nbf, v->nbf);
			free(c.payload);
		} else {
			cr_assert_null(c.payload, "%s: no payload on error", v->name);
		}
		if (rc == TOKEN_ERR_EXPIRED)
			cr_assert_eq(c.exp, v->exp, "%s: expired at %lld", v->name,
				     (long long)c.exp);
		if (rc == TOKEN_ERR_NOT_BEFORE)
			cr_assert_eq(c.nbf, v->nbf, "%s: valid from %lld", v->name,
				     (long long)c.nbf);
		free(jwt);
	}
}

/* Every vector in the file is in the table, so a new one cannot go untested. */
Test(token, every_vector_is_checked)
{
	char name[64];
	const char *p;
	size_t i, count = 0;

	for (p = tokens_text; *p; p = strchr(p, '\n') + 1) {
		if (*p != '#') {
			cr_assert_eq(sscanf(p, "%63s", name), 1);
			for (i = 0; i < N(vecs) && strcmp(vecs[i].name, name) != 0; i++)
				;
			cr_assert_lt(i, N(vecs), "vector %s is not in the table", name);
			count++;
		}
		if (!strchr(p, '\n'))
			break;
	}
	cr_assert_geq(count, 40, "only %zu vectors read", count);
}

/* ---- malformed input ---------------------------------------------------- */

static int verify_str(const struct token_keys *k, const char *jwt, int64_t now)
{
	struct token_claims c;
	int rc = token_verify(k, jwt, strlen(jwt), now, &c);

	free(c.payload);
	return rc;
}

Test(token, empty_and_null_are_malformed)
{
	struct token_claims c;

	cr_assert_eq(token_verify(&hs, NULL, 0, NOW, &c), TOKEN_ERR_MALFORMED);
	cr_assert_null(c.payload);
	cr_assert_eq(token_verify(&hs, "", 0, NOW, &c), TOKEN_ERR_MALFORMED);
	cr_assert_eq(verify_str(&hs, ".", NOW), TOKEN_ERR_MALFORMED);
	cr_assert_eq(verify_str(&hs, "...", NOW), TOKEN_ERR_MALFORMED);
}

Test(token, whitespace_anywhere_is_malformed)
{
	char *jwt = vector("hs256_valid");
	size_t n = strlen(jwt);
	char *buf = malloc(n + 2);
	const size_t at[] = {0, 5, strchr(jwt, '.') - jwt, strchr(jwt, '.') - jwt + 1, n - 1, n};

	cr_assert_eq(verify_str(&hs, jwt, NOW), 0);
	for (size_t i = 0; i < N(at); i++) {
		memcpy(buf, jwt, at[i]);
		buf[at[i]] = i % 2 ? '\n' : ' ';
		memcpy(buf + at[i] + 1, jwt + at[i], n - at[i] + 1);
		cr_assert_eq(verify_str(&hs, buf, NOW), TOKEN_ERR_MALFORMED, "space at %zu", at[i]);
	}
	free(buf);
	free(jwt);
}

/* Each prefix, in a buffer of exactly its size (ASan sees any read past it),
 * is refused. */
Test(token, every_prefix_is_refused)
{
	const char *names[] = {"hs256_valid", "rs256_valid", "es256_valid"};
	struct token_keys *keys[] = {&hs, &rs, &es};
	struct token_claims c;

	for (size_t v = 0; v < N(names); v++) {
		char *jwt = vector(names[v]);
		size_t n = strlen(jwt);

		for (size_t len = 0; len < n; len++) {
			char *buf = malloc(len ? len : 1);

			memcpy(buf, jwt, len);
			cr_assert_lt(token_verify(keys[v], buf, len, NOW, &c), 0, "%s[0, %zu)",
				     names[v], len);
			cr_assert_null(c.payload);
			free(buf);
		}
		free(jwt);
	}
}

Test(token, over_the_length_limit_is_refused)
{
	static char body[TOKEN_MAX_LEN + 2];
	char *payload = malloc(TOKEN_MAX_LEN), *tok;
	struct token_claims c;
	size_t n, fill;

	/* the longest payload whose token still fits verifies; one byte more cannot be signed:
	 * 36 header + 1 + b64(fill + 42) + 1 + 43 signature <= 16384 for fill <= 12185 */
	const size_t fixed = strlen("{\"f\":\"\"}");
	for (fill = 12150;; fill++) {
		snprintf(payload, TOKEN_MAX_LEN, "{\"f\":\"%0*d\"}", (int)fill, 0);
		if (token_sign(&hs, payload, fill + fixed, NOW, EXPIRY, &tok, &n) != 0)
			break;
		cr_assert_leq(n, TOKEN_MAX_LEN);
		cr_assert_eq(token_verify(&hs, tok, n, NOW, &c), 0, "fill %zu: %zu bytes", fill, n);
		cr_assert_eq(c.len, fill + fixed + 34);
		free(c.payload);
		free(tok);
	}
	cr_assert_eq(fill, 12186, "the limit came at %zu payload bytes", fill);
	cr_assert_eq(token_sign(&hs, payload, fill + fixed, NOW, EXPIRY, &tok, &n), -EMSGSIZE);
	/* exactly at the limit */
	snprintf(payload, TOKEN_MAX_LEN, "{\"f\":\"%0*d\"}", 12185, 0);
	cr_assert_eq(token_sign(&hs, payload, 12185 + fixed, NOW, EXPIRY, &tok, &n), 0);
	cr_assert_eq(n, TOKEN_MAX_LEN);
	free(tok);

	/* a token one byte over the limit is not even looked at */
	memset(body, 'A', sizeof(body));
	body[10] = '.';
	body[20] = '.';
	cr_assert_eq(token_verify(&hs, body, TOKEN_MAX_LEN + 1, NOW, &c), TOKEN_ERR_MALFORMED);
	cr_assert_eq(token_sign(&hs, payload, TOKEN_MAX_LEN + 1, NOW, EXPIRY, &tok, &n), -EMSGSIZE);
	free(payload);
}

/* ---- signing ------------------------------------------------------------ */

struct sign_case {
	const char *payload;
	uint32_t expiry;
	const char *claims; /* the payload the token carries, exactly */
	int rc;		    /* token_verify at NOW */
};

static const struct sign_case sign_cases[] = {
    {"{\"user\":\"a b\",\"n\":[1,2,{\"x\":null}]}", EXPIRY,
     "{\"user\":\"a b\",\"n\":[1,2,{\"x\":null}],\"iat\":1700000100,\"exp\":1700086500}", 0},
    {"{}", EXPIRY, "{\"iat\":1700000100,\"exp\":1700086500}", 0},
    {" { \t} ", EXPIRY, " { \t\"iat\":1700000100,\"exp\":1700086500} ", 0},
    {"{ \"k\" : \"v\" }\n", EXPIRY, "{ \"k\" : \"v\" ,\"iat\":1700000100,\"exp\":1700086500}\n", 0},
    {"{\"a\":\"}\",\"b\":{}}", EXPIRY,
     "{\"a\":\"}\",\"b\":{},\"iat\":1700000100,\"exp\":1700086500}", 0},
    {"{\"name\":\"Zo\xc3\xab\",\"e\":\"\\u00e9\\n\"}", EXPIRY,
     "{\"name\":\"Zo\xc3\xab\",\"e\":\"\\u00e9\\n\",\"iat\":1700000100,\"exp\":1700086500}", 0},
    /* the payload's own exp wins; iat is still added */
    {"{\"exp\":1800000000}", EXPIRY, "{\"exp\":1800000000,\"iat\":1700000100}", 0},
    {"{\"exp\":1600000000}", EXPIRY, "{\"exp\":1600000000,\"iat\":1700000100}", TOKEN_ERR_EXPIRED},
    /* the payload's own iat is kept and, as in jsonwebtoken, exp counts from it */
    {"{\"iat\":1700000000}", EXPIRY, "{\"iat\":1700000000,\"exp\":1700086400}", 0},
    {"{\"iat\":1600000000}", EXPIRY, "{\"iat\":1600000000,\"exp\":1600086400}", TOKEN_ERR_EXPIRED},
    {"{\"iat\":1.5}", EXPIRY, "{\"iat\":1.5,\"exp\":1700086500}", 0},
    {"{\"iat\":1,\"exp\":4102444800}", EXPIRY, "{\"iat\":1,\"exp\":4102444800}", 0},
    {"{\"nbf\":1800000000}", EXPIRY, "{\"nbf\":1800000000,\"iat\":1700000100,\"exp\":1700086500}",
     TOKEN_ERR_NOT_BEFORE},
    /* expiry 0: no exp */
    {"{\"a\":1}", 0, "{\"a\":1,\"iat\":1700000100}", 0},
    {"{}", 0, "{\"iat\":1700000100}", 0},
};

/* Decodes part `which` (0 header, 1 payload) of tok into a fresh string. */
static char *part(const char *tok, int which)
{
	const char *a = tok, *b;
	char *out;
	long n;

	if (which)
		a = strchr(a, '.') + 1;
	b = strchr(a, '.');
	cr_assert_not_null(b);
	out = malloc((size_t)(b - a) + 1);
	n = token_b64url_decode(a, (size_t)(b - a), out, (size_t)(b - a));
	cr_assert_geq(n, 0, "part %d of %s", which, tok);
	out[n] = '\0';
	return out;
}

Test(token, sign_then_verify_round_trips)
{
	struct token_keys *keys[] = {&hs, &rs, &es};
	const char *headers[] = {"{\"alg\":\"HS256\",\"typ\":\"JWT\"}",
				 "{\"alg\":\"RS256\",\"typ\":\"JWT\"}",
				 "{\"alg\":\"ES256\",\"typ\":\"JWT\"}"};

	for (size_t a = 0; a < N(keys); a++) {
		for (size_t i = 0; i < N(sign_cases); i++) {
			const struct sign_case *sc = &sign_cases[i];
			struct token_claims c;
			char *tok = NULL, *h, *p;
			size_t n;
			int rc;

			rc = token_sign(keys[a], sc->payload, strlen(sc->payload), NOW, sc->expiry,
					&tok, &n);
			cr_assert_eq(rc, 0, "%s: sign '%s': %d", headers[a], sc->payload, rc);
			cr_assert_eq(n, strlen(tok));
			h = part(tok, 0);
			p = part(tok, 1);
			cr_assert_str_eq(h, headers[a]);
			cr_assert_str_eq(p, sc->claims, "%s: '%s'", headers[a], sc->payload);
			rc = token_verify(keys[a], tok, n, NOW, &c);
			cr_assert_eq(rc, sc->rc, "%s: verify '%s': %s", headers[a], sc->claims,
				     token_strerror(rc));
			if (rc == 0) {
				cr_assert_str_eq(c.payload, sc->claims);
				cr_assert(c.has_iat);
				cr_assert_eq(c.has_exp, strstr(sc->claims, "\"exp\"") != NULL);
				free(c.payload);
			}
			/* any other key set refuses it */
			cr_assert_lt(verify_str(keys[(a + 1) % N(keys)], tok, NOW), 0);
			free(h);
			free(p);
			free(tok);
		}
	}
}

Test(token, signed_token_expires_at_default_expiry)
{
	struct token_claims c;
	char *tok;
	size_t n;

	cr_assert_eq(token_sign(&es, "{\"u\":1}", 7, NOW, 60, &tok, &n), 0);
	cr_assert_eq(token_verify(&es, tok, n, NOW + 59, &c), 0);
	cr_assert_eq(c.exp, NOW + 60);
	cr_assert_eq(c.iat, NOW);
	free(c.payload);
	cr_assert_eq(token_verify(&es, tok, n, NOW + 60, &c), TOKEN_ERR_EXPIRED);
	cr_assert_eq(c.exp, NOW + 60);
	/* a public-only key set verifies it */
	cr_assert_eq(verify_str(&es_pub, tok, NOW), 0);
	free(tok);
}

Test(token, signing_refuses_what_jsonwebtoken_refuses)
{
	const char *bad[] = {"[]",
			     "[{}]",
			     "\"x\"",
			     "1",
			     "null",
			     "",
			     "   ",
			     "{",
			     "{\"a\":}",
			     "{} {}",
			     "{\"a\":1,}",
			     "{'a':1}",
			     "\"{}\"",
			     "{\"exp\":\"soon\"}",
			     "{\"iat\":null}",
			     "{\"nbf\":true}",
			     "{\"exp\":[1]}"};
	char *tok = (char *)"untouched";
	size_t n = 7;

	for (size_t i = 0; i < N(bad); i++) {
		cr_assert_eq(token_sign(&hs, bad[i], strlen(bad[i]), NOW, EXPIRY, &tok, &n),
			     -EINVAL, "'%s'", bad[i]);
		cr_assert_str_eq(tok, "untouched");
		cr_assert_eq(n, 7);
	}
	cr_assert_eq(token_sign(&hs, NULL, 0, NOW, EXPIRY, &tok, &n), -EINVAL);
	/* public keys cannot sign */
	cr_assert_eq(token_sign(&rs_pub, "{}", 2, NOW, EXPIRY, &tok, &n), -ENOKEY);
	cr_assert_eq(token_sign(&es_pub, "{}", 2, NOW, EXPIRY, &tok, &n), -ENOKEY);
	cr_assert_not(token_keys_can_sign(&rs_pub));
	cr_assert(token_keys_can_sign(&rs));
	cr_assert(token_keys_can_sign(&hs));
}

/* ---- key sets ----------------------------------------------------------- */

struct key_case {
	const char *alg, *secret, *priv, *pub; /* priv/pub: fixture file names */
	int rc;
};

static const struct key_case key_cases[] = {
    {NULL, SECRET, NULL, NULL, 0},
    {"", SECRET, NULL, NULL, 0},
    {"HS256", "x", NULL, NULL, 0},
    {"HS256", "", NULL, NULL, -EINVAL},
    {"HS256", NULL, NULL, NULL, -EINVAL},
    {"HS256", SECRET, NULL, "rsa-public.pem", -EINVAL},
    {"hs256", SECRET, NULL, NULL, -EINVAL},
    {"HS512", SECRET, NULL, NULL, -EINVAL},
    {"none", SECRET, NULL, NULL, -EINVAL},
    {"RS256", NULL, NULL, NULL, -EINVAL},
    {"RS256", SECRET, NULL, NULL, -EINVAL},
    {"RS256", NULL, "rsa-private.pem", NULL, 0},
    {"RS256", NULL, "rsa-private.pem", "rsa-public.pem", 0},
    {"RS256", NULL, NULL, "no-such-file.pem", -ENOENT},
    {"RS256", NULL, "no-such-file.pem", "rsa-public.pem", -ENOENT},
    {"RS256", NULL, NULL, "ec-public.pem", -EINVAL},
    {"RS256", NULL, "ec-private.pem", NULL, -EINVAL},
    {"RS256", NULL, NULL, "rsa1024-public.pem", -EINVAL},
    {"RS256", NULL, "rsa-private.pem", "rsa-other-public.pem", -EINVAL},
    {"RS256", NULL, NULL, "rsa-private.pem", -EINVAL}, /* a private key as the public one */
    {"RS256", NULL, "rsa-public.pem", NULL, -EINVAL},
    {"RS256", NULL, NULL, "tokens.txt", -EINVAL},
    {"ES256", NULL, "ec-private.pem", NULL, 0},
    {"ES256", NULL, "ec-private.pem", "ec-public.pem", 0},
    {"ES256", NULL, NULL, "rsa-public.pem", -EINVAL},
    {"ES256", NULL, NULL, "p384-public.pem", -EINVAL},
    {"ES256", NULL, "ec-private.pem", "ec-other-public.pem", -EINVAL},
};

Test(token, key_sets)
{
	for (size_t i = 0; i < N(key_cases); i++) {
		const struct key_case *kc = &key_cases[i];
		struct token_keys k, zero;
		char err[256] = "", priv[640] = "", pub[640] = "";
		int rc;

		if (kc->priv)
			snprintf(priv, sizeof(priv), "%s", fixture(kc->priv));
		if (kc->pub)
			snprintf(pub, sizeof(pub), "%s", fixture(kc->pub));
		memset(&k, 0x5a, sizeof(k));
		rc =
		    token_keys_init(&k, kc->alg, kc->secret, kc->secret ? strlen(kc->secret) : 0,
				    kc->priv ? priv : NULL, kc->pub ? pub : NULL, err, sizeof(err));
		cr_assert_eq(rc, kc->rc, "case %zu (%s %s %s): %d, want %d: %s", i,
			     kc->alg ? kc->alg : "NULL", kc->priv ? kc->priv : "-",
			     kc->pub ? kc->pub : "-", rc, kc->rc, err);
		if (rc) {
			memset(&zero, 0, sizeof(zero));
			cr_assert_neq(err[0], '\0', "case %zu: no message", i);
			cr_assert(memcmp(&k, &zero, sizeof(k)) == 0, "case %zu: not zeroed", i);
			if (kc->pub && rc == -ENOENT)
				cr_assert(strstr(err, "no-such-file.pem"), "%s", err);
		} else {
			cr_assert_eq(token_keys_can_sign(&k),
				     kc->priv != NULL || kc->secret != NULL);
		}
		token_keys_deinit(&k);
		token_keys_deinit(&k); /* zeroed: harmless */
	}
}

/* A private key alone verifies jsonwebtoken's tokens too. */
Test(token, a_private_key_alone_verifies)
{
	struct token_keys k;
	char err[256], priv[640];
	char *jwt = vector("rs256_valid");

	snprintf(priv, sizeof(priv), "%s", fixture("rsa-private.pem"));
	cr_assert_eq(token_keys_init(&k, "RS256", NULL, 0, priv, NULL, err, sizeof(err)), 0, "%s",
		     err);
	cr_assert_eq(verify_str(&k, jwt, NOW), 0);
	token_keys_deinit(&k);
	free(jwt);
}

/* ---- base64url ---------------------------------------------------------- */

Test(token, base64url_known_and_round_trips)
{
	const unsigned char odd[] = {0xfb, 0xff, 0xbf};
	unsigned char in[64], back[64];
	char text[100];
	size_t n;
	long m;

	n = token_b64url_encode("hello", 5, text);
	cr_assert_eq(n, 7);
	cr_assert(memcmp(text, "aGVsbG8", 7) == 0);
	n = token_b64url_encode(odd, 3, text);
	cr_assert(n == 4 && memcmp(text, "-_-_", 4) == 0, "%.*s", (int)n, text);
	n = token_b64url_encode(odd, 2, text);
	cr_assert(n == 3 && memcmp(text, "-_8", 3) == 0, "%.*s", (int)n, text);
	cr_assert_eq(token_b64url_encode("", 0, text), 0);

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i * 37 + 11);
	for (size_t len = 0; len <= sizeof(in); len++) {
		n = token_b64url_encode(in, len, text);
		cr_assert_eq(n, token_b64url_len(len));
		m = token_b64url_decode(text, n, back, len);
		cr_assert_eq(m, (long)len, "length %zu", len);
		cr_assert(memcmp(in, back, len) == 0, "length %zu", len);
		if (len)
			cr_assert_eq(token_b64url_decode(text, n, back, len - 1), -ENOSPC);
	}
}

Test(token, base64url_refuses_non_canonical_text)
{
	const char *bad[] = {"A",
			     "AAAAA",
			     "AB",
			     "AAB",
			     "AA==",
			     "AAA=",
			     "A+",
			     "A/",
			     "AA A",
			     "AA\n",
			     "AA.A",
			     "\xc3\xa9"
			     "AA"};
	unsigned char out[16];

	for (size_t i = 0; i < N(bad); i++)
		cr_assert_eq(token_b64url_decode(bad[i], strlen(bad[i]), out, sizeof(out)),
			     TOKEN_ERR_MALFORMED, "'%s'", bad[i]);
	cr_assert_eq(token_b64url_decode("AA", 2, out, sizeof(out)), 1);
	cr_assert_eq(out[0], 0);
	cr_assert_eq(token_b64url_decode("AAE", 3, out, sizeof(out)), 2);
	cr_assert_eq(token_b64url_decode("", 0, out, 0), 0);
}

Test(token, error_names)
{
	const int codes[] = {TOKEN_ERR_MALFORMED, TOKEN_ERR_ALG, TOKEN_ERR_SIGNATURE,
			     TOKEN_ERR_EXPIRED, TOKEN_ERR_NOT_BEFORE};

	for (size_t i = 0; i < N(codes); i++) {
		cr_assert_lt(codes[i], -4095, "code %d collides with errno", codes[i]);
		cr_assert_str_neq(token_strerror(codes[i]), "not a token error");
		for (size_t j = 0; j < i; j++)
			cr_assert_neq(codes[i], codes[j]);
	}
	cr_assert_str_eq(token_strerror(-EINVAL), "not a token error");
}

/* ---- threads ------------------------------------------------------------ */

#define THREADS 4

struct worker_arg {
	const struct token_keys *k;
	const char *jwt;
	const char *payload;
	int rounds;
	int ok;	       /* verifications that gave the payload */
	int signed_ok; /* own tokens signed and verified */
};

static void *worker(void *p)
{
	struct worker_arg *a = p;
	struct token_claims c;
	char *tok;
	size_t n;

	for (int i = 0; i < a->rounds; i++) {
		if (token_verify(a->k, a->jwt, strlen(a->jwt), NOW, &c) == 0) {
			a->ok += strcmp(c.payload, a->payload) == 0;
			free(c.payload);
		}
		if (i % 16 == 0 && token_sign(a->k, "{\"t\":1}", 7, NOW, EXPIRY, &tok, &n) == 0) {
			if (token_verify(a->k, tok, n, NOW, &c) == 0) {
				a->signed_ok += strncmp(c.payload, "{\"t\":1,", 7) == 0;
				free(c.payload);
			}
			free(tok);
		}
	}
	return NULL;
}

static void run_threads(const struct token_keys *k, const char *name, int rounds)
{
	struct worker_arg args[THREADS];
	pthread_t t[THREADS];
	char *jwt = vector(name);

	for (int i = 0; i < THREADS; i++) {
		args[i] = (struct worker_arg){k, jwt, ALICE, rounds, 0, 0};
		cr_assert_eq(pthread_create(&t[i], NULL, worker, &args[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		cr_assert_eq(args[i].ok, rounds, "%s thread %d: %d of %d verified", name, i,
			     args[i].ok, rounds);
		cr_assert_eq(args[i].signed_ok, (rounds + 15) / 16, "%s thread %d: signed %d", name,
			     i, args[i].signed_ok);
	}
	free(jwt);
}

Test(token, hs256_from_four_threads, .timeout = 120)
{
	run_threads(&hs, "hs256_valid", 10000);
}

Test(token, rs256_and_es256_from_four_threads, .timeout = 120)
{
	run_threads(&rs, "rs256_valid", 1000);
	run_threads(&es, "es256_valid", 1000);
}
