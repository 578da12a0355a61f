/*
 * token: JWT signing and verification (token.h), on libcrypto.
 *
 * A token is three base64url parts; verification walks it once:
 *
 *   "eyJhbGciOi...".  "eyJ1c2VyIjo...".  "SflKxwRJSM..."
 *    header            payload            signature over header "." payload
 *    |                 |                  |
 *    decode, "alg" ==  decode (malloc,    decode, check against the key set
 *    the server's      the caller's)      (constant time for HMAC)
 *                      then: a JSON object, "nbf" <= now < "exp"
 *
 * Invariants: nothing is read outside jwt[0, len); the key set is never
 * written after token_keys_init, so calls share it without locks (libcrypto
 * documents EVP_PKEY and a fetched EVP_MD as safe for concurrent use once
 * built); every libcrypto context lives for one call.
 *
 * Threads: init/deinit [setup]; everything else [any].
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

#include "packet.h"
#include "sluice.h"
#include "token.h"

/* Decoded header bytes taken: jsonwebtoken's is 27; room for a "kid" and more. */
#define TOKEN__HEADER_MAX 1024
/* Signature bytes: an RSA key of at most 8192 bits (ES256's DER is under 80). */
#define TOKEN__SIG_MAX	    1024
#define TOKEN__RSA_MIN_BITS 2048
#define TOKEN__RSA_MAX_BITS 8192
#define TOKEN__HMAC_LEN	    32
#define TOKEN__ES_HALF	    32 /* bytes of r and of s in a JOSE ES256 signature */

static void token__err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static bool token__given(const char *s)
{
	return s && *s;
}

static bool token__space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Whether json[0, len) is exactly one JSON object (whitespace around it
 * allowed), by the packet scanner, sluice's one JSON reader. */
static bool token__object(const char *json, size_t len)
{
	size_t i = 0;

	while (i < len && token__space(json[i]))
		i++;
	return i < len && json[i] == '{' && packet_validate((const uint8_t *)json, len) == 0;
}

/* ---- base64url ---------------------------------------------------------- */

static const char token__alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t token_b64url_encode(const void *in, size_t n, char *out)
{
	const unsigned char *p = in;
	size_t i = 0, o = 0;
	uint32_t v;

	for (; n - i >= 3; i += 3) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		out[o++] = token__alphabet[v >> 18];
		out[o++] = token__alphabet[v >> 12 & 63];
		out[o++] = token__alphabet[v >> 6 & 63];
		out[o++] = token__alphabet[v & 63];
	}
	if (n - i == 0)
		return o;
	v = (uint32_t)p[i] << 16 | (n - i == 2 ? (uint32_t)p[i + 1] << 8 : 0);
	out[o++] = token__alphabet[v >> 18];
	out[o++] = token__alphabet[v >> 12 & 63];
	if (n - i == 2)
		out[o++] = token__alphabet[v >> 6 & 63];
	return o;
}

static int token__b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

