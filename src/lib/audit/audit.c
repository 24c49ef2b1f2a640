/* SPDX-License-Identifier: Apache-2.0 */
/* Findings: the check catalogue, collection, and the three output formats. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "audit_int.h"
#include "err_int.h"

#define C(id_, area_, sev_, title_, fix_) {id_, FSEC_AUDIT_##area_, FSEC_SEV_##sev_, title_, fix_}

/* The catalogue. IDs are an interface (CI configurations disable them by
 * name), so they never change meaning; docs/AUDIT.md documents each. */
static const struct fsec_audit_check checks[] = {
	C("FLEET-KEY-SHARED", FLEET, CRITICAL, "one public key or certificate on several devices",
	  "Give every device its own key pair generated on the device (or in its secure element) "
	  "and re-provision the devices that share one."),
	C("FLEET-KEY-WEAK", FLEET, HIGH, "weak device key (RSA under 2048 bits or a disallowed curve)",
	  "Re-provision the device with a P-256, P-384 or Ed25519 key (or RSA of 2048 bits or more)."),
	C("FLEET-KEY-ROCA", FLEET, CRITICAL, "RSA key vulnerable to ROCA (CVE-2017-15361)",
	  "The private key can be computed from the public key: revoke the certificate, update the "
	  "secure element firmware (Infineon RSALib) and re-provision with a new key."),
	C("FLEET-CERT-EXPIRING", FLEET, MEDIUM, "device certificate expired or expiring soon",
	  "Re-enroll the device (EST simplereenroll, or fleetsec device issue --reissue) before the "
	  "certificate expires."),
	C("FLEET-CA-EXPIRING", FLEET, HIGH, "CA certificate expired or expiring soon",
	  "Plan a CA rollover: issue a new CA certificate and distribute it to devices well before "
	  "the old one expires."),
	C("FLEET-CRL-EXPIRING", FLEET, MEDIUM, "the fleet's CRL (crl.pem) expires within a quarter of its lifetime or 30 days",
	  "Run fleetsecd (it re-signs the CRL before half of its period) or `fleetsec crl`; a broker or agent with a lapsed CRL refuses every device."),
	C("FLEET-CRL-EXPIRING-SOON", FLEET, HIGH, "the fleet's CRL (crl.pem) expires within a tenth of its lifetime or 2 days",
	  "Run fleetsecd (it re-signs the CRL before half of its period) or `fleetsec crl`; a broker or agent with a lapsed CRL refuses every device."),
	C("FLEET-CRL-EXPIRED", FLEET, CRITICAL, "the fleet's CRL (crl.pem) has expired",
	  "Run fleetsecd (it re-signs the CRL before half of its period) or `fleetsec crl`; a broker or agent with a lapsed CRL refuses every device."),
	C("FLEET-RELEASE-EXPIRING", FLEET, MEDIUM, "a published release manifest expires within a quarter of its lifetime or 30 days",
	  "Re-sign it with a later expiry: `fleetsec release refresh --model M` (or release_refresh = auto in fleetsecd); devices refuse an expired manifest."),
	C("FLEET-RELEASE-EXPIRING-SOON", FLEET, HIGH, "a published release manifest expires within a tenth of its lifetime or 2 days",
	  "Re-sign it with a later expiry: `fleetsec release refresh --model M` (or release_refresh = auto in fleetsecd); devices refuse an expired manifest."),
	C("FLEET-RELEASE-EXPIRED", FLEET, CRITICAL, "a published release manifest has expired",
	  "Re-sign it with a later expiry: `fleetsec release refresh --model M` (or release_refresh = auto in fleetsecd); devices refuse an expired manifest."),
	C("FLEET-DELEGATION-EXPIRING", FLEET, MEDIUM, "the delegation of a published release's signing key expires within 30 days",
	  "Sign a new delegation with the offline root key (fleetsec release delegate, a higher --sequence) and refresh the release with it; devices refuse a release under an expired delegation."),
	C("FLEET-DELEGATION-EXPIRING-SOON", FLEET, HIGH, "the delegation of a published release's signing key expires within 2 days",
	  "Sign a new delegation with the offline root key (fleetsec release delegate, a higher --sequence) and refresh the release with it; devices refuse a release under an expired delegation."),
	C("FLEET-DELEGATION-EXPIRED", FLEET, CRITICAL, "the delegation of a published release's signing key has expired",
	  "Sign a new delegation with the offline root key (fleetsec release delegate, a higher --sequence) and refresh the release with it; devices refuse a release under an expired delegation."),
	C("FLEET-SERVER-CERT-EXPIRING", FLEET, MEDIUM, "fleetsecd's TLS certificate (server.pem) expires within a quarter of its lifetime or 30 days",
	  "Renew it in place with `fleetsec ca server-cert --renew`, then send fleetsecd SIGHUP; devices refuse an expired server certificate."),
	C("FLEET-SERVER-CERT-EXPIRING-SOON", FLEET, HIGH, "fleetsecd's TLS certificate (server.pem) expires within a tenth of its lifetime or 2 days",
	  "Renew it in place with `fleetsec ca server-cert --renew`, then send fleetsecd SIGHUP; devices refuse an expired server certificate."),
	C("FLEET-SERVER-CERT-EXPIRED", FLEET, CRITICAL, "fleetsecd's TLS certificate (server.pem) has expired",
	  "Renew it in place with `fleetsec ca server-cert --renew`, then send fleetsecd SIGHUP; devices refuse an expired server certificate."),
	C("FLEET-CA-ISSUING-EXPIRING", FLEET, MEDIUM, "the issuing CA certificate expires within a quarter of its lifetime or 30 days",
	  "Rotate the issuing CA under the root before it lapses; certificates it issued stop verifying when it does."),
	C("FLEET-CA-ISSUING-EXPIRING-SOON", FLEET, HIGH, "the issuing CA certificate expires within a tenth of its lifetime or 2 days",
	  "Rotate the issuing CA under the root before it lapses; certificates it issued stop verifying when it does."),
	C("FLEET-CA-ISSUING-EXPIRED", FLEET, CRITICAL, "the issuing CA certificate has expired",
	  "Rotate the issuing CA under the root before it lapses; certificates it issued stop verifying when it does."),
	C("FLEET-CA-ROOT-EXPIRING", FLEET, MEDIUM, "the root CA certificate expires within a quarter of its lifetime or 30 days",
	  "Roll the root over (a new root, cross-signed) and distribute it to devices long before it lapses; everything under it stops verifying."),
	C("FLEET-CA-ROOT-EXPIRING-SOON", FLEET, HIGH, "the root CA certificate expires within a tenth of its lifetime or 2 days",
	  "Roll the root over (a new root, cross-signed) and distribute it to devices long before it lapses; everything under it stops verifying."),
	C("FLEET-CA-ROOT-EXPIRED", FLEET, CRITICAL, "the root CA certificate has expired",
	  "Roll the root over (a new root, cross-signed) and distribute it to devices long before it lapses; everything under it stops verifying."),
	C("FLEET-REVOKED-SEEN", FLEET, CRITICAL, "revoked device seen after its revocation",
	  "Check that every service enforces the CRL; investigate the device as possibly cloned "
	  "or stolen."),
	C("FLEET-TAMPERED", FLEET, CRITICAL, "device reported a tamper event and still holds its certificate",
	  "Revoke the device (fleetsec device revoke), which also quarantines it on the network; "
	  "inspect it, and re-provision it with a new certificate before trusting it again."),
	C("FLEET-FW-OUTDATED", FLEET, HIGH, "firmware security counter below the model's release",
	  "Roll the current release out to the device and find out why it did not update."),
	C("FLEET-STALE", FLEET, MEDIUM, "no check-in or successful update for too long",
	  "Find out whether the device is offline, decommissioned or failing to update; revoke it "
	  "if it is gone."),
	C("FLEET-FROZEN", FLEET, HIGH, "device frozen: no fresh signed update answer for too long",
	  "Re-sign the model's \"nothing new\" statement (fleetsec release timestamp) or its "
	  "manifest before they expire; if they are fresh, something between the device and "
	  "fleetsecd withholds them (a stolen server key, a blocked network): investigate."),
	C("FLEET-EOL", FLEET, HIGH, "product past its published support end date",
	  "Replace the device or extend the product's support; devices past their support end get "
	  "no security fixes."),
	C("FLEET-TOFU", FLEET, HIGH, "device provisioned without verification (trust on first use)",
	  "Re-provision the device with a factory-verified identity (CSR from manufacturing, "
	  "EST with a one-time bootstrap credential, or a QR pairing of its key)."),
	C("FLEET-REENROLLED", FLEET, LOW, "device re-enrolled after its certificate expired",
	  "Find why the device was off past its certificate's expiry; its bootstrap credential is "
	  "now spent, so a second lapse needs re-provisioning by hand. Devices that sleep longer "
	  "than a third of the certificate lifetime need a longer one."),
	C("FLEET-NEVER-REPORTED", FLEET, LOW, "device never reported",
	  "Check that the device was deployed and that its agent can reach the fleet service; "
	  "revoke certificates of devices that will never be deployed."),
	C("FLEET-DEBUG-UNLOCKED", FLEET, HIGH, "debug port (JTAG/SWD or UART console) unlocked",
	  "Blow the debug-lock eFuse or OTP bit (or disable the console) in production; a "
	  "physically captured device with an open debug port yields its keys and firmware."),
	C("FLEET-DEBUG-UNREPORTED", FLEET, MEDIUM, "device never reported its debug-port state",
	  "Set debug_state or debug_state_cmd in the agent's configuration to read the "
	  "eFuse/OTP lock bits, so that unlocked devices show up."),
	C("FLEET-DUP-ID", FLEET, HIGH, "same device ID from different manufacturers",
	  "Make device IDs globally unique (prefix them with a manufacturer code) and re-provision "
	  "one of the colliding devices."),
	C("FW-CRED-EMPTY", FIRMWARE, CRITICAL, "account with an empty password",
	  "Lock the account (\"*\" or \"!\" in the password field) or set a unique per-device "
	  "password at first boot."),
	C("FW-CRED-DEFAULT", FIRMWARE, CRITICAL, "account with a well-known default password",
	  "Remove the built-in password; generate a unique per-device credential at provisioning "
	  "or disable password login."),
	C("FW-KEY-PRIVATE", FIRMWARE, HIGH, "private key embedded in the image",
	  "Generate keys on the device at first boot or provisioning; never ship private keys in "
	  "an image that every device receives."),
	C("FW-KEY-TESTVECTOR", FIRMWARE, INFO, "published test key in a library (its self-test)",
	  "Nothing to do if the library only uses it to test itself; a device must never use "
	  "this key, whose private half is public."),
	C("FW-KEY-SSH-HOST", FIRMWARE, HIGH, "SSH host key baked into the image",
	  "Delete host keys from the image and generate them on first boot (ssh-keygen -A, or "
	  "dropbear -R)."),
	C("FW-KEY-SHARED", FIRMWARE, CRITICAL, "same private key in several images (fleet-wide key)",
	  "Replace the shared key with per-device keys and revoke anything that trusted it."),
	C("FW-SVC-TELNET", FIRMWARE, HIGH, "telnet server enabled",
	  "Remove telnetd from the start-up configuration; use SSH with keys instead."),
	C("FW-SVC-FTP", FIRMWARE, HIGH, "FTP or TFTP server enabled",
	  "Remove ftpd/tftpd from the start-up configuration; deliver files over HTTPS."),
	C("FW-SVC-HTTP", FIRMWARE, MEDIUM, "HTTP admin server enabled",
	  "Serve the admin interface over HTTPS only, with per-device credentials, or disable it."),
	C("FW-SVC-APPLET", FIRMWARE, LOW, "management daemon installed as a busybox applet",
	  "Build busybox without telnetd/ftpd/tftpd/httpd applets you do not need."),
	C("FW-SSH-ROOT", FIRMWARE, HIGH, "SSH server allows root login",
	  "Set PermitRootLogin no (OpenSSH) or start dropbear with -w; log in as a user and "
	  "escalate."),
	C("FW-SSH-PASSWORD", FIRMWARE, MEDIUM, "SSH server allows password login",
	  "Set PasswordAuthentication no (OpenSSH) or start dropbear with -s; use keys."),
	C("FW-CONSOLE-GETTY", FIRMWARE, MEDIUM, "login prompt on a serial console",
	  "Remove the serial getty from production images, or require a per-device password."),
	C("FW-CONSOLE-KERNEL", FIRMWARE, LOW, "kernel console on a serial port",
	  "Drop console=ttyS... from the production kernel command line (or set it to null)."),
	C("FW-CLEARTEXT-URL", FIRMWARE, MEDIUM, "cleartext endpoint (mqtt:// or http://) configured",
	  "Use mqtts:// (port 8883) and https:// with certificate verification."),
	C("FW-CLEARTEXT-SIGNED", FIRMWARE, INFO,
	  "cleartext URL of a signed channel (apt sources)",
	  "Nothing is needed for integrity (the archive is signed); use https:// sources to keep "
	  "what the device installs private."),
	C("FW-CLEARTEXT-PORT", FIRMWARE, MEDIUM, "plaintext service port configured",
	  "Use the TLS port of the protocol (MQTT 8883, HTTPS 443, CoAPS 5684)."),
	C("FW-TLS-NOVERIFY", FIRMWARE, HIGH, "TLS certificate verification disabled",
	  "Remove tls_insecure / --insecure / verify=0 and pin the fleet CA instead."),
	C("FW-NO-UPDATE", FIRMWARE, INFO, "no update agent or client found",
	  "Ship an update client (fleetsec-agent, RAUC, SWUpdate, Mender) so that devices can be "
	  "patched."),
	C("FW-SKIPPED", FIRMWARE, INFO, "file not scanned (over the size limit or unreadable)",
	  "Raise --max-file-size if the file can hold configuration or keys."),
	C("NET-TELNET", NETWORK, HIGH, "telnet open",
	  "Disable telnetd; use SSH with keys instead."),
	C("NET-MQTT-ANON", NETWORK, CRITICAL, "MQTT broker accepts anonymous clients",
	  "Set allow_anonymous false, require client certificates, and listen on 8883 with TLS."),
	C("NET-HTTP-ADMIN", NETWORK, MEDIUM, "HTTP admin interface without TLS",
	  "Serve the admin interface over HTTPS only, or disable it."),
	C("NET-DEFAULT-CRED", NETWORK, CRITICAL, "login succeeds with a well-known default credential",
	  "Change the credential to a unique per-device one now, and remove defaults from the "
	  "firmware."),
	C("NET-CLEARTEXT", NETWORK, LOW, "cleartext service open (FTP, HTTP, MQTT, CoAP)",
	  "Close the port or move the service to its TLS variant (FTPS/SFTP, HTTPS, MQTT 8883, "
	  "CoAPS 5684)."),
	C("BROKER-NO-TLS", NETWORK, CRITICAL, "MQTT broker listener without TLS",
	  "Give every listener certfile, keyfile and cafile (the fleet chain), or remove it; "
	  "`fleetsec mqtt config` writes a TLS-only configuration."),
	C("BROKER-ANONYMOUS", NETWORK, CRITICAL, "MQTT broker allows anonymous clients",
	  "Set allow_anonymous false and authenticate every client by its certificate."),
	C("BROKER-NO-CLIENT-CERT", NETWORK, HIGH, "MQTT TLS listener without client certificates",
	  "Set require_certificate true with the fleet chain as cafile, so that only fleet "
	  "devices connect."),
	C("BROKER-IDENTITY-USERNAME", NETWORK, HIGH,
	  "MQTT broker takes identities from certificates without the registry",
	  "Remove use_identity_as_username and use_subject_as_username and load the fleetsec "
	  "plugin: with them Mosquitto never calls a plugin's authentication, so revoked and "
	  "unknown devices connect."),
	C("BROKER-NO-REVOCATION", NETWORK, HIGH, "MQTT broker never checks revocation",
	  "Load the fleetsec plugin (it asks the registry at every connect and drops revoked "
	  "devices), or at least a crlfile kept fresh with a SIGHUP after each refresh."),
	C("BROKER-CRL-EXPIRING", NETWORK, MEDIUM, "MQTT broker's crlfile expires within 2 days",
	  "Refresh the CRL (fleetsecd does it before half its period) and send the broker "
	  "SIGHUP: Mosquitto reads crlfile only at start and on SIGHUP."),
	C("BROKER-CRL-EXPIRED", NETWORK, CRITICAL, "MQTT broker's crlfile has expired or is unreadable",
	  "Refresh the CRL and send the broker SIGHUP: with a lapsed crlfile Mosquitto refuses "
	  "every client certificate (Mosquitto issues #1826, #2597)."),
	C("BROKER-NO-TICKS", NETWORK, HIGH,
	  "fleetsec plugin where Mosquitto 2.0 gives it no tick",
	  "Set per_listener_settings false: in Mosquitto 2.0.11 plugins get no tick with it "
	  "true, so a revocation reaches connected devices only on SIGHUP."),
};

