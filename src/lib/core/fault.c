/* SPDX-License-Identifier: Apache-2.0 */
/* Power-cut injection (fault_int.h); built only with FSEC_FAULT_INJECTION. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fault_int.h"

#ifdef FSEC_FAULT_INJECTION

static unsigned long writes;
static unsigned long long net_bytes;

_Noreturn void fsec_fault_die(void)
{
	_exit(99);
}

enum fsec_fault fsec_fault_point(const char *what)
{
	const char *spec = getenv("FSEC_FAULT"), *trace = getenv("FSEC_FAULT_TRACE");
	unsigned long n = 0;
	char mode[16] = "";

	writes++;
	if (trace != NULL) {
		int fd = open(trace, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);

		if (fd >= 0) {
			dprintf(fd, "%lu %s\n", writes, what);
			close(fd);
		}
	}
	if (spec == NULL || sscanf(spec, "%lu:%15s", &n, mode) != 2 || n != writes)
		return FSEC_FAULT_NONE;
	if (strcmp(mode, "before") == 0)
		fsec_fault_die();
	return strcmp(mode, "torn") == 0 ? FSEC_FAULT_TORN : FSEC_FAULT_AFTER;
}

void fsec_fault_net(size_t n)
{
	const char *spec = getenv("FSEC_FAULT");
	unsigned long long limit;

	net_bytes += n;
	if (spec != NULL && sscanf(spec, "net:%llu", &limit) == 1 && net_bytes >= limit)
		fsec_fault_die();
}

#endif