long token_b64url_decode(const char *in, size_t n, void *out, size_t cap)
{
	unsigned char *o = out;
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t i, k = 0;
	int v;

	if (n % 4 == 1)
		return TOKEN_ERR_MALFORMED; /* 6 bits cannot end a byte */
	if (n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0) > cap)
		return -ENOSPC;
	for (i = 0; i < n; i++) {
		v = token__b64val(in[i]);
		if (v < 0)
			return TOKEN_ERR_MALFORMED;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			o[k++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* the last character's unused bits must be zero: one text per byte string */
	if (acc != 0)
		return TOKEN_ERR_MALFORMED;
	return (long)k;
}

/* ---- claims ------------------------------------------------------------- */

/*
 * The JSON number v[0, n) (valid JSON: -?int(.frac)?(e[+-]?exp)?) rounded up
 * to a whole number, saturating at the int64 range. jsonwebtoken compares
 * `now >= exp` and `nbf > now` with a whole-second now; for a whole now both
 * keep their truth when the claim is rounded up, so fractions (Date.now() /
 * 1000 + 3600 is a common exp) decide exactly as they do there. Locale-free,
 * unlike strtod.
 */
static int64_t token__ceil(const char *v, size_t n)
{
	size_t i = 0, ip, il, fp = 0, fl = 0, j;
	int64_t x = 0, keep;
	uint64_t m = 0, d;
	const uint64_t top = INT64_MAX;
	bool neg = false, xneg = false, frac = false;
	char c;

	if (i < n && v[i] == '-') {
		neg = true;
		i++;
	}
	for (ip = i; i < n && v[i] >= '0' && v[i] <= '9'; i++)
		;
	il = i - ip;
	if (i < n && v[i] == '.') {
		for (fp = ++i; i < n && v[i] >= '0' && v[i] <= '9'; i++)
			;
		fl = i - fp;
	}
	if (i < n && (v[i] == 'e' || v[i] == 'E')) {
		i++;
		if (i < n && (v[i] == '+' || v[i] == '-'))
			xneg = v[i++] == '-';
		for (; i < n && v[i] >= '0' && v[i] <= '9'; i++)
			if (x < 1000000) /* past that the answer is 0, 1 or saturated anyway */
				x = x * 10 + (v[i] - '0');
	}
	/* the first keep digits of int.frac, scaled by 10^x, are the whole part */
	keep = (int64_t)il + (xneg ? -x : x);
	for (j = 0; j < il + fl; j++) {
		c = j < il ? v[ip + j] : v[fp + j - il];
		d = (uint64_t)(c - '0');
		if ((int64_t)j >= keep)
			frac |= d != 0;
		else
			m = m > (top - d) / 10 ? top : m * 10 + d;
	}
	for (; (int64_t)j < keep && m != 0 && m != top; j++)
		m = m > top / 10 ? top : m * 10;
	if (neg)
		return -(int64_t)m; /* ceil(-m.f) = -m */
	return (int64_t)(m + (frac && m < top));
}

/*
 * Member key of the object json[0, len) as whole seconds. Returns 0 with *out
 * set, -ENOENT when absent, -EINVAL when it is not a number; *exact tells
 * whether it was an integer as written (no fraction, no exponent).
 */
static int token__seconds(const char *json, size_t len, const char *key, int64_t *out, bool *exact)
{
	const char *v;
	size_t vl;
	int rc = sluice_json_member(json, len, key, &v, &vl);

	if (rc < 0)
		return rc;
	*exact = sluice_json_int(v, vl, out) == 0;
	if (*exact)
		return 0;
	if (vl == 0 || (v[0] != '-' && (v[0] < '0' || v[0] > '9')))
		return -EINVAL;
	*out = token__ceil(v, vl);
	return 0;
}

/* ---- signatures --------------------------------------------------------- */

/* Signs in[0, n) into sig (TOKEN__SIG_MAX bytes) in JOSE form. Returns its
 * length, -ENOMEM or -EIO. */
static long token__sig_make(const struct token_keys *k, const char *in, size_t n,
			    unsigned char *sig)
{
	unsigned char der[TOKEN__SIG_MAX];
	const unsigned char *p = der;
	const BIGNUM *r, *s;
	ECDSA_SIG *es = NULL;
	EVP_MD_CTX *ctx;
	unsigned int hl;
	size_t sl = TOKEN__SIG_MAX; /* the size of sig and of der */
	long rc = -EIO;

	if (k->alg == TOKEN_HS256) {
		if (!HMAC(k->md, k->secret, (int)k->secret_len, (const unsigned char *)in, n, sig,
			  &hl))
			goto out;
		return (long)hl;
	}
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return -ENOMEM;
	if (EVP_DigestSignInit(ctx, NULL, k->md, NULL, k->sign_key) != 1 ||
	    EVP_DigestSign(ctx, k->alg == TOKEN_RS256 ? sig : der, &sl, (const unsigned char *)in,
			   n) != 1)
		goto out_ctx;
	if (k->alg == TOKEN_RS256) {
		rc = (long)sl;
		goto out_ctx;
	}
	/* ES256: libcrypto gives DER SEQUENCE { r, s }; JOSE wants r || s */
	es = d2i_ECDSA_SIG(NULL, &p, (long)sl);
	if (!es)
		goto out_ctx;
	ECDSA_SIG_get0(es, &r, &s);
	if (BN_bn2binpad(r, sig, TOKEN__ES_HALF) != TOKEN__ES_HALF ||
	    BN_bn2binpad(s, sig + TOKEN__ES_HALF, TOKEN__ES_HALF) != TOKEN__ES_HALF)
		goto out_sig;
	rc = 2 * TOKEN__ES_HALF;
out_sig:
	ECDSA_SIG_free(es);
out_ctx:
	EVP_MD_CTX_free(ctx);
out:
	if (rc < 0)
		ERR_clear_error();
	return rc;
}

/* JOSE r || s as the DER libcrypto verifies. Returns the DER length or -1. */
static int token__es_der(const unsigned char *sig, unsigned char *der, size_t cap)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, TOKEN__ES_HALF, NULL);
	BIGNUM *s = BN_bin2bn(sig + TOKEN__ES_HALF, TOKEN__ES_HALF, NULL);
	unsigned char *p = der;
	int n = -1;

	if (!es || !r || !s) {
		BN_free(r);
		BN_free(s);
		goto out;
	}
	ECDSA_SIG_set0(es, r, s); /* es owns them now */
	n = i2d_ECDSA_SIG(es, NULL);
	if (n <= 0 || (size_t)n > cap)
		n = -1;
	else
		n = i2d_ECDSA_SIG(es, &p);
