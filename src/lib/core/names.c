/* SPDX-License-Identifier: Apache-2.0 */
/* Names: device IDs, models and groups share one grammar. */
#include <string.h>

#include "err_int.h"
#include "fleetsec/names.h"
#include "text_int.h"

bool fsec_name_valid(const char *s, size_t max)
{
	size_t n = 0;

	/* Bounded by max, not by strlen: a hostile name may be long. ASCII
	 * ranges, not isalnum(), so that the locale cannot widen the set. */
	for (const char *p = s; *p != '\0'; p++, n++) {
		char c = *p;

		if (n >= max)
			return false;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return n > 0;
}

FSEC_API bool fsec_devid_valid(const char *id)
{
	return fsec_name_valid(id, FSEC_DEVID_MAX);
}

FSEC_API enum fsec_err fsec_devid_check(const char *id)
{
	if (fsec_devid_valid(id))
		return FSEC_OK;
	return fsec_seterr(FSEC_ERR_INVAL,
			   "invalid device ID '%.80s': use 1-%d characters of A-Z a-z 0-9 . _ -", id,
			   FSEC_DEVID_MAX);
}

FSEC_API bool fsec_model_valid(const char *model)
{
	return fsec_name_valid(model, FSEC_MODEL_MAX);
}

FSEC_API enum fsec_err fsec_model_check(const char *model)
{
	if (fsec_model_valid(model))
		return FSEC_OK;
	/* The detail is sanitised (err.c): a newline or ESC in the model is
	 * shown as '?', never printed raw. */
	return fsec_seterr(FSEC_ERR_INVAL,
			   "invalid model '%.80s': use 1-%d characters of A-Z a-z 0-9 . _ -", model,
			   FSEC_MODEL_MAX);
}

char *fsec_text_trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		*--end = '\0';
	return s;
}