#undef C

struct finding_store {
	struct fsec_audit_finding f;
	char text[]; /* subject NUL evidence NUL */
};

struct fsec_audit {
	bool disabled[sizeof(checks) / sizeof(checks[0])];
	struct finding_store **items;
	size_t n, cap, dropped;
	/* Once full: below evict_from[s], no finding of severity s is kept. */
	size_t evict_from[FSEC_SEV_CRITICAL + 1];
	int max_sev;
	uint64_t bytes_scanned;
};

FSEC_API const struct fsec_audit_check *fsec_audit_checks(size_t *n)
{
	*n = sizeof(checks) / sizeof(checks[0]);
	return checks;
}

static int check_index(const char *id)
{
	for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++)
		if (strcmp(checks[i].id, id) == 0)
			return (int)i;
	return -1;
}

FSEC_API const struct fsec_audit_check *fsec_audit_check_find(const char *id)
{
	int i = check_index(id);

	return i < 0 ? NULL : &checks[i];
}

static const char *const sev_names[] = {"info", "low", "medium", "high", "critical"};

FSEC_API const char *fsec_audit_sev_name(enum fsec_audit_sev sev)
{
	return (unsigned)sev < 5 ? sev_names[sev] : "unknown";
}

FSEC_API enum fsec_err fsec_audit_sev_parse(const char *s, enum fsec_audit_sev *out)
{
	for (int i = 0; i < 5; i++)
		if (strcmp(s, sev_names[i]) == 0) {
			*out = (enum fsec_audit_sev)i;
			return FSEC_OK;
		}
	return fsec_seterr(FSEC_ERR_INVAL,
			   "unknown severity '%.20s' (critical, high, medium, low or info)", s);
}