out:
	ECDSA_SIG_free(es);
	return n;
}

/* Checks sig[0, sl) over in[0, n). Returns 0, TOKEN_ERR_SIGNATURE or -ENOMEM. */
static int token__sig_check(const struct token_keys *k, const char *in, size_t n,
			    const unsigned char *sig, size_t sl)
{
	unsigned char mac[EVP_MAX_MD_SIZE], der[TOKEN__SIG_MAX];
	EVP_MD_CTX *ctx;
	unsigned int ml;
	int dl, rc = TOKEN_ERR_SIGNATURE;

	if (k->alg == TOKEN_HS256) {
		if (sl != TOKEN__HMAC_LEN)
			return TOKEN_ERR_SIGNATURE;
		if (!HMAC(k->md, k->secret, (int)k->secret_len, (const unsigned char *)in, n, mac,
			  &ml) ||
		    ml != TOKEN__HMAC_LEN) {
			ERR_clear_error();
			return -ENOMEM; /* HMAC fails only for want of memory */
		}
		/* constant time: a timing oracle would let a client forge a MAC byte by byte */
		rc = CRYPTO_memcmp(mac, sig, TOKEN__HMAC_LEN) == 0 ? 0 : TOKEN_ERR_SIGNATURE;
		OPENSSL_cleanse(mac, sizeof(mac));
		return rc;
	}
	if (k->alg == TOKEN_ES256) {
		if (sl != 2 * TOKEN__ES_HALF)
			return TOKEN_ERR_SIGNATURE;
		dl = token__es_der(sig, der, sizeof(der));
		if (dl < 0)
			return -ENOMEM;
		sig = der;
		sl = (size_t)dl;
	}
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return -ENOMEM;
	if (EVP_DigestVerifyInit(ctx, NULL, k->md, NULL, k->verify_key) == 1 &&
	    EVP_DigestVerify(ctx, sig, sl, (const unsigned char *)in, n) == 1)
		rc = 0;
	EVP_MD_CTX_free(ctx);
	if (rc)
		ERR_clear_error();
	return rc;
}

/* ---- keys --------------------------------------------------------------- */

/* A PEM passphrase callback that has none: libcrypto's default would prompt
 * on the terminal. */
static int token__no_pass(char *buf, int size, int rwflag, void *u)
{
	return -1;
}

