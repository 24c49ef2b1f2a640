/* SPDX-License-Identifier: Apache-2.0 */
/* The P-256 decryption key of tests/vectors/mcuboot-enc (enc-ec256.pem,
 * PKCS#8), shared by the fuzz targets whose seeds are that set's images. */
#ifndef FSEC_FUZZ_ENC_VECTORS_H
#define FSEC_FUZZ_ENC_VECTORS_H

static const char fuzz_ec256_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgKLAhU9NoLOj1soNN\n"
	"YQWKwm5cJTJXfoAP5bXKBB6Nj3uhRANCAATJFiHSKkrK+8kpIpQBg2NKNyTxmncn\n"
	"msQmXVh7Bk2EoEA6Hmxmtfr6rZMXQ8Cr1/FuOXWmzdG1ina52dKdua30\n"
	"-----END PRIVATE KEY-----\n";

#endif