FSEC_API const char *fsec_audit_area_name(enum fsec_audit_area area)
{
	switch (area) {
	case FSEC_AUDIT_FLEET: return "fleet";
	case FSEC_AUDIT_FIRMWARE: return "firmware";
	case FSEC_AUDIT_NETWORK: return "network";
	}
	return "unknown";
}

FSEC_API enum fsec_err fsec_audit_new(struct fsec_audit **out)
{
	struct fsec_audit *a = calloc(1, sizeof(*a));

	if (a == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	a->max_sev = -1;
	*out = a;
	return FSEC_OK;
}

FSEC_API void fsec_audit_free(struct fsec_audit *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < a->n; i++)
		free(a->items[i]);
	free(a->items);
	free(a);
}

FSEC_API enum fsec_err fsec_audit_disable(struct fsec_audit *a, const char *id)
{
	int i = check_index(id);

	if (i < 0)
		return fsec_seterr(FSEC_ERR_INVAL,
				   "unknown check '%.60s' (see 'fleetsec audit checks')", id);
	a->disabled[i] = true;
	return FSEC_OK;
}

FSEC_API bool fsec_audit_enabled(const struct fsec_audit *a, const char *id)
{
	int i = check_index(id);

	return i >= 0 && !a->disabled[i];
}

