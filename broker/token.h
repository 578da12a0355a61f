/*
 * token: JSON Web Tokens as socketcluster's auth engine (npm jsonwebtoken)
 * makes and checks them: JWS compact serialisation, "header.payload.sig",
 * each part base64url without padding, signed with one of
 *
 *   HS256  HMAC-SHA256 with a shared secret (the default)
 *   RS256  RSASSA-PKCS1-v1_5 with SHA-256, RSA keys of 2048 to 8192 bits
 *   ES256  ECDSA on P-256 with SHA-256; the JOSE signature is r || s, 64 bytes
 *
 * on OpenSSL's libcrypto. A server has one key set and one algorithm: a
 * token whose header names any other ("none" included) is refused before
 * its signature is looked at, so a public key can never be used as an HMAC
 * secret (algorithm confusion).
 *
 * Claims are read with sluice_json_member and friends, the one JSON reader;
 * the payload is handed back exactly as the token carried it. Signing adds
 * "iat" and "exp" by inserting them before the payload's closing brace, so
 * the application's bytes are kept as they were.
 *
 * Threads: token_keys_init and token_keys_deinit [setup], once, from one
 * thread. In between the key set is read-only and token_verify and
 * token_sign may be called from any number of threads at once; each call
 * uses contexts of its own.
 *
 * Errors are 0, a negative errno, or a TOKEN_ERR_* in
 * [-(TOKEN_ERR_BASE + 63), -TOKEN_ERR_BASE], apart from every errno and from
 * the HTTP_ERR_*, WS_ERR_* and PACKET_ERR_* ranges.
 */
#ifndef SLUICE_TOKEN_H
#define SLUICE_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TOKEN_ERR_BASE 16384
/* Not a JWT: parts, base64url, header or payload not a JSON object, an
 * "exp"/"nbf" that is not a number, longer than TOKEN_MAX_LEN. */
#define TOKEN_ERR_MALFORMED (-(TOKEN_ERR_BASE + 1))
/* The header's "alg" is not the server's algorithm (or is missing). */
#define TOKEN_ERR_ALG (-(TOKEN_ERR_BASE + 2))
/* The signature does not match (wrong key, altered token, wrong length). */
#define TOKEN_ERR_SIGNATURE (-(TOKEN_ERR_BASE + 3))
/* Signed and well-formed, but "exp" <= now (claims->exp says when). */
#define TOKEN_ERR_EXPIRED (-(TOKEN_ERR_BASE + 4))
/* Signed and well-formed, but "nbf" > now (claims->nbf says when). */
#define TOKEN_ERR_NOT_BEFORE (-(TOKEN_ERR_BASE + 5))

/* The longest token taken or made, in bytes of text. The client sends it in
 * every #handshake; 16 KiB is far beyond any sensible payload. */
#define TOKEN_MAX_LEN 16384

enum token_alg { TOKEN_HS256 = 1, TOKEN_RS256, TOKEN_ES256 };

struct evp_md_st;   /* EVP_MD: OpenSSL stays out of this header */
struct evp_pkey_st; /* EVP_PKEY */

/* A server's keys; read-only once initialised. */
struct token_keys {
	enum token_alg alg;
	const char *name;      /* "HS256", "RS256", "ES256" */
	unsigned char *secret; /* HS256 */
	size_t secret_len;
	struct evp_pkey_st *sign_key;	/* RS/ES256 private key, NULL: verify only */
	struct evp_pkey_st *verify_key; /* RS/ES256 public key (or the private one) */
	struct evp_md_st *md;		/* SHA-256, fetched once */
};

/* What a verified token says. */
struct token_claims {
	char *payload;	       /* the payload JSON, NUL-terminated (malloc: free() it) */
	size_t len;	       /* its length without the NUL */
	int64_t exp, iat, nbf; /* seconds; a fraction rounds up */
	bool has_exp, has_iat, has_nbf;
};

