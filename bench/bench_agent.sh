#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Update download benchmark (issue 4): `fleetsec-agent update` of a MiB-sized
# signed image into an erased slot over loopback, from a real nginx with
# client certificates (tests/integration/nginx.sh), next to
# `curl -o FILE URL && sha256sum FILE` of the same image in the same run.
#
# usage: bench/bench_agent.sh [MiB] [CHUNK_SIZES] [RUNS]
#   MiB          image payload in MiB (default 256)
#   CHUNK_SIZES  the release's --chunk-size; a comma-separated list measures
#                each in turn (default 1048576)
#   RUNS         timed runs of each tool per chunk size (default 3)
#
# Each run is timed by the wall clock (date +%s.%N) around the process,
# start-up and TLS handshake included. An agent run covers the manifest
# fetch and check, every chunk's Range request, SHA-256, pwrite and
# fdatasync, the journal, the checks of the whole slot that follow, and the
# trial boot request. Agent and baseline runs alternate; `sync` runs
# (untimed) before each. The device state (state dir, boot environment,
# erased slot b) is reset before every agent run. Peak RSS is GNU time's %M
# (ru_maxrss), or that of a small helper when /usr/bin/time is missing. One
# more, untimed, agent run under the helper records /proc/PID/status and
# smaps just before the agent exits, for the RSS composition. Also printed:
# `fleetsec-agent --help`'s peak RSS (libraries loaded, no work) as a floor,
# and the baseline's halves (curl -o, sha256sum) timed apart, with
# `openssl dgst -sha256` beside them. See docs/BENCHMARKS.md.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-bench"
mib="${1:-256}"
chunks="${2:-1048576}"
runs="${3:-3}"

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j2 --target fleetsec_cli fleetsec_agent fleetsec_bootsim >/dev/null

export FLEETSEC="$build/fleetsec" AGENT="$build/fleetsec-agent" BOOTSIM="$build/fleetsec-bootsim"
# shellcheck source=../tests/integration/lib.sh disable=SC1091
. "$root/tests/integration/lib.sh"
# shellcheck source=../tests/integration/nginx.sh disable=SC1091
. "$root/tests/integration/nginx.sh"
cd "$T"

# ---- helper: exitrss OUT CMD... runs CMD traced, copies its
# /proc/PID/{status,smaps} to OUT.status and OUT.smaps at PTRACE_EVENT_EXIT
# (the mm is still there), and prints the child's ru_maxrss (KiB) on fd 3.
# It links only libc, so the ru_maxrss floor it passes across exec is small.
cat >exitrss.c <<'C'
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static void copy(pid_t pid, const char *what, const char *out)
{
	char src[64], dst[4096], buf[65536];
	FILE *in, *o;
	size_t n;

	snprintf(src, sizeof(src), "/proc/%d/%s", (int)pid, what);
	snprintf(dst, sizeof(dst), "%s.%s", out, what);
	if ((in = fopen(src, "r")) == NULL || (o = fopen(dst, "w")) == NULL)
		exit(125);
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		fwrite(buf, 1, n, o);
	fclose(in);
	fclose(o);
}

