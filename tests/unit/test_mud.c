/* SPDX-License-Identifier: Apache-2.0 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/cms.h>
#include <openssl/pem.h>

#include "fleetsec/mud.h"
#include "testutil.h"

/* A small RFC 8520 file written for these tests: one from-device ACL with a
 * DNS name, a prefix with a port range, [null] matches and a to-device
 * ACL of replies. */
#define HEAD                                                                                  \
	"{\"ietf-mud:mud\": {\"mud-version\": 1, \"mud-url\": \"https://maker.example/m1\","  \
	"\"mfg-name\": \"Maker\", \"systeminfo\": \"thing\","                                   \
	"\"from-device-policy\": {\"access-lists\": {\"access-list\": [{\"name\": \"fr\"}]}},"   \
	"\"to-device-policy\": {\"access-lists\": {\"access-list\": [{\"name\": \"to\"}]}}},"
#define ACCEPT "\"actions\": {\"forwarding\": \"accept\"}"
#define GOOD                                                                                   \
	HEAD "\"ietf-access-control-list:acls\": {\"acl\": ["                                     \
	     "{\"name\": \"fr\", \"type\": \"ipv4-acl-type\", \"aces\": {\"ace\": ["              \
	     "{\"name\": \"a\", \"matches\": {\"ipv4\": {\"ietf-acldns:dst-dnsname\": "          \
	     "\"cloud.maker.example\", \"protocol\": 6}, \"tcp\": {\"ietf-mud:direction-initiated\": " \
	     "\"from-device\", \"destination-port\": {\"operator\": \"eq\", \"port\": 443}}}, " ACCEPT "},"  \
	     "{\"name\": \"b\", \"matches\": {\"ipv4\": {\"destination-ipv4-network\": "         \
	     "\"198.51.100.0/24\", \"protocol\": 17}, \"udp\": {\"destination-port\": "           \
	     "{\"lower-port\": 5000, \"upper-port\": 5010}}}, " ACCEPT "},"                        \
	     "{\"name\": \"c\", \"matches\": {\"ietf-mud:mud\": {\"same-manufacturer\": [null]}," \
	     "\"tcp\": {\"destination-port\": {\"operator\": \"eq\", \"port\": 8883}}}, " ACCEPT "}" \
	     "]}},"                                                                                \
	     "{\"name\": \"to\", \"type\": \"ipv4-acl-type\", \"aces\": {\"ace\": ["              \
	     "{\"name\": \"r\", \"matches\": {\"ipv4\": {\"ietf-acldns:src-dnsname\": "          \
	     "\"cloud.maker.example\", \"protocol\": 6}, \"tcp\": {\"source-port\": "             \
	     "{\"operator\": \"eq\", \"port\": 443}}}, " ACCEPT "}]}}]}}"

static enum fsec_err parse(const char *text, struct fsec_mud **m)
{
	return fsec_mud_parse((const unsigned char *)text, strlen(text), m);
}

static void parses_entries(void **state)
{
	struct fsec_mud *m = NULL;
	const struct fsec_mud_ace *a;

	(void)state;
	assert_int_equal(parse(GOOD, &m), FSEC_OK);
	assert_string_equal(fsec_mud_url(m), "https://maker.example/m1");
	assert_string_equal(fsec_mud_manufacturer(m), "maker.example");
	assert_string_equal(fsec_mud_mfg_name(m), "Maker");
	assert_int_equal(fsec_mud_ace_count(m), 4);
	assert_int_equal(fsec_mud_warning_count(m), 0);
	a = fsec_mud_ace_get(m, 0);
	assert_int_equal(a->dir, FSEC_MUD_FROM_DEVICE);
	assert_int_equal(a->peer, FSEC_MUD_PEER_DNS);
	assert_string_equal(a->dnsname, "cloud.maker.example");
	assert_int_equal(a->proto, 6);
	assert_int_equal(a->dport_lo, 443);
	assert_int_equal(a->dport_hi, 443);
	assert_int_equal(a->initiated, FSEC_MUD_INIT_FROM_DEVICE);
	assert_string_equal(a->path, "$.ietf-access-control-list:acls.acl[0].aces.ace[0]");
	a = fsec_mud_ace_get(m, 1);
	assert_int_equal(a->peer, FSEC_MUD_PEER_ADDR);
	assert_string_equal(a->addr, "198.51.100.0/24");
	assert_int_equal(a->dport_lo, 5000);
	assert_int_equal(a->dport_hi, 5010);
	a = fsec_mud_ace_get(m, 2);
	assert_int_equal(a->peer, FSEC_MUD_PEER_MATCH);
	assert_int_equal(a->match, FSEC_MUD_MATCH_SAME_MANUFACTURER);
	assert_int_equal(a->proto, 6); /* implied by the tcp container */
	a = fsec_mud_ace_get(m, 3);
	assert_int_equal(a->dir, FSEC_MUD_TO_DEVICE);
	assert_int_equal(a->sport_lo, 443);
	assert_null(fsec_mud_ace_get(m, 4));
	fsec_mud_free(m);
	fsec_mud_free(NULL);
}