/*
 * [setup] Reads the keys for alg: "HS256" (NULL or "" too), "RS256" or
 * "ES256", matched exactly.
 *   HS256: secret[0, len), at least one byte, copied; the PEM paths must be
 *          NULL or "".
 *   RS256, ES256: PEM files. public_pem (SubjectPublicKeyInfo, "BEGIN PUBLIC
 *          KEY") verifies, private_pem (PKCS#8 or the traditional RSA/EC
 *          form, unencrypted) signs; either may be NULL or "", not both.
 *          With only a private key it verifies too; with both, they must be
 *          a pair (checked by signing and verifying once). The key must be
 *          RSA of 2048 to 8192 bits for RS256 (jsonwebtoken's minimum), EC
 *          on P-256 for ES256.
 * Returns 0; -EINVAL (alg, secret, a key that is not PEM, of the wrong type
 * or size, or not a pair), the -errno of a file that cannot be opened, or
 * -ENOMEM. On error err says why (and which file) and *k is left zeroed:
 * token_keys_deinit on it is harmless.
 */
int token_keys_init(struct token_keys *k, const char *alg, const void *secret, size_t len,
		    const char *private_pem, const char *public_pem, char *err, size_t errlen);

/* [setup] Frees the keys (the secret is wiped first) and zeroes *k; on a
 * zeroed key set it does nothing. */
void token_keys_deinit(struct token_keys *k);

/* [any] Whether token_sign can work: HS256, or a private key was given. */
bool token_keys_can_sign(const struct token_keys *k);

/*
 * [any] Checks the token jwt[0, len) at time now_s (Unix seconds), in
 * jsonwebtoken's order: form and algorithm, signature, payload (a JSON
 * object), then "nbf" > now (not yet valid) and "exp" <= now (expired).
 * "exp" and "nbf" must be JSON numbers when present; other claims ("iss",
 * "aud", ...) are the application's business.
 * Returns 0 with out->payload allocated for the caller; TOKEN_ERR_MALFORMED,
 * TOKEN_ERR_ALG or TOKEN_ERR_SIGNATURE; TOKEN_ERR_NOT_BEFORE with out->nbf,
 * or TOKEN_ERR_EXPIRED with out->exp (for AuthTokenExpiredError's expiry);
 * or -ENOMEM. On every error out->payload is NULL: nothing to free.
 */
int token_verify(const struct token_keys *k, const char *jwt, size_t len, int64_t now_s,
		 struct token_claims *out);

/*
 * [any] Signs payload[0, len), which must be a JSON object, at time now_s,
 * as socketcluster's setAuthToken does: "iat": now_s is added unless the
 * payload has one; "exp" is added unless the payload has one, as iat +
 * default_expiry_s (jsonwebtoken counts expiresIn from the payload's own
 * integer "iat" when there is one, else from now); default_expiry_s 0 adds
 * no "exp". The header is {"alg":"<alg>","typ":"JWT"}, as jsonwebtoken's.
 * Returns 0 with *out the token (NUL-terminated, malloc: free() it) and
 * *out_len its length; -EINVAL when payload is not a JSON object or its
 * "iat", "exp" or "nbf" is not a number; -ENOKEY when the keys cannot sign;
 * -EMSGSIZE when the token would pass TOKEN_MAX_LEN; -ENOMEM; -EIO when
 * libcrypto fails. *out is untouched on error.
 */
int token_sign(const struct token_keys *k, const char *payload, size_t len, int64_t now_s,
	       uint32_t default_expiry_s, char **out, size_t *out_len);

/* [any] Bytes of base64url text, without padding, for n bytes of data. */
static inline size_t token_b64url_len(size_t n)
{
	return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

/* [any] Writes token_b64url_len(n) characters of in[0, n) to out (no NUL);
 * returns that length. */
size_t token_b64url_encode(const void *in, size_t n, char *out);

/*
 * [any] Decodes the base64url text in[0, n) into out[0, cap), strictly: the
 * URL-safe alphabet only, no padding, no whitespace, and the unused low bits
 * of the last character zero, so each byte string has exactly one text.
 * Returns the decoded length, TOKEN_ERR_MALFORMED for text that is not
 * base64url, or -ENOSPC when it does not fit in cap.
 */
long token_b64url_decode(const char *in, size_t n, void *out, size_t cap);

/* [any] A static name for a TOKEN_ERR_* code, for logs and tests. */
const char *token_strerror(int err);

#endif