/* Copy s into dst (cap bytes including the NUL), replacing control bytes so
 * that text from an image or a banner cannot forge table rows or lines. */
static size_t clean_copy(char *dst, size_t cap, const char *s)
{
	size_t n = 0;

	for (; s[n] != '\0' && n + 1 < cap; n++) {
		unsigned char c = (unsigned char)s[n];

		dst[n] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	dst[n] = '\0';
	return n;
}

/* The place of a kept finding less severe than sev, the least severe
 * first; -1 if none. Each severity's scan resumes where it stopped, so a
 * full audit pays about one pass over its findings per severity. */
static long victim(struct fsec_audit *a, enum fsec_audit_sev sev)
{
	for (int s = FSEC_SEV_INFO; s < (int)sev; s++) {
		size_t j = a->evict_from[s];

		while (j < a->n && (int)a->items[j]->f.check->severity != s)
			j++;
		a->evict_from[s] = j;
		if (j < a->n) {
			a->evict_from[s] = j + 1;
			return (long)j;
		}
	}
	return -1;
}

FSEC_API enum fsec_err fsec_audit_add(struct fsec_audit *a, const char *check_id,
				      const char *subject, unsigned line,
				      const char *evidence_fmt, ...)
{
	char evidence[FSEC_AUDIT_EVIDENCE_MAX + 1];
	struct finding_store *fs;
	size_t slen, elen;
	int i = check_index(check_id);
	long slot = -1;
	va_list ap;

	if (i < 0)
		return fsec_seterr(FSEC_ERR_INVAL, "unknown check '%.60s'", check_id);
	if (a->disabled[i])
		return FSEC_OK;
	if ((int)checks[i].severity > a->max_sev)
		a->max_sev = (int)checks[i].severity;
	if (a->n == FSEC_AUDIT_MAX_FINDINGS && (slot = victim(a, checks[i].severity)) < 0) {
		a->dropped++;
		return FSEC_OK;
	}
	if (slot < 0 && a->n == a->cap) {
		size_t ncap = a->cap == 0 ? 64 : a->cap * 2;
		struct finding_store **items;

		if (ncap > FSEC_AUDIT_MAX_FINDINGS)
			ncap = FSEC_AUDIT_MAX_FINDINGS;
		items = realloc(a->items, ncap * sizeof(*items));
		if (items == NULL)
			return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		a->items = items;
		a->cap = ncap;
	}
	va_start(ap, evidence_fmt);
	vsnprintf(evidence, sizeof(evidence), evidence_fmt, ap);
	va_end(ap);
	slen = strnlen(subject, FSEC_AUDIT_SUBJECT_MAX);
	elen = strlen(evidence);
	fs = malloc(sizeof(*fs) + slen + elen + 2);
	if (fs == NULL) {
		/* The victim stays: its severity's scan must find it again. */
		if (slot >= 0)
			a->evict_from[a->items[slot]->f.check->severity] = (size_t)slot;
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	}
	slen = clean_copy(fs->text, slen + 1, subject);
	clean_copy(fs->text + slen + 1, elen + 1, evidence);
	fs->f.check = &checks[i];
	fs->f.subject = fs->text;
	fs->f.evidence = fs->text + slen + 1;
	fs->f.line = line;
	if (slot >= 0) {
		free(a->items[slot]);
		a->items[slot] = fs;
		a->dropped++;
		if ((size_t)slot < a->evict_from[checks[i].severity])
			a->evict_from[checks[i].severity] = (size_t)slot;
		return FSEC_OK;
	}
	a->items[a->n++] = fs;
	return FSEC_OK;
}

FSEC_API size_t fsec_audit_count(const struct fsec_audit *a)
{
	return a->n;
}

FSEC_API const struct fsec_audit_finding *fsec_audit_get(const struct fsec_audit *a, size_t i)
{
	return i < a->n ? &a->items[i]->f : NULL;
}

FSEC_API size_t fsec_audit_dropped(const struct fsec_audit *a)
{
	return a->dropped;
}

FSEC_API int fsec_audit_max_severity(const struct fsec_audit *a)
{
	return a->max_sev;
}

FSEC_API uint64_t fsec_audit_bytes_scanned(const struct fsec_audit *a)
{
	return a->bytes_scanned;
}

void fsec_audit_add_bytes(struct fsec_audit *a, uint64_t n)
{
	a->bytes_scanned += n;
}

static int cmp_finding(const void *pa, const void *pb)
{
	const struct fsec_audit_finding *x = &(*(struct finding_store *const *)pa)->f;
	const struct fsec_audit_finding *y = &(*(struct finding_store *const *)pb)->f;
	int c;

	if (x->check->severity != y->check->severity)
		return (int)y->check->severity - (int)x->check->severity;
	if ((c = strcmp(x->check->id, y->check->id)) != 0)
		return c;
	if ((c = strcmp(x->subject, y->subject)) != 0)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

FSEC_API void fsec_audit_sort(struct fsec_audit *a)
{
	if (a->n > 1)
		qsort(a->items, a->n, sizeof(a->items[0]), cmp_finding);
	/* The findings moved: every severity's scan starts over. */
	memset(a->evict_from, 0, sizeof(a->evict_from));
}

/* ---- rendering ---- */

static void count_by_sev(const struct fsec_audit *a, size_t counts[5])
{
	memset(counts, 0, 5 * sizeof(counts[0]));
	for (size_t i = 0; i < a->n; i++)
		counts[a->items[i]->f.check->severity]++;
}

static enum fsec_err render_table(const struct fsec_audit *a, FILE *fp)
{
	bool used[sizeof(checks) / sizeof(checks[0])] = {false};
	size_t counts[5];

	count_by_sev(a, counts);
	if (a->n == 0 && a->dropped == 0) {
		fputs("no findings\n", fp);
		return FSEC_OK;
	}
	fprintf(fp, "%-8s  %-22s  %-32s  %s\n", "SEVERITY", "CHECK", "SUBJECT", "EVIDENCE");
	for (size_t i = 0; i < a->n; i++) {
		const struct fsec_audit_finding *f = &a->items[i]->f;
		char subject[FSEC_AUDIT_SUBJECT_MAX + 16];

		if (f->line > 0)
			snprintf(subject, sizeof(subject), "%s:%u", f->subject, f->line);
		else
			snprintf(subject, sizeof(subject), "%s", f->subject);
		fprintf(fp, "%-8s  %-22s  %-32s  %s\n", fsec_audit_sev_name(f->check->severity),
			f->check->id, subject, f->evidence);
		used[f->check - checks] = true;
	}
	if (a->dropped > 0)
		fprintf(fp, "... and %zu more findings not listed (cap %d)\n", a->dropped,
			FSEC_AUDIT_MAX_FINDINGS);
	fputs("\nremediation:\n", fp);
	for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++)
		if (used[i])
			fprintf(fp, "  %-22s  %s\n", checks[i].id, checks[i].remediation);
	fprintf(fp, "\n%zu findings: %zu critical, %zu high, %zu medium, %zu low, %zu info\n",
		a->n + a->dropped, counts[FSEC_SEV_CRITICAL], counts[FSEC_SEV_HIGH],
		counts[FSEC_SEV_MEDIUM], counts[FSEC_SEV_LOW], counts[FSEC_SEV_INFO]);
	return FSEC_OK;
}

static json_t *render_json(const struct fsec_audit *a, const char *version)
{
	json_t *root, *list;
	size_t counts[5];

	count_by_sev(a, counts);
	list = json_array();
	root = json_pack("{s:s, s:s, s:{s:I, s:I, s:I, s:I, s:I}, s:I, s:o}", "tool", "fleetsec",
			 "version", version, "summary", "critical", (json_int_t)counts[4], "high",
			 (json_int_t)counts[3], "medium", (json_int_t)counts[2], "low",
			 (json_int_t)counts[1], "info", (json_int_t)counts[0], "dropped",
			 (json_int_t)a->dropped, "findings", list);
	if (root == NULL)
		return NULL;
	for (size_t i = 0; i < a->n; i++) {
		const struct fsec_audit_finding *f = &a->items[i]->f;
		json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "check", f->check->id,
				      "severity", fsec_audit_sev_name(f->check->severity), "area",
				      fsec_audit_area_name(f->check->area), "title", f->check->title,
				      "subject", f->subject, "evidence", f->evidence, "remediation",
				      f->check->remediation);

		if (o == NULL || (f->line > 0 && json_object_set_new(o, "line",
								      json_integer(f->line)) != 0) ||
		    json_array_append_new(list, o) != 0) {
			json_decref(o);
			json_decref(root);
			return NULL;
		}
	}
	return root;
}