static void draft_spellings_warn_with_paths(void **state)
{
	struct fsec_mud *m = NULL;
	char *t = tu_replace(GOOD, "ietf-access-control-list:acls", "ietf-access-control-list:access-lists");

	(void)state;
	assert_int_equal(parse(t, &m), FSEC_OK);
	assert_int_equal(fsec_mud_warning_count(m), 1);
	assert_non_null(strstr(fsec_mud_warning_get(m, 0),
			       "$.ietf-access-control-list:access-lists: pre-RFC key"));
	assert_int_equal(fsec_mud_ace_count(m), 4);
	fsec_mud_free(m);
	free(t);
}

static void unsupported_is_reported_not_dropped(void **state)
{
	const char *const cases[][3] = {
		/* {from, to, expected warning} */
		{"\"same-manufacturer\": [null]", "\"is-my-friend\": [null]",
		 "acl[0].aces.ace[2].matches.ietf-mud:mud.is-my-friend: unknown ietf-mud:mud match"},
		{"{\"operator\": \"eq\", \"port\": 8883}", "{\"operator\": \"neq\", \"port\": 8883}",
		 "ace[2].matches.tcp.destination-port: operator 'neq' is not supported"},
		{"\"protocol\": 17}", "\"protocol\": 17, \"dscp\": 4}",
		 "ace[1].matches.ipv4.dscp: unsupported match"},
		{"\"forwarding\": \"accept\"", "\"forwarding\": \"drop\"",
		 "ace[0].actions.forwarding: 'drop' entry not compiled"},
		{"\"ipv4-acl-type\"", "\"mixed-eth-ipv4-acl-type\"",
		 "acl[0].type: unsupported ACL type"},
		{"\"systeminfo\"", "\"new-thing\": 1, \"systeminfo\"",
		 "$.ietf-mud:mud.new-thing: unknown MUD field"},
	};
	struct fsec_mud *m = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *t = tu_replace(GOOD, cases[i][0], cases[i][1]);
		bool found = false;

		assert_int_equal(parse(t, &m), FSEC_OK);
		for (size_t w = 0; w < fsec_mud_warning_count(m); w++)
			found |= strstr(fsec_mud_warning_get(m, w), cases[i][2]) != NULL;
		if (!found)
			fail_msg("case %zu: no warning '%s'", i, cases[i][2]);
		/* The entry itself is gone: nothing looser than written (the
		 * last case is a header field, which removes no entry). */
		if (i + 1 < sizeof(cases) / sizeof(cases[0]))
			assert_true(fsec_mud_ace_count(m) < 4);
		fsec_mud_free(m);
		m = NULL;
		free(t);
	}
}

