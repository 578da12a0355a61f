/*
 * Unit tests of broker/json (sluice_json_member, sluice_json_int and
 * sluice_json_string in sluice.h), table-driven: members found as exact
 * bytes of the caller's buffer, the last duplicate winning; not-an-object and
 * missing keys apart from invalid JSON; integers at the int64 limits and
 * everything else refused; strings unescaped, surrogates paired, and a
 * buffer one byte short refused.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "sluice.h"

#define N(a)	(sizeof(a) / sizeof((a)[0]))
#define TEXT(s) s, sizeof(s) - 1

/* ---- sluice_json_member ------------------------------------------------- */

struct member_case {
	const char *json;
	size_t len;
	const char *key;
	int rc;
	const char *val; /* exact bytes when rc is 0 */
};

static const struct member_case member_cases[] = {
    {TEXT("{\"a\":1}"), "a", 0, "1"},
    {TEXT("{\"a\":1,\"b\":\"two\"}"), "b", 0, "\"two\""},
    {TEXT("{\"a\":1,\"a\":2}"), "a", 0, "2"},
    {TEXT("{\"a\":1,\"b\":0,\"a\":{\"x\":[3]}}"), "a", 0, "{\"x\":[3]}"},
    {TEXT("{\"a\":{\"b\":[1, 2, {\"c\":null}]}}"), "a", 0, "{\"b\":[1, 2, {\"c\":null}]}"},
    {TEXT("{\"a\":[ ]}"), "a", 0, "[ ]"},
    {TEXT(" \t\r\n{ \"a\" :  \"x y\" , \"b\" : null }\n "), "a", 0, "\"x y\""},
    {TEXT("{ \"a\" : 1 , \"b\" :\tnull\n}"), "b", 0, "null"},
    {TEXT("{\"a\":\"q\\\"}\"}"), "a", 0, "\"q\\\"}\""},
    {TEXT("{\"a\":-1.5e+3}"), "a", 0, "-1.5e+3"},
    {TEXT("{\"a\":true,\"c\":false}"), "c", 0, "false"},
    {TEXT("{\"\\u0061\":5}"), "a", 0, "5"},
    {TEXT("{\"\":7}"), "", 0, "7"},
    {TEXT("{\"caf\xc3\xa9\":\"\xe2\x82\xac\"}"), "caf\xc3\xa9", 0, "\"\xe2\x82\xac\""},
    {TEXT("{\"a\":1}"), "b", -ENOENT, NULL},
    {TEXT("{\"ab\":1}"), "a", -ENOENT, NULL},
    {TEXT("{\"a\":1}"), "ab", -ENOENT, NULL},
    {TEXT("{\"x\":{\"a\":1}}"), "a", -ENOENT, NULL},
    {TEXT("{}"), "a", -ENOENT, NULL},
    {TEXT("{ }"), "a", -ENOENT, NULL},
    {TEXT("[\"a\",1]"), "a", -ENOENT, NULL},
    {TEXT("\"a\""), "a", -ENOENT, NULL},
    {TEXT("1"), "a", -ENOENT, NULL},
    {TEXT("null"), "a", -ENOENT, NULL},
    {TEXT(""), "a", -ENOENT, NULL},
    {TEXT("   "), "a", -ENOENT, NULL},
    {TEXT("{\"a\":1"), "a", -EINVAL, NULL},
    {TEXT("{\"a\":}"), "a", -EINVAL, NULL},
    {TEXT("{a:1}"), "a", -EINVAL, NULL},
    {TEXT("{\"a\":1,}"), "a", -EINVAL, NULL},
    {TEXT("{\"a\":tru}"), "a", -EINVAL, NULL},
    {TEXT("{\"a\":01}"), "a", -EINVAL, NULL},
    {TEXT("{\"a\":1 \"b\":2}"), "a", -EINVAL, NULL},
    {TEXT("{\"a\":1,\"b\":x}"), "a", -EINVAL, NULL},
    {TEXT("{\"b\":[1,}"), "a", -EINVAL, NULL},
    {TEXT("{\"a\":\"\xff\"}"), "a", -EINVAL, NULL},
    {TEXT("{\"a\":\"\x01\"}"), "a", -EINVAL, NULL},
};

