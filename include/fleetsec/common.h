/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Error codes and the attributes every public header uses.
 *
 * Every fallible libfleetsec function returns an enum fsec_err and writes its
 * output parameters only on success. A failing call also leaves a one-line
 * reason in a thread-local buffer, read with fsec_err_detail(): the library
 * never prints, so the caller decides how to show it.
 */
#ifndef FLEETSEC_COMMON_H
#define FLEETSEC_COMMON_H

#include <stdbool.h>

#include <stddef.h>

#define FSEC_API __attribute__((visibility("default")))
#define FSEC_WUR __attribute__((warn_unused_result))
/* The pointer arguments at these positions (1-based) must not be NULL: the
 * compiler warns at a call that passes NULL (-Wnonnull) and may drop NULL
 * checks inside the function (-Wnonnull-compare flags them), so it is never
 * put on a _free or where NULL is documented as allowed (libsodium). The
 * buffer of a (buf, len) input is left out: NULL with len 0 is an empty
 * input, which parsers must refuse, not crash on. */
#define FSEC_NONNULL(...) __attribute__((nonnull(__VA_ARGS__)))

/* Sizes that several modules' records share, defined here once so that a
 * module needs no other module's header for a buffer size. */
/* Hex SHA-256 (certificate and key fingerprints, image digests) plus NUL. */
#define FSEC_SHA256_HEX_LEN 65
/* 16 random bytes with the top bit cleared: a positive 127-bit serial,
 * well above the 64 bits of entropy CA/B Forum asks for. */
#define FSEC_SERIAL_LEN 16
/* Serials as uppercase hex (what `openssl x509 -serial` prints) plus NUL. */
#define FSEC_SERIAL_HEX_LEN (2 * FSEC_SERIAL_LEN + 1)
/* A device ID (identity.h says which characters) and a model name. */
#define FSEC_DEVID_MAX 64
#define FSEC_MODEL_MAX 64

/* New codes go at the end: the numbers are part of the ABI. */
enum fsec_err {
	FSEC_OK = 0,
	FSEC_ERR_NOMEM,     /* allocation failed */
	FSEC_ERR_INVAL,     /* an argument is out of its documented range */
	FSEC_ERR_PARSE,     /* input is not well-formed */
	FSEC_ERR_TOO_LARGE, /* input or a field exceeds its cap */
	FSEC_ERR_OVERFLOW,  /* a size computation would overflow */
	FSEC_ERR_VERIFY,    /* a signature, hash or self-signature does not verify */
	FSEC_ERR_CRYPTO,    /* OpenSSL failed */
	FSEC_ERR_IO,        /* a file operation failed */
	FSEC_ERR_DB,        /* the registry backend failed */
	FSEC_ERR_NET,       /* a network operation failed */
	FSEC_ERR_PERM,      /* permission denied */
	FSEC_ERR_EXISTS,    /* the object already exists */
	FSEC_ERR_NOTFOUND,  /* the object does not exist */
	FSEC_ERR_POLICY,    /* refused by policy (weak key, shared key, ...) */
	FSEC_ERR_BUSY,      /* the registry stayed locked past the timeout */
	FSEC_ERR_WRONG_KEY, /* well-formed, but not signed by this key: try the next one */
	FSEC_ERR_UNAVAILABLE, /* the registry's server cannot be reached now: try again */
};

/* A static, non-NULL description of rc. Thread-safe. */
FSEC_API const char *fsec_strerror(enum fsec_err rc);

/*
 * The reason the calling thread's last failing libfleetsec call gave, as one
 * line without a trailing newline; "" if it gave none. The pointer stays valid
 * until the thread's next libfleetsec call. Thread-safe (thread-local).
 */
FSEC_API const char *fsec_err_detail(void);

/* fsec_parse_ulong, the one number grammar, lives with the other text
 * helpers; included here so that its old callers still find it. */
#include "fleetsec/text.h"

#endif