/* Reads one key from a PEM file. Returns 0, -errno or -EINVAL. */
static int token__read_pem(const char *path, bool priv, EVP_PKEY **out, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	int e;

	if (!f) {
		e = errno;
		token__err(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	*out = priv ? PEM_read_PrivateKey(f, NULL, token__no_pass, NULL)
		    : PEM_read_PUBKEY(f, NULL, token__no_pass, NULL);
	fclose(f);
	if (*out)
		return 0;
	ERR_clear_error();
	token__err(err, errlen, "%s: not an unencrypted PEM %s key", path,
		   priv ? "private" : "public (BEGIN PUBLIC KEY)");
	return -EINVAL;
}

/* Whether key suits k->alg. Returns 0 or -EINVAL. */
static int token__key_fits(const struct token_keys *k, EVP_PKEY *key, const char *path, char *err,
			   size_t errlen)
{
	char group[64];
	size_t gl;
	int bits;

	if (k->alg == TOKEN_RS256) {
		bits = EVP_PKEY_get_bits(key);
		if (!EVP_PKEY_is_a(key, "RSA")) {
			token__err(err, errlen, "%s: RS256 needs an RSA key", path);
			return -EINVAL;
		}
		if (bits < TOKEN__RSA_MIN_BITS || bits > TOKEN__RSA_MAX_BITS) {
			token__err(err, errlen, "%s: RS256 needs 2048 to 8192 bits, not %d", path,
				   bits);
			return -EINVAL;
		}
		return 0;
	}
	if (!EVP_PKEY_is_a(key, "EC") ||
	    EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
					   &gl) != 1 ||
	    OBJ_txt2nid(group) != NID_X9_62_prime256v1) {
		ERR_clear_error();
		token__err(err, errlen, "%s: ES256 needs an EC key on P-256 (prime256v1)", path);
		return -EINVAL;
	}
	return 0;
}

int token_keys_init(struct token_keys *k, const char *alg, const void *secret, size_t len,
		    const char *private_pem, const char *public_pem, char *err, size_t errlen)
{
	unsigned char sig[TOKEN__SIG_MAX];
	static const char probe[] = "sluice key pair probe";
	long sl;
	int rc = -EINVAL;

	memset(k, 0, sizeof(*k));
	if (!token__given(alg) || strcmp(alg, "HS256") == 0) {
		k->alg = TOKEN_HS256;
		k->name = "HS256";
	} else if (strcmp(alg, "RS256") == 0) {
		k->alg = TOKEN_RS256;
		k->name = "RS256";
	} else if (strcmp(alg, "ES256") == 0) {
		k->alg = TOKEN_ES256;
		k->name = "ES256";
	} else {
		token__err(err, errlen, "unknown algorithm '%s' (HS256, RS256 or ES256)", alg);
		goto fail;
	}
	k->md = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (!k->md) {
		ERR_clear_error();
		token__err(err, errlen, "libcrypto has no SHA-256");
		rc = -ENOMEM;
		goto fail;
	}
	if (k->alg == TOKEN_HS256) {
		if (token__given(private_pem) || token__given(public_pem)) {
			token__err(err, errlen, "HS256 takes a secret, not key files");
			goto fail;
		}
		if (!secret || len == 0 || len > INT_MAX) {
			token__err(err, errlen, "HS256 needs a secret of 1 byte or more");
			goto fail;
		}
		k->secret = malloc(len);
		if (!k->secret) {
			token__err(err, errlen, "out of memory");
			rc = -ENOMEM;
			goto fail;
		}
		memcpy(k->secret, secret, len);
		k->secret_len = len;
		return 0;
	}
	if (!token__given(private_pem) && !token__given(public_pem)) {
		token__err(err, errlen, "%s needs a public key file, a private one, or both",
			   k->name);
		goto fail;
	}
	if (token__given(private_pem)) {
		rc = token__read_pem(private_pem, true, &k->sign_key, err, errlen);
		if (rc == 0)
			rc = token__key_fits(k, k->sign_key, private_pem, err, errlen);
		if (rc)
			goto fail;
	}
	if (token__given(public_pem)) {
		rc = token__read_pem(public_pem, false, &k->verify_key, err, errlen);
		if (rc == 0)
			rc = token__key_fits(k, k->verify_key, public_pem, err, errlen);
		if (rc)
			goto fail;
	} else {
		EVP_PKEY_up_ref(k->sign_key);
		k->verify_key = k->sign_key;
	}
	if (k->sign_key) {
		/* a mismatched pair would sign tokens no one accepts: find out now */
		sl = token__sig_make(k, probe, sizeof(probe) - 1, sig);
		rc = sl < 0 ? (int)sl
			    : token__sig_check(k, probe, sizeof(probe) - 1, sig, (size_t)sl);
		if (rc) {
			token__err(err, errlen, "%s and %s are not a key pair", private_pem,
				   token__given(public_pem) ? public_pem : "itself");
			rc = rc == -ENOMEM ? rc : -EINVAL;
			goto fail;
		}
	}
	return 0;
fail:
	token_keys_deinit(k);
	return rc;
}

void token_keys_deinit(struct token_keys *k)
{
	if (k->secret)
		OPENSSL_clear_free(k->secret, k->secret_len);
	EVP_PKEY_free(k->sign_key);
	EVP_PKEY_free(k->verify_key);
	EVP_MD_free(k->md);
	memset(k, 0, sizeof(*k));
}

bool token_keys_can_sign(const struct token_keys *k)
{
	return k->alg == TOKEN_HS256 ? k->secret != NULL : k->sign_key != NULL;
}

/* ---- verify ------------------------------------------------------------- */

/* Whether the decoded header h[0, n) is an object naming k's algorithm.
 * Returns 0, TOKEN_ERR_MALFORMED or TOKEN_ERR_ALG. */
static int token__header(const struct token_keys *k, const char *h, size_t n)
{
	const char *v;
	size_t vl;
	char name[16];
	long nl;

	if (!token__object(h, n))
		return TOKEN_ERR_MALFORMED;
	if (sluice_json_member(h, n, "alg", &v, &vl) != 0)
		return TOKEN_ERR_ALG;
	nl = sluice_json_string(v, vl, name, sizeof(name));
	if (nl < 0 || (size_t)nl != strlen(k->name) || memcmp(name, k->name, (size_t)nl) != 0)
		return TOKEN_ERR_ALG;
	return 0;
}

int token_verify(const struct token_keys *k, const char *jwt, size_t len, int64_t now_s,
		 struct token_claims *out)
{
	unsigned char sig[TOKEN__SIG_MAX];
	char head[TOKEN__HEADER_MAX];
	const char *d1, *d2;
	char *pay = NULL;
	size_t pl;
	long hn, pn, sn;
	bool exact;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!jwt || len == 0 || len > TOKEN_MAX_LEN)
		return TOKEN_ERR_MALFORMED;
	d1 = memchr(jwt, '.', len);
	d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - jwt)) : NULL;
	if (!d2) /* a third '.' fails the signature's base64url below */
		return TOKEN_ERR_MALFORMED;
	hn = token_b64url_decode(jwt, (size_t)(d1 - jwt), head, sizeof(head));
	if (hn < 0)
		return TOKEN_ERR_MALFORMED;
	rc = token__header(k, head, (size_t)hn);
	if (rc)
		return rc;
	pl = (size_t)(d2 - d1 - 1);
	pay = malloc(pl / 4 * 3 + 3); /* room for the NUL, too */
	if (!pay)
		return -ENOMEM;
	rc = TOKEN_ERR_MALFORMED;
	pn = token_b64url_decode(d1 + 1, pl, pay, pl / 4 * 3 + 2);
	if (pn <= 0)
		goto fail;
	sn = token_b64url_decode(d2 + 1, len - (size_t)(d2 + 1 - jwt), sig, sizeof(sig));
	if (sn == -ENOSPC)
		rc = TOKEN_ERR_SIGNATURE; /* longer than any of ours */
	if (sn <= 0)
		goto fail;
	rc = token__sig_check(k, jwt, (size_t)(d2 - jwt), sig, (size_t)sn);
	if (rc)
		goto fail;
	/* signed by us: only now is the payload worth reading */
	rc = TOKEN_ERR_MALFORMED;
	if (!token__object(pay, (size_t)pn))
		goto fail;
	switch (token__seconds(pay, (size_t)pn, "nbf", &out->nbf, &exact)) {
	case 0:
		out->has_nbf = true;
		break;
	case -ENOENT:
		break;
	default:
		goto fail;
	}
	switch (token__seconds(pay, (size_t)pn, "exp", &out->exp, &exact)) {
	case 0:
		out->has_exp = true;
		break;
	case -ENOENT:
		break;
	default:
		goto fail;
	}
	/* iat is informational here: jsonwebtoken checks it only with maxAge */
	out->has_iat = token__seconds(pay, (size_t)pn, "iat", &out->iat, &exact) == 0;
	if (out->has_nbf && out->nbf > now_s)
		rc = TOKEN_ERR_NOT_BEFORE;
	else if (out->has_exp && now_s >= out->exp)
		rc = TOKEN_ERR_EXPIRED;
	else
		rc = 0;
	if (rc)
		goto fail;
	pay[pn] = '\0';
	out->payload = pay;
	out->len = (size_t)pn;
	return 0;