/* SARIF levels and the "security-severity" property code-scanning UIs sort
 * by (a CVSS-like score as a string). */
static const char *sarif_level(enum fsec_audit_sev s)
{
	return s >= FSEC_SEV_HIGH ? "error" : s == FSEC_SEV_MEDIUM ? "warning" : "note";
}

static const char *const sarif_score[] = {"0.0", "3.0", "5.5", "8.0", "9.5"};

/* A path inside an image as a relative URI reference (RFC 3986): unreserved
 * characters and '/' as they are, everything else percent-encoded. */
static char *uri_path(const char *path)
{
	size_t n = strlen(path);
	char *out = malloc(n * 3 + 1), *p = out;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)path[i];

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    strchr("-._~/", c) != NULL) {
			*p++ = (char)c;
		} else {
			snprintf(p, 4, "%%%02X", c);
			p += 3;
		}
	}
	*p = '\0';
	return out;
}

static json_t *sarif_location(const struct fsec_audit_finding *f)
{
	json_t *loc;
	char *uri;

	if (f->check->area != FSEC_AUDIT_FIRMWARE)
		return json_pack("{s:[{s:s, s:s}]}", "logicalLocations", "fullyQualifiedName",
				 f->subject, "kind",
				 f->check->area == FSEC_AUDIT_FLEET ? "device" : "host");
	if ((uri = uri_path(f->subject[0] == '/' ? f->subject + 1 : f->subject)) == NULL)
		return NULL;
	loc = json_pack("{s:{s:{s:s}}}", "physicalLocation", "artifactLocation", "uri", uri);
	free(uri);
	if (loc != NULL && f->line > 0)
		json_object_set_new(json_object_get(loc, "physicalLocation"), "region",
				    json_pack("{s:i}", "startLine", (int)f->line));
	return loc;
}