static void refusals_name_the_path(void **state)
{
	const char *const cases[][3] = {
		{"\"port\": 443}", "\"port\": 70000}",
		 "ace[0].matches.tcp.destination-port.port: expected an integer"},
		{"\"same-manufacturer\": [null]", "\"same-manufacturer\": null",
		 "matches.ietf-mud:mud.same-manufacturer: expected [null]"},
		{"\"name\": \"fr\"}", "\"name\": \"nope\"}",
		 "$.ietf-mud:mud.from-device-policy.access-lists.access-list[0].name: names an ACL"},
		{"https://maker.example/m1", "http://maker.example/m1", "mud-url: must be an https URL"},
		{"\"198.51.100.0/24\"", "\"198.51.100.0/33\"",
		 "ace[1].matches.ipv4.destination-ipv4-network: bad prefix length"},
		{"\"protocol\": 6}, \"tcp\"", "\"protocol\": 17}, \"tcp\"",
		 "ace[0].matches: protocol does not match"},
		{"\"mud-version\": 1", "\"mud-version\": 2", "$.ietf-mud:mud.mud-version"},
		{"\"cloud.maker.example\", \"protocol\": 6}, \"tcp\": {\"ietf-mud:direction-initiated\"",
		 "\"com\", \"protocol\": 6}, \"tcp\": {\"ietf-mud:direction-initiated\"",
		 "ace[0].matches.ipv4.ietf-acldns:dst-dnsname: DNS name is not a host name"},
		{"\"cloud.maker.example\", \"protocol\": 6}, \"tcp\": {\"ietf-mud:direction-initiated\"",
		 "\"a/b.example\", \"protocol\": 6}, \"tcp\": {\"ietf-mud:direction-initiated\"",
		 "ace[0].matches.ipv4.ietf-acldns:dst-dnsname: DNS name is not a host name"},
		{"\"mfg-name\": \"Maker\"", "\"mfg-name\": \"Maker\", \"mfg-name\": \"Again\"",
		 "$: not JSON"},
	};
	struct fsec_mud *m = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *t = tu_replace(GOOD, cases[i][0], cases[i][1]);

		if (parse(t, &m) != FSEC_ERR_PARSE)
			fail_msg("case %zu accepted", i);
		if (strstr(fsec_err_detail(), cases[i][2]) == NULL)
			fail_msg("case %zu: expected '%s', got '%s'", i, cases[i][2], fsec_err_detail());
		assert_null(strchr(fsec_err_detail(), '\n'));
		free(t);
	}
	assert_int_equal(parse("{\"ietf-mud:mud\": {", &m), FSEC_ERR_PARSE);
	assert_int_equal(parse("[]", &m), FSEC_ERR_PARSE);
	assert_int_equal(fsec_mud_parse((const unsigned char *)GOOD, FSEC_MUD_MAX + 1, &m),
			 FSEC_ERR_TOO_LARGE);
}

static void hostile_text_stays_one_line(void **state)
{
	struct fsec_mud *m = NULL;
	char *t = tu_replace(GOOD, "\"systeminfo\"", "\"evil\\nline\": 1, \"systeminfo\"");

	(void)state;
	assert_int_equal(parse(t, &m), FSEC_OK);
	assert_int_equal(fsec_mud_warning_count(m), 1);
	assert_null(strchr(fsec_mud_warning_get(m, 0), '\n'));
	assert_non_null(strstr(fsec_mud_warning_get(m, 0), "evil?line"));
	fsec_mud_free(m);
	free(t);
}

/* A detached CMS signature made with OpenSSL directly. */
static unsigned char *sign(EVP_PKEY *key, X509 *cert, const char *data, size_t *len)
{
	BIO *in = BIO_new_mem_buf(data, (int)strlen(data));
	CMS_ContentInfo *cms = CMS_sign(cert, key, NULL, in, CMS_DETACHED | CMS_BINARY);
	unsigned char *der = NULL;
	int n;

	assert_non_null(cms);
	n = i2d_CMS_ContentInfo(cms, &der);
	assert_true(n > 0);
	*len = (size_t)n;
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	return der;
}

static X509 *self_signed(EVP_PKEY *key, const char *cn)
{
	X509 *x = X509_new();

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	return x;
}

static char *pem_of(X509 *x, size_t *len)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p, *out;
	long n;

	PEM_write_bio_X509(b, x);
	n = BIO_get_mem_data(b, &p);
	out = malloc((size_t)n);
	memcpy(out, p, (size_t)n);
	*len = (size_t)n;
	BIO_free(b);
	return out;
}

/* GOOD with the first occurrence of from replaced by to (a static buffer). */
static const char *good_with(const char *from, const char *to)
{
	static char buf[8192];
	const char *hit = strstr(GOOD, from);
	size_t pre;

	assert_non_null(hit);
	pre = (size_t)(hit - GOOD);
	assert_true(pre + strlen(to) + strlen(hit + strlen(from)) < sizeof(buf));
	snprintf(buf, sizeof(buf), "%.*s%s%s", (int)pre, GOOD, to, hit + strlen(from));
	return buf;
}