static void member_table(const struct member_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct member_case *c = &cases[i];
		const char *val = (const char *)1;
		size_t vlen = 12345;
		int rc = sluice_json_member(c->json, c->len, c->key, &val, &vlen);

		cr_assert_eq(rc, c->rc, "'%.*s' [%s]: rc %d, want %d", (int)c->len, c->json, c->key,
			     rc, c->rc);
		if (rc != 0) {
			cr_assert_eq(val, (const char *)1, "'%s': *val untouched", c->json);
			cr_assert_eq(vlen, 12345, "'%s': *vlen untouched", c->json);
			continue;
		}
		cr_assert(val >= c->json && val + vlen <= c->json + c->len,
			  "'%s': the value points into the text", c->json);
		cr_assert_eq(vlen, strlen(c->val), "'%s' [%s]: '%.*s', want '%s'", c->json, c->key,
			     (int)vlen, val, c->val);
		cr_assert(memcmp(val, c->val, vlen) == 0, "'%s': bytes", c->json);
	}
}

Test(json, member_table)
{
	member_table(member_cases, N(member_cases));
}

Test(json, member_reads_only_len_bytes)
{
	static const char text[] = "{\"a\":12}{\"a\":34}";
	const char *val;
	size_t vlen;

	cr_assert_eq(sluice_json_member(text, 8, "a", &val, &vlen), 0);
	cr_assert_eq(vlen, 2);
	cr_assert(memcmp(val, "12", 2) == 0);
	cr_assert_eq(sluice_json_member(text, 7, "a", &val, &vlen), -EINVAL, "cut short");
	cr_assert_eq(sluice_json_member(NULL, 0, "a", &val, &vlen), -EINVAL);
}

/* The whole text must be one JSON value: nothing may follow the object. */
static const struct member_case member_trailing_cases[] = {
    {TEXT("{\"a\":1} x"), "a", -EINVAL, NULL},
    {TEXT("{\"a\":1}}"), "a", -EINVAL, NULL},
    {TEXT("{\"a\":1},{\"a\":2}"), "a", -EINVAL, NULL},
};

Test(json, member_refuses_bytes_after_the_object)
{
	member_table(member_trailing_cases, N(member_trailing_cases));
}

/* ---- sluice_json_int ------------------------------------------------------ */

Test(json, int_table)
{
	static const struct {
		const char *json;
		size_t len;
		int rc;
		int64_t v;
	} cases[] = {
	    {TEXT("0"), 0, 0},
	    {TEXT("-0"), 0, 0},
	    {TEXT("7"), 0, 7},
	    {TEXT("-7"), 0, -7},
	    {TEXT(" 42 "), 0, 42},
	    {TEXT("\t\r\n-12\n"), 0, -12},
	    {TEXT("1234567890123"), 0, 1234567890123},
	    {TEXT("9223372036854775807"), 0, INT64_MAX},
	    {TEXT("-9223372036854775808"), 0, INT64_MIN},
	    {TEXT("9223372036854775806"), 0, INT64_MAX - 1},
	    {TEXT("-9223372036854775807"), 0, INT64_MIN + 1},
	    {TEXT("9223372036854775808"), -EINVAL, 0},
	    {TEXT("-9223372036854775809"), -EINVAL, 0},
	    {TEXT("9223372036854775810"), -EINVAL, 0},
	    {TEXT("18446744073709551615"), -EINVAL, 0},
	    {TEXT("18446744073709551616"), -EINVAL, 0},
	    {TEXT("99999999999999999999"), -EINVAL, 0},
	    {TEXT("100000000000000000000"), -EINVAL, 0},
	    {TEXT("1.0"), -EINVAL, 0},
	    {TEXT("1.5"), -EINVAL, 0},
	    {TEXT("1e3"), -EINVAL, 0},
	    {TEXT("1E3"), -EINVAL, 0},
	    {TEXT("-1e-3"), -EINVAL, 0},
	    {TEXT("1."), -EINVAL, 0},
	    {TEXT(".5"), -EINVAL, 0},
	    {TEXT(""), -EINVAL, 0},
	    {TEXT("   "), -EINVAL, 0},
	    {TEXT("-"), -EINVAL, 0},
	    {TEXT("--1"), -EINVAL, 0},
	    {TEXT("+1"), -EINVAL, 0},
	    {TEXT("0x10"), -EINVAL, 0},
	    {TEXT("1 2"), -EINVAL, 0},
	    {TEXT("12a"), -EINVAL, 0},
	    {TEXT("abc"), -EINVAL, 0},
	    {TEXT("\"12\""), -EINVAL, 0},
	    {TEXT("true"), -EINVAL, 0},
	    {TEXT("null"), -EINVAL, 0},
	    {TEXT("[1]"), -EINVAL, 0},
	    {TEXT("{\"a\":1}"), -EINVAL, 0},
	};

	for (size_t i = 0; i < N(cases); i++) {
		int64_t v = 0x5555;
		int rc = sluice_json_int(cases[i].json, cases[i].len, &v);

		cr_assert_eq(rc, cases[i].rc, "'%s': rc %d", cases[i].json, rc);
		if (rc == 0)
			cr_assert_eq(v, cases[i].v, "'%s': %lld", cases[i].json, (long long)v);
		else
			cr_assert_eq(v, 0x5555, "'%s': *out untouched", cases[i].json);
	}
	int64_t v;
	cr_assert_eq(sluice_json_int(NULL, 0, &v), -EINVAL);
	cr_assert_eq(sluice_json_int("123", 2, &v), 0, "reads only len bytes");
	cr_assert_eq(v, 12);
}

