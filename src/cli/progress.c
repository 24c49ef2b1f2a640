/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Progress of a long batch (cli.h, struct cli_progress), in one place for
 * every command: a bar on stderr when stderr is a terminal, JSON lines on
 * stderr otherwise with --json (stdout stays the command's one result, for
 * jq), and nothing otherwise.
 */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define BAR_WIDTH 30
/* A terminal is redrawn at most this often (ms): a million devices must not
 * cost a million writes. */
#define REDRAW_MS 100

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cli_progress_init(struct cli_progress *p, const char *what, bool json)
{
	p->what = what;
	p->tty = isatty(STDERR_FILENO) == 1;
	p->json = json;
	p->last_ms = 0;
	p->last_pct = -1;
}

void cli_progress_step(struct cli_progress *p, size_t done, size_t total)
{
	/* done <= total, so pct is 0-100 and never overflows (size_t). */
	int pct = total != 0 ? (int)((done * 100.0) / (double)total) : 100;
	int64_t t;

	if (p->tty) {
		int fill = pct * BAR_WIDTH / 100;

		t = now_ms();
		if (done != total && t - p->last_ms < REDRAW_MS)
			return;
		p->last_ms = t;
		fprintf(stderr, "\r%s [%.*s%*s] %zu/%zu %3d%%", p->what, fill,
			"##############################", BAR_WIDTH - fill, "", done, total, pct);
		if (done == total)
			fputc('\n', stderr);
		fflush(stderr);
	} else if (p->json && (pct != p->last_pct || done == total)) {
		/* One line per percent: at most 101 lines, whatever the size. */
		p->last_pct = pct;
		fprintf(stderr, "{\"progress\":\"%s\",\"done\":%zu,\"total\":%zu}\n", p->what, done,
			total);
	}
}
