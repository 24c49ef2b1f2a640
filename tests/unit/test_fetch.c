/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The device HTTPS client against a real nginx (started by
 * tests/integration/fetch_nginx.sh): mutual TLS, pinned CA, Range requests,
 * and the refusals a hostile or broken server must meet.
 */
#include <stdlib.h>
#include <string.h>

#include "fleetsec/fetch.h"
#include "fleetsec/fileio.h"
#include "testutil.h"

static const char *env(const char *name)
{
	const char *v = getenv(name);

	if (v == NULL)
		fail_msg("%s is not set: run through fetch_nginx.sh", name);
	return v;
}

static struct fsec_fetch *client(const char *ca, const char *cert, const char *key, long slow)
{
	struct fsec_fetch_opts o = {.ca = ca, .cert = cert, .key = key, .low_speed_time = slow};
	struct fsec_fetch *f = NULL;

	assert_int_equal(fsec_fetch_new(&o, &f), FSEC_OK);
	return f;
}

static char *url(const char *path)
{
	char *u = NULL;

	assert_true(asprintf(&u, "%s%s", env("FETCH_BASE"), path) > 0);
	return u;
}

static void get_with_client_certificate(void **state)
{
	struct fsec_fetch *f = client(env("FETCH_CA"), env("FETCH_CERT"), env("FETCH_KEY"), 0);
	char *u = url("/small.json");
	unsigned char *buf = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(fsec_fetch_get(f, u, 1024, &buf, &len), FSEC_OK);
	assert_string_equal((char *)buf, "{\"hello\": \"world\"}\n");
	free(buf);
	buf = NULL;
	/* A body over the cap is refused as it arrives. */
	assert_int_equal(fsec_fetch_get(f, u, 5, &buf, &len), FSEC_ERR_TOO_LARGE);
	assert_null(buf);
	free(u);
	u = url("/missing");
	assert_int_equal(fsec_fetch_get(f, u, 1024, &buf, &len), FSEC_ERR_NET);
	assert_non_null(strstr(fsec_err_detail(), "404"));
	free(u);
	fsec_fetch_free(f);
}

static void refuses_without_mutual_tls_or_trust(void **state)
{
	struct fsec_fetch *f;
	char *u = url("/small.json");
	unsigned char *buf = NULL;
	size_t len = 0;

	(void)state;
	/* No client certificate: the server refuses. */
	f = client(env("FETCH_CA"), NULL, NULL, 0);
	assert_int_equal(fsec_fetch_get(f, u, 1024, &buf, &len), FSEC_ERR_NET);
	assert_non_null(strstr(fsec_err_detail(), "403"));
	fsec_fetch_free(f);
	/* A server the pinned CA did not sign: the client refuses. */
	f = client(env("FETCH_ROGUE_CA"), env("FETCH_CERT"), env("FETCH_KEY"), 0);
	assert_int_equal(fsec_fetch_get(f, u, 1024, &buf, &len), FSEC_ERR_NET);
	assert_null(buf);
	fsec_fetch_free(f);
	/* A client certificate the server's CA did not sign. */
	f = client(env("FETCH_CA"), env("FETCH_ROGUE_CA"), env("FETCH_ROGUE_KEY"), 0);
	assert_int_equal(fsec_fetch_get(f, u, 1024, &buf, &len), FSEC_ERR_NET);
	fsec_fetch_free(f);
	/* No CA at all is not an option. */
	{
		struct fsec_fetch_opts o = {0};

		assert_int_equal(fsec_fetch_new(&o, &f), FSEC_ERR_INVAL);
	}
	/* http:// is not spoken at all. */
	f = client(env("FETCH_CA"), env("FETCH_CERT"), env("FETCH_KEY"), 0);
	assert_int_equal(fsec_fetch_get(f, "http://127.0.0.1:1/x", 1024, &buf, &len), FSEC_ERR_NET);
	fsec_fetch_free(f);
	free(u);
}

struct collect {
	unsigned char *buf;
	size_t len;
};

static enum fsec_err sink(const unsigned char *p, size_t n, void *ctx)
{
	struct collect *c = ctx;

	memcpy(c->buf + c->len, p, n);
	c->len += n;
	return FSEC_OK;
}

static void ranges(void **state)
{
	struct fsec_fetch *f = client(env("FETCH_CA"), env("FETCH_CERT"), env("FETCH_KEY"), 0);
	char *u = url("/image.bin"), *nr = url("/norange/image.bin");
	unsigned char *image = NULL;
	size_t ilen = 0;
	struct collect c = {.buf = malloc(1000000)};

	(void)state;
	assert_int_equal(fsec_file_read(env("FETCH_IMAGE"), 2000000, &image, &ilen), FSEC_OK);
	assert_int_equal(fsec_fetch_range(f, u, 123456, 65536, sink, &c), FSEC_OK);
	assert_int_equal(c.len, 65536);
	assert_memory_equal(c.buf, image + 123456, 65536);
	/* The last bytes of the file. */
	c.len = 0;
	assert_int_equal(fsec_fetch_range(f, u, ilen - 10, 10, sink, &c), FSEC_OK);
	assert_memory_equal(c.buf, image + ilen - 10, 10);
	/* Asking past the end: the server cannot satisfy it (416). */
	c.len = 0;
	assert_int_equal(fsec_fetch_range(f, u, ilen, 10, sink, &c), FSEC_ERR_NET);
	assert_non_null(strstr(fsec_err_detail(), "416"));
	assert_int_equal(c.len, 0);
	/* A server that ignores Range and sends the whole file: refused as
	 * soon as it sends more than was asked for. */
	c.len = 0;
	assert_int_equal(fsec_fetch_range(f, nr, 0, 4096, sink, &c), FSEC_ERR_NET);
	assert_non_null(strstr(fsec_err_detail(), "HTTP status 200 (expected 206)"));
	assert_int_equal(c.len, 0);
	free(c.buf);
	free(image);
	free(u);
	free(nr);
	fsec_fetch_free(f);
}

static void stalled_server_times_out(void **state)
{
	struct fsec_fetch *f = client(env("FETCH_CA"), env("FETCH_CERT"), env("FETCH_KEY"), 2);
	char *u = url("/slow/image.bin");
	unsigned char *buf = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(fsec_fetch_get(f, u, 2000000, &buf, &len), FSEC_ERR_NET);
	assert_non_null(strstr(fsec_err_detail(), "Timeout"));
	assert_null(buf);
	free(u);
	fsec_fetch_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(get_with_client_certificate),
		cmocka_unit_test(refuses_without_mutual_tls_or_trust),
		cmocka_unit_test(ranges),
		cmocka_unit_test(stalled_server_times_out),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