static void skip_invalid_drops_whole_entries(void **state)
{
	struct fsec_mud *m = NULL;
	const char *bad = good_with("\"198.51.100.0/24\"", "\"2001:db8::/32\"");
	bool named = false;

	(void)state;
	/* By default the file is refused, naming the leaf. */
	assert_int_equal(parse(bad, &m), FSEC_ERR_PARSE);
	assert_non_null(strstr(fsec_err_detail(), "acl[0].aces.ace[1].matches.ipv4."
						  "destination-ipv4-network: not an IPv4 prefix"));
	assert_int_equal(fsec_mud_parse_flags((const unsigned char *)bad, strlen(bad), 0x80, &m),
			 FSEC_ERR_INVAL);
	/* Skipped: the whole entry b, never its valid protocol and port alone. */
	assert_int_equal(fsec_mud_parse_flags((const unsigned char *)bad, strlen(bad),
					      FSEC_MUD_SKIP_INVALID, &m),
			 FSEC_OK);
	assert_int_equal(fsec_mud_ace_count(m), 3);
	for (size_t i = 0; i < fsec_mud_ace_count(m); i++) {
		assert_null(strstr(fsec_mud_ace_get(m, i)->path, "acl[0].aces.ace[1]"));
		assert_int_not_equal(fsec_mud_ace_get(m, i)->dport_lo, 5000);
	}
	for (size_t i = 0; i < fsec_mud_warning_count(m); i++)
		named |= strstr(fsec_mud_warning_get(m, i),
				"acl[0].aces.ace[1]: invalid entry skipped (--skip-invalid): ") != NULL;
	assert_true(named);
	fsec_mud_free(m);
	m = NULL;
	/* A deny entry (or an unreadable action) is never skipped. */
	bad = good_with("5010}}}, \"actions\": {\"forwarding\": \"accept\"}",
			"5010}}}, \"actions\": {\"forwarding\": 1}");
	assert_int_equal(fsec_mud_parse_flags((const unsigned char *)bad, strlen(bad),
					      FSEC_MUD_SKIP_INVALID, &m),
			 FSEC_ERR_PARSE);
	assert_non_null(strstr(fsec_err_detail(), "not skipped"));
	assert_null(m);
}

static void unknown_members_are_reported(void **state)
{
	struct fsec_mud *m = NULL;
	const char *t;
	bool ref = false, ace = false;

	(void)state;
	/* An unknown leaf of an access-list reference: reported, nothing lost. */
	t = good_with("[{\"name\": \"to\"}]", "[{\"name\": \"to\", \"extraneous_data\": 1}]");
	assert_int_equal(parse(t, &m), FSEC_OK);
	assert_int_equal(fsec_mud_ace_count(m), 4);
	for (size_t i = 0; i < fsec_mud_warning_count(m); i++)
		ref |= strcmp(fsec_mud_warning_get(m, i),
			      "$.ietf-mud:mud.to-device-policy.access-lists.access-list[0]."
			      "extraneous_data: unknown member of an access-list reference "
			      "ignored") == 0;
	assert_true(ref);
	fsec_mud_free(m);
	m = NULL;
	/* An unknown member of an entry may narrow it: the entry is not used. */
	t = good_with("{\"name\": \"b\",", "{\"name\": \"b\", \"time-range\": \"night\",");
	assert_int_equal(parse(t, &m), FSEC_OK);
	assert_int_equal(fsec_mud_ace_count(m), 3);
	for (size_t i = 0; i < fsec_mud_warning_count(m); i++)
		ace |= strstr(fsec_mud_warning_get(m, i),
			      "acl[0].aces.ace[1].time-range: unknown entry member; entry not used") !=
		       NULL;
	assert_true(ace);
	fsec_mud_free(m);
}

static void signature(void **state)
{
	EVP_PKEY *k1 = tu_key("p256"), *k2 = tu_key("p256");
	X509 *c1 = self_signed(k1, "maker"), *c2 = self_signed(k2, "other");
	size_t slen = 0, p1len = 0, p2len = 0;
	unsigned char *sig = sign(k1, c1, GOOD, &slen);
	char *p1 = pem_of(c1, &p1len), *p2 = pem_of(c2, &p2len);
	char *flipped = strdup(GOOD);

	(void)state;
	assert_int_equal(fsec_mud_verify((const unsigned char *)GOOD, strlen(GOOD), sig, slen,
					 (unsigned char *)p1, p1len),
			 FSEC_OK);
	flipped[40] ^= 1;
	assert_int_equal(fsec_mud_verify((const unsigned char *)flipped, strlen(flipped), sig, slen,
					 (unsigned char *)p1, p1len),
			 FSEC_ERR_VERIFY);
	assert_int_equal(fsec_mud_verify((const unsigned char *)GOOD, strlen(GOOD), sig, slen,
					 (unsigned char *)p2, p2len),
			 FSEC_ERR_VERIFY);
	sig[slen / 2] ^= 0x40;
	assert_int_not_equal(fsec_mud_verify((const unsigned char *)GOOD, strlen(GOOD), sig, slen,
					     (unsigned char *)p1, p1len),
			     FSEC_OK);
	assert_int_equal(fsec_mud_verify((const unsigned char *)GOOD, strlen(GOOD), sig, slen,
					 (const unsigned char *)"junk", 4),
			 FSEC_ERR_PARSE);
	OPENSSL_free(sig);
	free(p1);
	free(p2);
	free(flipped);
	X509_free(c1);
	X509_free(c2);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
}

