/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for what the network audit reads from servers: banners,
 * HTTP response heads, MQTT CONNACKs and CoAP replies. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Copied so that a read past size lands outside the allocation. */
	char *buf = malloc(size > 0 ? size : 1);
	char ex[120];
	int status, ack;

	if (buf == NULL)
		return 0;
	if (size > 0)
		memcpy(buf, data, size);
	status = fsec_audit_net_http_status(buf, size);
	if (status != 0 && (status < 100 || status > 599))
		abort();
	(void)fsec_audit_net_http_basic(buf, size);
	ack = fsec_audit_net_connack((const unsigned char *)buf, size);
	if (ack < -1 || ack > 255)
		abort();
	(void)fsec_audit_net_coap_reply((const unsigned char *)buf, size);
	if (fsec_audit_net_banner(buf, size) > NET_BANNER_OTHER)
		abort();
	fsec_audit_net_excerpt(buf, size, ex, sizeof(ex));
	/* An excerpt is one printable line within its buffer. */
	if (memchr(ex, '\0', sizeof(ex)) == NULL || strpbrk(ex, "\r\n\t") != NULL)
		abort();
	free(buf);
	return 0;
}
