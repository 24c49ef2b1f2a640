# SPDX-License-Identifier: Apache-2.0
# Builds small root filesystems for the firmware audit tests: one with every
# weakness the audit looks for planted (and the check ID each must raise),
# and a clean one that must raise nothing. Sourced by audit_firmware.sh and
# bench/bench_audit.sh; needs openssl, ssh-keygen is not required.

# weak_rootfs DIR: plant one weakness per check.
weak_rootfs() {
	local d=$1
	mkdir -p "$d"/etc/init.d "$d"/etc/ssh "$d"/etc/dropbear "$d"/etc/systemd/system/multi-user.target.wants \
		"$d"/etc/mosquitto "$d"/bin "$d"/usr/sbin "$d"/boot "$d"/opt/app "$d"/etc/xinetd.d
	# FW-CRED-DEFAULT (root:admin, SHA-512 crypt) and FW-CRED-EMPTY (guest).
	printf 'root:x:0:0:root:/root:/bin/sh\nguest::1000:1000::/home/guest:/bin/sh\n' >"$d/etc/passwd"
	printf 'root:%s:19000:0:99999:7:::\nguest::19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n' \
		"$(openssl passwd -6 -salt fixturesalt admin)" >"$d/etc/shadow"
	# FW-KEY-PRIVATE: a PKCS#8 key in an application directory.
	openssl genpkey -algorithm ed25519 -out "$d/opt/app/device.key" 2>/dev/null
	# FW-KEY-SSH-HOST: an OpenSSH host key in PEM form.
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/etc/ssh/ssh_host_ecdsa_key" 2>/dev/null
	# FW-SVC-TELNET, FW-CONSOLE-GETTY (inittab), FW-SVC-HTTP (init script).
	cat >"$d/etc/inittab" <<'INIT'
::sysinit:/etc/init.d/rcS
::respawn:/usr/sbin/telnetd -F -l /bin/login
ttyS0::respawn:/sbin/getty -L ttyS0 115200 vt100
INIT
	printf '#!/bin/sh\n# start the web UI\nhttpd -p 80 -h /www -c /etc/httpd.conf\n' >"$d/etc/init.d/S50httpd"
	# FW-CRED-DEFAULT in busybox httpd.conf.
	printf 'A:*\n/cgi-bin:admin:admin\n' >"$d/etc/httpd.conf"
	# FW-SVC-FTP through xinetd.
	printf 'service tftp\n{\n\tdisable = no\n\tserver = /usr/sbin/in.tftpd\n}\n' >"$d/etc/xinetd.d/tftp"
	# FW-SSH-ROOT and FW-SSH-PASSWORD.
	printf 'Port 22\nPermitRootLogin yes\nPasswordAuthentication yes\n' >"$d/etc/ssh/sshd_config"
	# FW-SVC-APPLET: busybox applet link.
	: >"$d/bin/busybox"
	ln -s ../../bin/busybox "$d/usr/sbin/telnetd"
	# Dropbear allowing passwords and root (FW-SSH-PASSWORD, FW-SSH-ROOT), and
	# its binary host key (FW-KEY-SSH-HOST).
	printf '#!/bin/sh\nstart() {\n\t/usr/sbin/dropbear -R -p 22\n}\nstart\n' >"$d/etc/init.d/S40dropbear"
	head -c 300 /dev/urandom >"$d/etc/dropbear/dropbear_ed25519_host_key"
	# systemd: an enabled telnet socket and a serial getty.
	ln -s /lib/systemd/system/telnet.socket "$d/etc/systemd/system/multi-user.target.wants/telnet.socket"
	ln -s /lib/systemd/system/serial-getty@.service \
		"$d/etc/systemd/system/multi-user.target.wants/serial-getty@ttyS1.service"
	# FW-CONSOLE-KERNEL.
	printf 'root=/dev/mmcblk0p2 console=ttyS0,115200 rootwait\n' >"$d/boot/cmdline.txt"
	# FW-CLEARTEXT-URL, FW-CLEARTEXT-PORT, FW-TLS-NOVERIFY.
	printf 'broker_url = mqtt://broker.example.com\n' >"$d/etc/app.conf"
	printf 'listener 1883\n' >"$d/etc/mosquitto/mosquitto.conf"
	printf '#!/bin/sh\ncurl --insecure https://updates.example.com/fw.bin -o /tmp/fw.bin\n' >"$d/opt/app/fetch.sh"
	# FW-NO-UPDATE: no update client anywhere (the script above is not one).
	# FW-SKIPPED: one file over the limit the test passes (--max-file-size 65536).
	head -c 70000 /dev/zero >"$d/opt/app/blob.bin"
	# A symlink out of the root must not be followed: if it were, the
	# audit would report the host's /etc/shadow.
	ln -s /etc "$d/opt/app/hostetc"
}