static json_t *render_sarif(const struct fsec_audit *a, const char *version)
{
	json_t *rules = json_array(), *results = json_array(), *root;

	root = json_pack("{s:s, s:s, s:[{s:{s:{s:s, s:s, s:s, s:o}}, s:o}]}", "$schema",
			 "https://json.schemastore.org/sarif-2.1.0.json", "version", "2.1.0", "runs",
			 "tool", "driver", "name", "fleetsec", "version", version, "informationUri",
			 "https://github.com/fleetsec/fleetsec/blob/main/docs/AUDIT.md", "rules",
			 rules, "results", results);
	if (root == NULL)
		return NULL;
	/* Every check is a rule, so ruleIndex is the catalogue index and stays
	 * the same from one run to the next. */
	for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
		const struct fsec_audit_check *c = &checks[i];
		/* No "name": SARIF wants it to differ from the opaque id, and the
		 * id is what users type (--disable). */
		json_t *r = json_pack(
			"{s:s, s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s, s:[s, s], s:s}}", "id", c->id,
			"shortDescription", "text", c->title, "help", "text",
			c->remediation, "defaultConfiguration", "level", sarif_level(c->severity),
			"properties", "security-severity", sarif_score[c->severity], "tags",
			"security", fsec_audit_area_name(c->area), "severity",
			fsec_audit_sev_name(c->severity));

		if (r == NULL || json_array_append_new(rules, r) != 0)
			goto fail;
	}
	for (size_t i = 0; i < a->n; i++) {
		const struct fsec_audit_finding *f = &a->items[i]->f;
		json_t *loc = sarif_location(f);
		json_t *r;

		if (loc == NULL)
			goto fail;
		r = json_pack("{s:s, s:i, s:s, s:{s:s+++}, s:[o]}", "ruleId", f->check->id,
			      "ruleIndex", (int)(f->check - checks), "level",
			      sarif_level(f->check->severity), "message", "text", f->check->title,
			      ": ", f->evidence, "", "locations", loc);
		if (r == NULL || json_array_append_new(results, r) != 0)
			goto fail;
	}
	return root;