fail:
	free(pay);
	return rc;
}

/* ---- sign --------------------------------------------------------------- */

/* The bytes a signature of k's takes at most. */
static size_t token__sig_len(const struct token_keys *k)
{
	if (k->alg == TOKEN_HS256)
		return TOKEN__HMAC_LEN;
	if (k->alg == TOKEN_ES256)
		return 2 * TOKEN__ES_HALF;
	return (size_t)EVP_PKEY_get_size(k->sign_key);
}

int token_sign(const struct token_keys *k, const char *payload, size_t len, int64_t now_s,
	       uint32_t default_expiry_s, char **out, size_t *out_len)
{
	unsigned char sig[TOKEN__SIG_MAX];
	char head[64], add[64], *claims = NULL, *tok = NULL;
	int64_t iat = 0, exp = 0, nbf = 0, base;
	bool has_iat, has_exp, iat_exact, exact;
	size_t hl, al = 0, cl, close, open, i, n, total;
	bool empty = true;
	long sl;
	int rc, ri, re;

	if (!token_keys_can_sign(k))
		return -ENOKEY;
	if (payload && len > TOKEN_MAX_LEN)
		return -EMSGSIZE;
	if (!payload || !token__object(payload, len))
		return -EINVAL;
	/* jsonwebtoken's payload schema: these must be numbers */
	ri = token__seconds(payload, len, "iat", &iat, &iat_exact);
	re = token__seconds(payload, len, "exp", &exp, &exact);
	if (ri == -EINVAL || re == -EINVAL ||
	    token__seconds(payload, len, "nbf", &nbf, &exact) == -EINVAL)
		return -EINVAL;
	has_iat = ri == 0;
	has_exp = re == 0;

	if (!has_iat)
		al = (size_t)snprintf(add, sizeof(add), "\"iat\":%lld", (long long)now_s);
	if (!has_exp && default_expiry_s) {
		/* jsonwebtoken: exp = (payload.iat || now) + expiresIn */
		base = has_iat && iat_exact && iat != 0 ? iat : now_s;
		if (base > INT64_MAX - default_expiry_s)
			return -EINVAL;
		al += (size_t)snprintf(add + al, sizeof(add) - al, "%s\"exp\":%lld", al ? "," : "",
				       (long long)(base + default_expiry_s));
	}

	/* insert before the object's closing brace, after a ',' unless it is {} */
	for (open = 0; payload[open] != '{'; open++)
		;
	for (close = len - 1; payload[close] != '}'; close--)
		;
	for (i = open + 1; i < close; i++)
		empty &= token__space(payload[i]);
	cl = len + al + (al && !empty);

	hl = (size_t)snprintf(head, sizeof(head), "{\"alg\":\"%s\",\"typ\":\"JWT\"}", k->name);
	total = token_b64url_len(hl) + 1 + token_b64url_len(cl) + 1 +
		token_b64url_len(token__sig_len(k));
	if (total > TOKEN_MAX_LEN)
		return -EMSGSIZE;
	claims = malloc(cl);
	tok = malloc(total + 1);
	rc = -ENOMEM;
	if (!claims || !tok)
		goto fail;
	memcpy(claims, payload, close);
	n = close;
	if (al && !empty)
		claims[n++] = ',';
	memcpy(claims + n, add, al);
	memcpy(claims + n + al, payload + close, len - close);

	n = token_b64url_encode(head, hl, tok);
	tok[n++] = '.';
	n += token_b64url_encode(claims, cl, tok + n);
	sl = token__sig_make(k, tok, n, sig);
	if (sl < 0) {
		rc = (int)sl;
		goto fail;
	}
	tok[n++] = '.';
	n += token_b64url_encode(sig, (size_t)sl, tok + n);
	tok[n] = '\0';
	free(claims);
	*out = tok;
	*out_len = n;
	return 0;
fail:
	free(claims);
	free(tok);
	return rc;
}

const char *token_strerror(int err)
{
	switch (err) {
	case 0:
		return "ok";
	case TOKEN_ERR_MALFORMED:
		return "malformed token";
	case TOKEN_ERR_ALG:
		return "wrong algorithm";
	case TOKEN_ERR_SIGNATURE:
		return "bad signature";
	case TOKEN_ERR_EXPIRED:
		return "token expired";
	case TOKEN_ERR_NOT_BEFORE:
		return "token not yet valid";
	default:
		return "not a token error";
	}
}