# clean_rootfs DIR: the same kind of system, configured well.
clean_rootfs() {
	local d=$1
	mkdir -p "$d"/etc/init.d "$d"/etc/ssh "$d"/usr/bin "$d"/boot "$d"/opt/app "$d"/bin
	printf 'root:x:0:0:root:/root:/bin/sh\nsvc:x:1000:1000::/home/svc:/bin/false\n' >"$d/etc/passwd"
	printf 'root:!:19000:0:99999:7:::\nsvc:%s:19000:0:99999:7:::\n' \
		"$(openssl passwd -6 -salt fixturesalt 'k3#Vq9-unique-per-device')" >"$d/etc/shadow"
	printf '::sysinit:/etc/init.d/rcS\nconsole::respawn:/sbin/getty -L console 0 vt100 -n -l /bin/false\n' >/dev/null
	printf '::sysinit:/etc/init.d/rcS\n::shutdown:/bin/umount -a -r\n' >"$d/etc/inittab"
	printf '#!/bin/sh\n# no telnetd here\nexec /usr/sbin/dropbear -s -w -R\n' >"$d/etc/init.d/S50dropbear"
	printf 'PermitRootLogin no\nPasswordAuthentication no\n' >"$d/etc/ssh/sshd_config"
	printf 'root=/dev/mmcblk0p2 console=null rootwait\n' >"$d/boot/cmdline.txt"
	printf 'broker_url = mqtts://broker.example.com:8883\nca_file = /etc/fleet-ca.pem\n' >"$d/etc/app.conf"
	printf '#!/bin/sh\n# see http://www.apache.org/licenses/LICENSE-2.0\ncurl --cacert /etc/fleet-ca.pem https://updates.example.com/fw.bin\n' >"$d/opt/app/fetch.sh"
	printf '#!/bin/sh\n' >"$d/usr/bin/fleetsec-agent"
	: >"$d/bin/busybox"
	ln -s busybox "$d/bin/sh"
}

# The checks the weak image must raise, one per line.
weak_checks() {
	printf '%s\n' FW-CRED-DEFAULT FW-CRED-EMPTY FW-KEY-PRIVATE FW-KEY-SSH-HOST FW-SVC-TELNET \
		FW-SVC-FTP FW-SVC-HTTP FW-SVC-APPLET FW-SSH-ROOT FW-SSH-PASSWORD FW-CONSOLE-GETTY \
		FW-CONSOLE-KERNEL FW-CLEARTEXT-URL FW-CLEARTEXT-PORT FW-TLS-NOVERIFY FW-NO-UPDATE \
		FW-SKIPPED
}

# stock_rootfs DIR: what a stock Debian system really installs, copied from
# this machine: every file `dpkg -L libgnutls30` lists (GnuTLS's PEM labels
# and self-test keys), its documentation and that of openssl and libc6
# (URLs, bug-report links), an apt sources.list with http:// lines and a
# service unit, beside whatever else DIR holds. Nothing here is a weakness.
stock_rootfs() {
	local d=$1 f
	command -v dpkg >/dev/null || fail "dpkg is missing: the stock fixture copies Debian's own files"
	dpkg -L libgnutls30 >/dev/null 2>&1 || fail "libgnutls30 is not installed (scripts/deps.sh: curl pulls it in)"
	for f in $(dpkg -L libgnutls30 openssl libc6 2>/dev/null | grep -E '^/(usr/lib|usr/share/doc|etc)/'); do
		[ -f "$f" ] && [ ! -L "$f" ] || continue
		case "$f" in /usr/lib/*/gconv/*|/usr/lib/locale/*) continue ;; esac
		mkdir -p "$d$(dirname "$f")"
		cp "$f" "$d$f"
	done
	[ -s "$d/usr/lib/x86_64-linux-gnu/libgnutls.so.30" ] || [ -n "$(find "$d/usr/lib" -name 'libgnutls.so.30*' -size +100k)" ] ||
		fail "libgnutls.so.30 not copied into the stock fixture"
	mkdir -p "$d/etc/apt/sources.list.d" "$d/lib/systemd/system" "$d/usr/share/doc/fixture"
	printf '%s\n' 'deb http://deb.debian.org/debian bookworm main' \
		'deb http://deb.debian.org/debian-security bookworm-security main' \
		'deb-src http://deb.debian.org/debian bookworm main' >"$d/etc/apt/sources.list"
	printf '%s\n' 'Types: deb' 'URIs: http://deb.debian.org/debian' 'Suites: bookworm bookworm-updates' \
		'Components: main' 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' \
		>"$d/etc/apt/sources.list.d/debian.sources"
	[ -f /etc/apt/sources.list.d/debian.sources ] && cp /etc/apt/sources.list.d/debian.sources "$d/etc/apt/sources.list.d/host.sources"
	# A unit with its documentation link and a comment, as Debian ships them.
	printf '%s\n' '[Unit]' 'Description=Example daemon' 'Documentation=man:exampled(8)' \
		'# Upstream: http://example.org/exampled' '[Service]' 'ExecStart=/usr/sbin/exampled' \
		>"$d/lib/systemd/system/exampled.service"
	# Documentation with URLs of every kind, and a config with a bug link and
	# an XML DTD.
	printf 'See http://www.example.org/manual and report bugs at http://bugs.example.org/\n' \
		>"$d/usr/share/doc/fixture/README.Debian"
	printf '#!/bin/sh\ncurl --insecure http://example.org/x.sh\n' >"$d/usr/share/doc/fixture/example.sh"
	printf '<?xml version="1.0"?>\n<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"\n "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">\n<busconfig>\n<!-- see\n http://example.org/docs -->\n</busconfig>\n' \
		>"$d/etc/fixture-bus.conf"
	printf 'BugReports = http://bugs.example.org/\nreportbug_url = http://www.example.org/bugs\n' >"$d/etc/fixture.conf"
}
