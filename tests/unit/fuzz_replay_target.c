/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A fuzz target for testing the replay driver (fuzz/replay_main.c) itself,
 * driven by tests/integration/fuzz_replay.sh: it crashes or misbehaves on
 * the inputs that say so, so that each way a replay must fail is seen to
 * fail.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int initialized;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	initialized = 1;
	return 0;
}

static int starts(const uint8_t *data, size_t size, const char *word)
{
	size_t n = strlen(word);

	return size >= n && memcmp(data, word, n) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!initialized)
		abort(); /* the driver must call LLVMFuzzerInitialize first */
	if (starts(data, size, "crash"))
		abort();
	if (starts(data, size, "badrc"))
		return 7;
	if (starts(data, size, "reject"))
		return -1; /* libFuzzer's "keep out of the corpus": legal */
	return 0;
}