/* A leading zero is not JSON (JSON.parse("007") throws). */
Test(json, int_refuses_leading_zeros)
{
	static const char *const cases[] = {"007", "-01", "00", "-00", "0123"};

	for (size_t i = 0; i < N(cases); i++) {
		int64_t v = 0x5555;
		int rc = sluice_json_int(cases[i], strlen(cases[i]), &v);
		cr_assert_eq(rc, -EINVAL, "'%s' gave %lld", cases[i], (long long)v);
	}
}

/* A NUL byte is not JSON whitespace, before or after the value. */
Test(json, nul_is_not_whitespace)
{
	int64_t v = 0x5555;
	char out[8];
	const char *val;
	size_t vlen;

	cr_assert_eq(sluice_json_int((const char[]){0, '5'}, 2, &v), -EINVAL, "int after NUL: %lld",
		     (long long)v);
	cr_assert_eq(sluice_json_int(TEXT("5\0"), &v), -EINVAL, "int before NUL: %lld",
		     (long long)v);
	cr_assert_eq(sluice_json_string(TEXT("\"a\"\0"), out, sizeof(out)), -EINVAL,
		     "string before NUL");
	cr_assert_eq(sluice_json_string(TEXT("\0\"a\""), out, sizeof(out)), -EINVAL,
		     "string after NUL");
	cr_assert_eq(sluice_json_member(TEXT("\0{\"a\":1}"), "a", &val, &vlen), -EINVAL,
		     "object after NUL");
	cr_assert_eq(sluice_json_member(TEXT("{\"a\":1}\0"), "a", &val, &vlen), -EINVAL,
		     "object before NUL");
}

/* ---- sluice_json_string --------------------------------------------------- */

