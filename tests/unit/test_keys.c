/* SPDX-License-Identifier: Apache-2.0 */
/* keys/: the public half of a key as PEM (fleetsec fw pubkey). */
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/pem.h>

#include "fleetsec/key.h"
#include "testutil.h"

/* The PEM reads back, with openssl, as the same public key, and carries
 * nothing of the private one. */
static void public_pem_round_trips(void **state)
{
	static const char *const kinds[] = {"p256", "p384", "ed25519", "rsa2048"};

	(void)state;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		EVP_PKEY *key = tu_key(kinds[i]), *back = NULL;
		char *pem = NULL;
		size_t len = 0;
		BIO *bio;

		assert_int_equal(fsec_key_public_pem(key, &pem, &len), FSEC_OK);
		assert_non_null(pem);
		assert_int_equal(strlen(pem), len);
		assert_int_equal(strncmp(pem, "-----BEGIN PUBLIC KEY-----\n", 27), 0);
		assert_null(strstr(pem, "PRIVATE"));
		assert_int_equal(pem[len - 1], '\n');
		bio = BIO_new_mem_buf(pem, (int)len);
		back = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
		assert_non_null(back);
		assert_int_equal(EVP_PKEY_eq(key, back), 1);
		BIO_free(bio);
		EVP_PKEY_free(back);
		EVP_PKEY_free(key);
		free(pem);
	}
}

/* A key with no public half to encode is refused and leaves the outputs. */
static void empty_key_is_refused(void **state)
{
	EVP_PKEY *key = EVP_PKEY_new();
	char *pem = (char *)"untouched";
	size_t len = 7;

	(void)state;
	assert_non_null(key);
	assert_int_equal(fsec_key_public_pem(key, &pem, &len), FSEC_ERR_CRYPTO);
	assert_string_equal(pem, "untouched");
	assert_int_equal(len, 7);
	EVP_PKEY_free(key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(public_pem_round_trips),
		cmocka_unit_test(empty_key_is_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
