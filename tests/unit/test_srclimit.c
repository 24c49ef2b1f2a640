/* SPDX-License-Identifier: Apache-2.0 */
/* Open connections per source (srclimit.h): the cap per IPv4 address and per
 * IPv6 /64, an IPv4-mapped address as its IPv4 address, release and reuse. */
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "fleetsec/srclimit.h"
#include "testutil.h"

static struct sockaddr_in v4(const char *a)
{
	struct sockaddr_in s;

	memset(&s, 0, sizeof(s));
	s.sin_family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, a, &s.sin_addr), 1);
	return s;
}

static struct sockaddr_in6 v6(const char *a)
{
	struct sockaddr_in6 s;

	memset(&s, 0, sizeof(s));
	s.sin6_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, a, &s.sin6_addr), 1);
	return s;
}

#define SA(x) ((struct sockaddr *)&(x)), sizeof(x)

static void cap_per_source(void **state)
{
	struct fsec_srclimit *l = NULL;
	struct fsec_src *h[3] = {NULL}, *o = NULL;
	struct sockaddr_in a = v4("192.0.2.1"), b = v4("192.0.2.2");
	struct sockaddr_in6 m = v6("::ffff:192.0.2.1");

	(void)state;
	assert_int_equal(fsec_srclimit_new(0, 10, &l), FSEC_ERR_INVAL);
	assert_int_equal(fsec_srclimit_new(2, 10, &l), FSEC_OK);
	assert_true(fsec_srclimit_acquire(l, SA(a), &h[0]));
	assert_true(fsec_srclimit_acquire(l, SA(m), &h[1])); /* the same source */
	assert_false(fsec_srclimit_acquire(l, SA(a), &h[2]));
	assert_int_equal(fsec_srclimit_count(l, SA(a)), 2);
	assert_true(fsec_srclimit_acquire(l, SA(b), &o));
	fsec_srclimit_release(l, h[0]);
	assert_int_equal(fsec_srclimit_count(l, SA(a)), 1);
	assert_true(fsec_srclimit_acquire(l, SA(a), &h[2]));
	fsec_srclimit_release(l, h[1]);
	fsec_srclimit_release(l, h[2]);
	assert_int_equal(fsec_srclimit_count(l, SA(a)), 0);
	fsec_srclimit_release(l, NULL);
	fsec_srclimit_free(l); /* with b still counted */
	fsec_srclimit_free(NULL);
}

static void ipv6_by_64(void **state)
{
	struct fsec_srclimit *l = NULL;
	struct fsec_src *h = NULL;
	struct sockaddr_in6 a = v6("2001:db8:1:2::1"), b = v6("2001:db8:1:2:ffff::9"),
			    c = v6("2001:db8:1:3::1");
	struct sockaddr_in shortsa = v4("192.0.2.1");
	struct sockaddr other;

	(void)state;
	assert_int_equal(fsec_srclimit_new(1, 1, &l), FSEC_OK);
	assert_true(fsec_srclimit_acquire(l, SA(a), &h));
	assert_false(fsec_srclimit_acquire(l, SA(b), &h)); /* the same /64 */
	assert_true(fsec_srclimit_acquire(l, SA(c), &h));
	/* Fail closed: too short, another family, none. */
	assert_false(fsec_srclimit_acquire(l, (struct sockaddr *)&shortsa, 4, &h));
	memset(&other, 0, sizeof(other));
	other.sa_family = AF_UNIX;
	assert_false(fsec_srclimit_acquire(l, &other, sizeof(other), &h));
	assert_false(fsec_srclimit_acquire(l, NULL, 0, &h));
	fsec_srclimit_free(l);
}

/* Many sources, each at its cap, all released: the table is empty after. */
static void many_sources(void **state)
{
	struct fsec_srclimit *l = NULL;
	static struct fsec_src *h[3000];
	struct sockaddr_in a;

	(void)state;
	assert_int_equal(fsec_srclimit_new(3, 16, &l), FSEC_OK);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	for (unsigned i = 0; i < 3000; i++) {
		a.sin_addr.s_addr = htonl(0x0a000000u + i / 3);
		assert_true(fsec_srclimit_acquire(l, SA(a), &h[i]));
	}
	a.sin_addr.s_addr = htonl(0x0a000000u + 7);
	{
		struct fsec_src *x = NULL;

		assert_false(fsec_srclimit_acquire(l, SA(a), &x)); /* 10.0.0.7 holds 3 */
	}
	for (unsigned i = 0; i < 3000; i++)
		fsec_srclimit_release(l, h[i]);
	assert_int_equal(fsec_srclimit_count(l, SA(a)), 0);
	fsec_srclimit_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cap_per_source),
		cmocka_unit_test(ipv6_by_64),
		cmocka_unit_test(many_sources),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