/* A deny entry shadows, under RFC 8519's first-match order, the accept
 * entries after it that may match the same packets: those are not compiled
 * (fail closed), and the ones it cannot match stay. */
static void deny_shadows_later_accepts(void **state)
{
#define DENY(m) "{\"name\": \"d\", \"matches\": {" m "}, \"actions\": {\"forwarding\": \"drop\"}}"
#define AT_A "{\"name\": \"a\""
#define AT_B "{\"name\": \"b\""
	const struct {
		const char *from, *to;
		size_t aces;
		const char *shadowed; /* a warning expected, or NULL */
	} cases[] = {
		/* tcp 443 to 10/8 may be cloud.maker.example (a name covers any
		 * address): ace a goes; udp b and tcp 8883 c stay. */
		{AT_A,
		 DENY("\"ipv4\": {\"destination-ipv4-network\": \"10.0.0.0/8\", \"protocol\": 6},"
		      "\"tcp\": {\"destination-port\": {\"operator\": \"eq\", \"port\": 443}}") "," AT_A,
		 3, "$.ietf-access-control-list:acls.acl[0].aces.ace[1]: accept entry not compiled"},
		/* A disjoint prefix does not shadow b, but it does c: a
		 * manufacturer class may hold any address. A wider prefix holding
		 * b's shadows b. */
		{AT_B, DENY("\"ipv4\": {\"destination-ipv4-network\": \"192.0.2.0/24\"}") "," AT_B, 3,
		 "acl[0].aces.ace[3]: accept entry not compiled"},
		{AT_B, DENY("\"ipv4\": {\"destination-ipv4-network\": \"198.51.0.0/16\"}") "," AT_B, 2,
		 "acl[0].aces.ace[2]: accept entry not compiled: the deny entry "
		 "$.ietf-access-control-list:acls.acl[0].aces.ace[1] before it"},
		/* Other ports, another ICMP-only protocol: nothing. */
		{AT_B,
		 DENY("\"udp\": {\"destination-port\": {\"lower-port\": 6000, \"upper-port\": 7000}}") ","
		 AT_B, 4, NULL},
		{AT_B, DENY("\"icmp\": {\"type\": 8}") "," AT_B, 4, NULL},
		/* A deny that cannot be read matches everything in its direction
		 * (the to-device reply entry stays), and so does one whose only
		 * match the parser does not know. */
		{AT_A,
		 DENY("\"ipv4\": {\"destination-ipv4-network\": \"10.0.0.0/8\","
		      "\"ietf-acldns:dst-dnsname\": \"x.example\"}") "," AT_A,
		 1, NULL},
		{AT_A, DENY("\"ipv4\": {\"dscp\": 4}") "," AT_A, 1, NULL},
		/* A deny after the accepts changes nothing. */
		{"]}},{\"name\": \"to\"", "," DENY("") "]}},{\"name\": \"to\"", 4, NULL},
	};
	struct fsec_mud *m = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *t = tu_replace(GOOD, cases[i].from, cases[i].to);
		bool found = cases[i].shadowed == NULL;

		assert_int_equal(parse(t, &m), FSEC_OK);
		if (fsec_mud_ace_count(m) != cases[i].aces)
			fail_msg("case %zu: %zu entries, not %zu", i, fsec_mud_ace_count(m),
				 cases[i].aces);
		for (size_t w = 0; w < fsec_mud_warning_count(m) && !found; w++)
			found = strstr(fsec_mud_warning_get(m, w), cases[i].shadowed) != NULL;
		if (!found)
			fail_msg("case %zu: no warning '%s'", i, cases[i].shadowed);
		fsec_mud_free(m);
		free(t);
	}
#undef AT_B
#undef AT_A
#undef DENY
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parses_entries),
		cmocka_unit_test(draft_spellings_warn_with_paths),
		cmocka_unit_test(unsupported_is_reported_not_dropped),
		cmocka_unit_test(refusals_name_the_path),
		cmocka_unit_test(hostile_text_stays_one_line),
		cmocka_unit_test(skip_invalid_drops_whole_entries),
		cmocka_unit_test(unknown_members_are_reported),
		cmocka_unit_test(signature),
		cmocka_unit_test(deny_shadows_later_accepts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
