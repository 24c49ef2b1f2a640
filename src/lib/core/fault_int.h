/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Power-cut injection for the power-fail harness (tests/integration/
 * powerfail.sh). Compiled in only with FSEC_FAULT_INJECTION (test builds);
 * in release builds every call below is a no-op the compiler drops.
 *
 * FSEC_FAULT="N:MODE" stops the process at the Nth durable write, as a
 * power cut would: MODE "before" (nothing of it written), "after" (all of it
 * written and synced), or "torn" (part of it written). FSEC_FAULT="net:B"
 * stops it after B bytes have arrived from the network. FSEC_FAULT_TRACE=FILE
 * appends one line per durable write, so the harness can count them.
 */
#ifndef FLEETSEC_FAULT_INT_H
#define FLEETSEC_FAULT_INT_H

#include <stddef.h>

enum fsec_fault {
	FSEC_FAULT_NONE,
	FSEC_FAULT_BEFORE,
	FSEC_FAULT_AFTER,
	FSEC_FAULT_TORN,
};

#ifdef FSEC_FAULT_INJECTION
/* Called at each durable write, named by what; says what to do. */
enum fsec_fault fsec_fault_point(const char *what);
/* Called with each block of n bytes received from the network. */
void fsec_fault_net(size_t n);
/* Stop now, as a power cut: no cleanup, no atexit, no flushing. */
_Noreturn void fsec_fault_die(void);
#else
static inline enum fsec_fault fsec_fault_point(const char *what)
{
	(void)what;
	return FSEC_FAULT_NONE;
}
static inline void fsec_fault_net(size_t n)
{
	(void)n;
}
static inline void fsec_fault_die(void)
{
}
#endif

#endif