int main(int argc, char **argv)
{
	struct rusage ru;
	int st;
	pid_t pid;

	if (argc < 3)
		return 2;
	if ((pid = fork()) == 0) {
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		raise(SIGSTOP);
		execvp(argv[2], argv + 2);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid ||
	    ptrace(PTRACE_SETOPTIONS, pid, 0,
		   PTRACE_O_TRACEEXIT | PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL) != 0)
		return 126;
	ptrace(PTRACE_CONT, pid, 0, 0);
	for (;;) {
		int sig;

		if (wait4(pid, &st, 0, &ru) != pid)
			return 126;
		if (WIFEXITED(st) || WIFSIGNALED(st))
			break;
		sig = WSTOPSIG(st);
		if ((st >> 16) == PTRACE_EVENT_EXIT) {
			copy(pid, "status", argv[1]);
			copy(pid, "smaps", argv[1]);
		}
		if ((st >> 16) != 0)
			sig = 0;
		ptrace(PTRACE_CONT, pid, 0, sig);
	}
	dprintf(3, "%ld\n", ru.ru_maxrss);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
C
have_helper=false
# ptrace may be forbidden (seccomp, Yama): then there is no composition.
if command -v cc >/dev/null && cc -O2 -o exitrss exitrss.c 2>/dev/null &&
	./exitrss selftest true 3>/dev/null && [ -s selftest.status ]; then
	have_helper=true
fi
if [ -x /usr/bin/time ]; then
	rss_tool="GNU time %M"
elif $have_helper; then
	rss_tool="exitrss helper (wait4 ru_maxrss)"
else
	fail "neither /usr/bin/time nor a C compiler: cannot measure peak RSS"
fi

# measure RSSFILE CMD...: run CMD, stdout to $T/out, stderr to $T/err; print
# its wall time in seconds; its peak RSS (KiB) goes to RSSFILE.
measure() {
	local rssf=$1 t0 t1 rc=0
	shift
	t0=$(date +%s.%N)
	if [ -x /usr/bin/time ]; then
		/usr/bin/time -f %M -o "$rssf" "$@" >out 2>err || rc=$?
	else
		./exitrss scratch "$@" >out 2>err 3>"$rssf" || rc=$?
	fi
	t1=$(date +%s.%N)
	[ "$rc" -eq 0 ] || fail "'$*' exited $rc: $(cat err)"
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
mibs() { awk -v b="$1" -v t="$2" 'BEGIN { printf "%.1f", b / 1048576 / t }'; }

# ---- fleet, server, keys (as tests/integration/agent_update.sh) ----
"$FLEETSEC" ca init --name "Bench Fleet" >/dev/null
nginx_start "$FLEETSEC_HOME/issuing.pem" "$FLEETSEC_HOME/issuing.key" "$FLEETSEC_HOME/chain.pem"
"$FLEETSEC" device issue dev-1 --keygen --key-out dev.key --out dev.pem --model thermo 2>/dev/null
for k in fw root; do
	"$FLEETSEC" fw keygen --out $k.pem 2>/dev/null
	"$FLEETSEC" fw pubkey $k.pem --out $k.pub
done
"$FLEETSEC" fw keygen --algo p256 --out online.pem 2>/dev/null
"$FLEETSEC" fw pubkey online.pem --out online.pub
"$FLEETSEC" release delegate --root-key root.pem --key online.pub --sequence 1 --out deleg.json

# ---- images: v1 (600 kB) runs in slot a; v2 (MiB) is the update ----
slot_size=$(((mib + 1) * 1048576))
head -c 600000 /dev/urandom >v1.bin
"$FLEETSEC" fw sign --key fw.pem --version 1.0.0 --security-counter 1 --pad-header \
	--slot-size 0x200000 v1.bin v1.img
head -c $((mib * 1048576)) /dev/urandom >v2.bin
"$FLEETSEC" fw sign --key fw.pem --version 2.0.0 --security-counter 2 --pad-header \
	--slot-size "$slot_size" v2.bin www/image.img
rm -f v2.bin
size=$(stat -c %s www/image.img)
want_sha=$(sha256sum www/image.img | cut -d' ' -f1)
head -c $((0x200000)) /dev/zero | tr '\0' '\377' >slot_a
dd if=v1.img of=slot_a conv=notrunc status=none

agent_conf "https://127.0.0.1:$NGINX_PORT" manifest_url=/release.json

# A device running v1 from slot a, slot b erased (0xff), no agent state.
reset_device() {
	rm -rf state bootenv slot_b
	mkdir state
	head -c "$slot_size" /dev/zero | tr '\0' '\377' >slot_b
	sync
}
# The update must really have happened: trial of b requested, b holds v2.
check_installed() {
	grep -q installed out || fail "agent did not install: $(cat out err)"
	if ! grep -q '^fsec_slot=b' bootenv || ! grep -q '^upgrade_available=1' bootenv; then
		fail "no trial boot of slot b requested"
	fi
	cmp -s -n "$size" slot_b www/image.img || fail "slot b is not the image"
}
agent_run() { reset_device; measure rss "$AGENT" -c agent.conf update; check_installed; }
# The baseline, as a user would type it: one bash runs curl, then sha256sum.
cat >baseline.sh <<SH
curl -sS --fail --cert dev.pem --key dev.key --cacert "$FLEETSEC_HOME/chain.pem" \\
	-o dl.img "https://127.0.0.1:$NGINX_PORT/image.img" && sha256sum dl.img
SH
baseline_run() {
	rm -f dl.img
	sync
	measure rss.curl bash baseline.sh
	[ "$(cut -d' ' -f1 out)" = "$want_sha" ] || fail "curl + sha256sum: wrong hash $(cat out)"
}

echo "== machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(uname -r)"
echo "== $(openssl version); $(curl --version | head -1 | cut -d' ' -f1-3); $(nginx -v 2>&1 | cut -d' ' -f3)"
echo "== image: $mib MiB payload, $size bytes signed; $runs runs per tool; peak RSS by $rss_tool"
echo "== fleetsec-agent: $(stat -c %s "$AGENT") bytes; libfleetsec-device.so.0.1.0 (all it links of fleetsec): $(stat -c %s "$build/libfleetsec-device.so.0.1.0") bytes; the full libfleetsec.so.0.1.0: $(stat -c %s "$build/libfleetsec.so.0.1.0") bytes"
echo "   it maps $(ldd "$AGENT" | awk '$3 ~ /^\// { n++ } END { print n }') shared libraries: $(ldd "$AGENT" | awk '$3 ~ /^\// { print $1 }' | tr '\n' ' ')"
# RSS floor: the same binary and libraries loaded and relocated, no work.
for i in 1 2 3; do measure rss "$AGENT" --help >/dev/null; cat rss; done >help.rss
echo "   fleetsec-agent --help peak RSS (loaded, no work): median $(median <help.rss) KiB"

# The baseline's two halves, for reading its figure (3 runs each, median):
# curl alone, sha256sum alone, and libcrypto's SHA-256 on the same file.
: >split.curl; : >split.sha; : >split.dgst
for i in $(seq 1 "$runs"); do
	rm -f dl.img
	sync
	measure /dev/null curl -sS --fail --cert dev.pem --key dev.key --cacert "$FLEETSEC_HOME/chain.pem" \
		-o dl.img "https://127.0.0.1:$NGINX_PORT/image.img" >>split.curl
	measure /dev/null sha256sum dl.img >>split.sha
	measure /dev/null openssl dgst -sha256 dl.img >>split.dgst
done
echo "== baseline split (median of $runs): curl -o $(median <split.curl) s, then sha256sum $(median <split.sha) s" \
	"(openssl dgst -sha256, for comparison: $(median <split.dgst) s)"

seq=10
IFS=, read -r -a chunk_list <<<"$chunks"
for cs in "${chunk_list[@]}"; do
	seq=$((seq + 1))
	"$FLEETSEC" release create --model thermo --image www/image.img --url /image.img \
		--chunk-size "$cs" --sequence "$seq" --expires 1d --out manifest.json
	"$FLEETSEC" release sign --key online.pem --delegation deleg.json manifest.json \
		--out www/release.json
	echo
	echo "== chunk size $cs ($(((size + cs - 1) / cs)) Range requests)"
	# Untimed warm-up of each, so the image is in the page cache for both.
	agent_run >/dev/null
	baseline_run >/dev/null
	: >agent.t; : >agent.rss; : >curl.t
	for i in $(seq 1 "$runs"); do
		ta=$(agent_run)
		ra=$(cat rss)
		tb=$(baseline_run)
		echo "$ta" >>agent.t; echo "$ra" >>agent.rss; echo "$tb" >>curl.t
		echo "run $i: agent $ta s $(mibs "$size" "$ta") MiB/s rss $ra KiB | curl+sha256sum $tb s $(mibs "$size" "$tb") MiB/s rss $(cat rss.curl) KiB (max of bash, curl, sha256sum)"
	done
	ma=$(median <agent.t)
	mb=$(median <curl.t)
	echo "agent:          median $ma s = $(mibs "$size" "$ma") MiB/s (min $(sort -g agent.t | head -1) s, max $(sort -g agent.t | tail -1) s)"
	echo "curl+sha256sum: median $mb s = $(mibs "$size" "$mb") MiB/s (min $(sort -g curl.t | head -1) s, max $(sort -g curl.t | tail -1) s)"
	awk -v a="$ma" -v b="$mb" 'BEGIN { r = b / a * 100; printf "ratio: agent / curl+sha256sum = %.1f%% of the baseline throughput (target >= 80%%: %s)\n", r, (r >= 80 ? "met" : "NOT met") }'
	awk -v m="$(median <agent.rss)" -v x="$(sort -g agent.rss | tail -1)" 'BEGIN { printf "agent peak RSS: median %d KiB, max %d KiB = %.2f MiB (target < 8 MiB: %s)\n", m, x, x / 1024, (x < 8192 ? "met" : "NOT met") }'
	if $have_helper; then
		reset_device
		./exitrss exit "$AGENT" -c agent.conf update >out 2>err 3>rss.exit || fail "agent under exitrss: $(cat err)"
		check_installed
		awk '/^(VmHWM|VmRSS|RssAnon|RssFile|RssShmem):/ { printf "%s %s KiB  ", $1, $2 } END { print "" }' exit.status |
			sed 's/^/at exit: /'
		# Rss and anonymous (private, written) KiB per mapped object, largest
		# first; what is not anonymous is file-backed pages of the object.
		awk '/^[0-9a-f]+-[0-9a-f]+ / { name = NF >= 6 ? $6 : "[anon]"; sub(".*/", "", name) }
		     /^Rss:/ { rss[name] += $2 } /^Pss:/ { pss += $2 }
		     /^Anonymous:/ { anon[name] += $2 }
		     END { printf "PSS %d KiB\n", pss >"/dev/stderr"
			   for (k in rss) if (rss[k] > 0) printf "%d %d %s\n", rss[k], anon[k], k }' \
			exit.smaps 2>smaps.sum >smaps.obj
		echo "  $(cat smaps.sum); $(wc -l <smaps.obj) objects; Rss/anonymous KiB by object:"
		sort -rn smaps.obj | awk '{ printf "%s %d/%d; ", $3, $1, $2 } NR % 6 == 0 { print "" } END { print "" }' | sed 's/^/    /'
	fi
done