Test(json, string_table)
{
	static const struct {
		const char *json;
		size_t len;
		long rc; /* the length, or an error */
		const char *out;
	} cases[] = {
	    {TEXT("\"abc\""), 3, "abc"},
	    {TEXT("\"\""), 0, ""},
	    {TEXT("  \"x\"\n"), 1, "x"},
	    {TEXT("\"a\\\"b\\\\c\\/d\""), 7, "a\"b\\c/d"},
	    {TEXT("\"\\b\\f\\n\\r\\t\""), 5, "\b\f\n\r\t"},
	    {TEXT("\"\\u0041\""), 1, "A"},
	    {TEXT("\"\\u00e9\""), 2, "\xc3\xa9"},
	    {TEXT("\"\\u00E9\""), 2, "\xc3\xa9"},
	    {TEXT("\"\\u20ac\""), 3, "\xe2\x82\xac"},
	    {TEXT("\"\\ud83d\\ude00\""), 4, "\xf0\x9f\x98\x80"},
	    {TEXT("\"\\uD83D\\uDE00\""), 4, "\xf0\x9f\x98\x80"},
	    {TEXT("\"\\ud800\""), 3, "\xef\xbf\xbd"},	/* lone high: U+FFFD */
	    {TEXT("\"\\udc00x\""), 4, "\xef\xbf\xbdx"}, /* lone low */
	    {TEXT("\"\\ud83dx\""), 4, "\xef\xbf\xbdx"}, /* high, then no low */
	    {TEXT("\"\\u0000\""), 1, "\0"},
	    {TEXT("\"caf\xc3\xa9 \xf0\x9f\x98\x80\""), 10, "caf\xc3\xa9 \xf0\x9f\x98\x80"},
	    {TEXT("\"a\\u0062c\\n\""), 4, "abc\n"},
	    {TEXT("abc"), -EINVAL, NULL},
	    {TEXT("1"), -EINVAL, NULL},
	    {TEXT("null"), -EINVAL, NULL},
	    {TEXT("[\"a\"]"), -EINVAL, NULL},
	    {TEXT("{\"a\":\"b\"}"), -EINVAL, NULL},
	    {TEXT(""), -EINVAL, NULL},
	    {TEXT("\""), -EINVAL, NULL},
	    {TEXT("\"abc"), -EINVAL, NULL},
	    {TEXT("abc\""), -EINVAL, NULL},
	    {TEXT("\"a\"b\""), -EINVAL, NULL},
	    {TEXT("\"a\" \"b\""), -EINVAL, NULL},
	    {TEXT("\"\\x\""), -EINVAL, NULL},
	    {TEXT("\"\\u12\""), -EINVAL, NULL},
	    {TEXT("\"\\u12g4\""), -EINVAL, NULL},
	    {TEXT("\"\\\""), -EINVAL, NULL},
	    {TEXT("\"a\nb\""), -EINVAL, NULL},
	    {TEXT("\"\x01\""), -EINVAL, NULL},
	    {TEXT("\"\xff\""), -EINVAL, NULL},
	    {TEXT("\"\xc3\""), -EINVAL, NULL},
	    {TEXT("'a'"), -EINVAL, NULL},
	};

	for (size_t i = 0; i < N(cases); i++) {
		char out[32];
		memset(out, '#', sizeof(out));
		long rc = sluice_json_string(cases[i].json, cases[i].len, out, sizeof(out));

		cr_assert_eq(rc, cases[i].rc, "'%s': rc %ld, want %ld", cases[i].json, rc,
			     cases[i].rc);
		if (rc < 0)
			continue;
		cr_assert(memcmp(out, cases[i].out, (size_t)rc) == 0, "'%s': '%.*s', want '%s'",
			  cases[i].json, (int)rc, out, cases[i].out);
		cr_assert_eq(out[rc], '\0', "'%s': NUL-terminated", cases[i].json);
	}
	char out[4];
	cr_assert_eq(sluice_json_string(NULL, 0, out, sizeof(out)), -EINVAL);
	cr_assert_eq(sluice_json_string("\"ab\"", 3, out, sizeof(out)), -EINVAL,
		     "reads only len bytes");
}

Test(json, string_needs_room_for_the_nul)
{
	static const struct {
		const char *json;
		size_t len;
		size_t need; /* bytes decoded, NUL excluded */
	} cases[] = {
	    {TEXT("\"\""), 0},
	    {TEXT("\"a\""), 1},
	    {TEXT("\"abc\""), 3},
	    {TEXT("\"\\n\\t\""), 2},
	    {TEXT("\"\\u20ac\""), 3},
	    {TEXT("\"\\ud83d\\ude00\""), 4},
	    {TEXT("\"x\xf0\x9f\x98\x80y\""), 6},
	};

	for (size_t i = 0; i < N(cases); i++) {
		char out[16];
		size_t need = cases[i].need;

		cr_assert_eq(sluice_json_string(cases[i].json, cases[i].len, out, need + 1),
			     (long)need, "'%s': exact fit", cases[i].json);
		cr_assert_eq(out[need], '\0');
		for (size_t cap = 1; cap <= need; cap++)
			cr_assert_eq(sluice_json_string(cases[i].json, cases[i].len, out, cap),
				     -ENOSPC, "'%s' in %zu bytes", cases[i].json, cap);
	}
}