fail:
	json_decref(root);
	return NULL;
}

FSEC_API enum fsec_err fsec_audit_render(const struct fsec_audit *a,
					 enum fsec_audit_format format, const char *tool_version,
					 char **out, size_t *len)
{
	enum fsec_err rc = FSEC_ERR_NOMEM;
	json_t *doc = NULL;
	char *buf = NULL;
	size_t size = 0;
	FILE *fp;

	switch (format) {
	case FSEC_AUDIT_TABLE:
		if ((fp = open_memstream(&buf, &size)) == NULL)
			return fsec_seterr(rc, "out of memory");
		rc = render_table(a, fp);
		if (fclose(fp) != 0 && rc == FSEC_OK)
			rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		break;
	case FSEC_AUDIT_JSON:
	case FSEC_AUDIT_SARIF:
		doc = format == FSEC_AUDIT_JSON ? render_json(a, tool_version)
						: render_sarif(a, tool_version);
		buf = doc != NULL ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
		json_decref(doc);
		if (buf == NULL)
			return fsec_seterr(rc, "cannot encode the findings");
		/* The documents end with a newline like every text file. */
		size = strlen(buf);
		{
			char *nl = realloc(buf, size + 2);

			if (nl == NULL) {
				free(buf);
				return fsec_seterr(rc, "out of memory");
			}
			buf = nl;
			buf[size++] = '\n';
			buf[size] = '\0';
		}
		rc = FSEC_OK;
		break;
	default:
		return fsec_seterr(FSEC_ERR_INVAL, "unknown output format");
	}
	if (rc != FSEC_OK) {
		free(buf);
		return rc;
	}
	*out = buf;
	*len = size;
	return FSEC_OK;
}
