#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Factory batches (issue 18), through the real fleetsec:
#  - `device issue --batch CSV --out-dir DIR` over N CSRs made by
#    python-cryptography (make_csrs.py) and a few key-generation lines, killed
#    with SIGKILL mid-way and run again: every device issued exactly once
#    (device list, one `issue` event each, unique serials), the rerun reports
#    the rest as already done; openssl verify accepts a sample of the files;
#    generated keys are 0600 and match their certificates;
#  - bad lines (a bad CSR, a key shared with another item, a device ID listed
#    twice, a missing file, an invalid model, a malformed line) are each
#    reported with their line and reason, and never stop the batch;
#  - results are JSON lines when stdout is not a terminal; under a pty
#    (script) stderr shows the bar with rate and ETA;
#  - `--out-tar -` is a stream tar(1) lists; `--out-tar FILE` keeps keys 0600;
#  - a directory of CSRs named by device ID.
# BATCH_N (default 1000) sets the batch size: 10,000 takes longer than CI
# should (bench/bench_batch.sh runs 10,000 and 100,000).
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
cd "$T"
F=$FLEETSEC
N=${BATCH_N:-1000}

"$F" ca init --name "Factory" >/dev/null
openssl x509 -in "$FLEETSEC_HOME/chain.pem" -out issuing.pem
mkdir csrs
python3 "$HERE/make_csrs.py" csrs "$N" >csrs/good.csv
# Bad lines among good ones, at known lines (the header is line 1).
python3 "$HERE/make_csrs.py" csrs 3 extra >csrs/extra.csv
echo "not a CSR" >csrs/bad.csr
{
	echo "id,model,csr_path"
	echo "bad-csr,cam,bad.csr"
	echo "missing,cam,nosuch.csr"
	echo "badmodel,cam era,extra-00001.csr"
	echo "too,many,fields,here"
	echo "k-0001,thermo"
	echo "k-0002,thermo"
	cat csrs/good.csv
	echo "shared,cam,dev-00000.csr"
	echo "dev-00001,cam,extra-00002.csr"
} >csrs/batch.csv
# Lines: bad CSR 2, missing file 3, invalid model 4, malformed 5, keygen 6-7,
# good 8..N+7 (dev-00001 at 9), dev-00000's key again N+8, dev-00001 again N+9.
good=$((N + 2))
total=$((N + 8))
refused=6

# ---- run 1: killed mid-way with SIGKILL ----
"$F" device issue --batch csrs/batch.csv --out-dir o1 >run1.jsonl 2>run1.err &
pid=$!
for _ in $(seq 1 600); do
	n=$(grep -c '"status"' run1.jsonl || true)
	[ "$n" -ge $((N / 3)) ] && break
	kill -0 $pid 2>/dev/null || break
	sleep 0.05
done
kill -9 $pid 2>/dev/null || fail "the batch ended before it could be killed (make BATCH_N bigger)"
wait $pid 2>/dev/null || true
got1=$(grep -c '"status":"issued"' run1.jsonl || true)
[ "$got1" -gt 0 ] && [ "$got1" -lt "$good" ] || fail "run 1 issued $got1 of $good before the kill"
ok
grep -q summary run1.jsonl && fail "a killed run printed a summary"
ok

# ---- run 2: the same command resumes ----
expect 1 "$F" device issue --batch csrs/batch.csv --out-dir o1
mv "$T/out" run2.jsonl
sum=$(tail -1 run2.jsonl)
[ "$(jq .summary.total <<<"$sum")" -eq "$total" ] || fail "summary total: $sum"
[ "$(jq .summary.refused <<<"$sum")" -eq "$refused" ] || fail "summary refused: $sum"
issued2=$(jq .summary.issued <<<"$sum")
done2=$(jq .summary.already_done <<<"$sum")
[ $((issued2 + done2)) -eq "$good" ] || fail "issued $issued2 + done $done2 != $good: $sum"
[ "$done2" -ge "$got1" ] || fail "run 2 saw $done2 done, run 1 had issued $got1"
ok
# Each JSON line names its line; the refusals are exactly the bad lines.
[ "$(jq -s 'map(select(.status)) | length' run2.jsonl)" -eq "$total" ] || fail "one line per item"
ok
refusals=$(jq -r 'select(.status=="refused") | "\(.line) \(.reason)"' run2.jsonl)
check_refusal() { # LINE TEXT
	grep -q "^$1 .*$2" <<<"$refusals" || fail "no refusal at line $1 naming '$2': $refusals"
	ok
}
check_refusal 2 "not a valid certificate request"
check_refusal 3 "nosuch.csr: cannot open"
check_refusal 4 "invalid model"
check_refusal 5 "expected id,model,csr_path or id,model"
check_refusal $((N + 8)) "already registered to device dev-00000"
check_refusal $((N + 9)) "duplicate device ID dev-00001 (first at line 9)"

# The registry: every good item once, never twice.
devs=$(reg length device list)
[ "$devs" -eq "$good" ] || fail "$devs devices registered, expected $good"
ok
issues=$("$F" registry events --action issue --json | jq -r '.[].detail' |
	sed 's/.*serial=\([0-9A-F]*\).*/\1/' | sort)
[ "$(wc -l <<<"$issues")" -eq "$good" ] || fail "$(wc -l <<<"$issues") issue events, expected $good"
[ "$(uniq <<<"$issues" | wc -l)" -eq "$good" ] || fail "a serial was issued twice"
ok
[ "$(reg '[.[].serial] | unique | length' device list)" -eq "$good" ] || fail "serials not unique"
ok
for id in shared bad-csr missing badmodel; do
	"$F" device show "$id" >/dev/null 2>&1 && fail "refused item $id was registered"
done
ok

# ---- output files ----
[ "$(ls o1/*.pem | wc -l)" -eq "$good" ] || fail "$(ls o1/*.pem | wc -l) certificate files"
ok
for id in dev-00000 dev-00001 "dev-$(printf %05d $((N - 1)))" k-0001 k-0002; do
	openssl verify -CAfile "$FLEETSEC_HOME/root.pem" -untrusted "$FLEETSEC_HOME/chain.pem" \
		"o1/$id.pem" >/dev/null || fail "openssl verify refused o1/$id.pem"
	[ "$(certid "o1/$id.pem")" = "$(current "$id")" ] || fail "o1/$id.pem is not $id's current"
done
ok
# dev-00001's certificate is for its first line's key, not the duplicate's.
[ "$(openssl x509 -in o1/dev-00001.pem -noout -pubkey)" = \
  "$(openssl req -in csrs/dev-00001.csr -noout -pubkey)" ] || fail "dev-00001 has the wrong key"
ok
for k in k-0001 k-0002; do
	[ "$(stat -c %a "o1/$k.key")" = 600 ] || fail "o1/$k.key is not 0600"
	[ "$(openssl pkey -in "o1/$k.key" -pubout)" = "$(openssl x509 -in "o1/$k.pem" -noout -pubkey)" ] ||
		fail "o1/$k.key does not match its certificate"
done
ok
grep -q "BEGIN" run1.jsonl run2.jsonl && fail "a key or certificate reached the report"
ok

# ---- run 3: all done, nothing issued ----
before=$(reg length registry events)
expect 1 "$F" device issue --batch csrs/batch.csv --out-dir o1
[ "$(tail -1 "$T/out" | jq .summary.already_done)" -eq "$good" ] || fail "run 3: $(tail -1 "$T/out")"
[ "$(reg length registry events)" -eq "$before" ] || fail "run 3 wrote events"
ok

# ---- a clean batch exits 0; progress bar under a pty; tar streams ----
python3 "$HERE/make_csrs.py" csrs 40 line >csrs/line.csv
{ cat csrs/line.csv; echo "kt-1,thermo"; } >csrs/line2.csv
script -qfec "$F device issue --batch csrs/line2.csv --out-dir pty" /dev/null >pty.txt
grep -q 'issuing \[#*' pty.txt || fail "no progress bar on a terminal: $(cat -v pty.txt | head -c 400)"
grep -q '/s ETA [0-9]*:[0-9][0-9]' pty.txt || fail "the bar shows no rate and ETA"
grep -q 'issued 41, refused 0, already done 0 (of 41)' pty.txt || fail "no summary: $(cat -v pty.txt)"
ok
grep -q '"status"' pty.txt && fail "JSON lines on a terminal"
ok
# --out-tar -: the whole batch again (already done), as a stream.
"$F" device issue --batch csrs/line2.csv --out-dir pty --out-tar - 2>tar.err | tar -t >tar.list
[ "$(wc -l <tar.list)" -eq 42 ] || fail "tar -t lists $(wc -l <tar.list) entries: $(head tar.list)"
grep -qx 'kt-1.key' tar.list && grep -qx 'line-00039.pem' tar.list || fail "tar entries: $(cat tar.list)"
ok
tail -1 tar.err | jq -e '.summary.already_done == 41' >/dev/null || fail "tar summary: $(tail -1 tar.err)"
ok
"$F" device issue --batch csrs/line2.csv --out-tar t.tar --out-dir pty >/dev/null
[ "$(stat -c %a t.tar)" = 600 ] || fail "the tar file holds keys and is not 0600"
tar -tvf t.tar | grep -q '^-rw------- .* kt-1.key$' || fail "kt-1.key is not 0600 in the tar"
mkdir x && tar -xf t.tar -C x && cmp x/kt-1.key pty/kt-1.key || fail "tar key differs from out-dir's"
ok

# ---- a directory of CSRs named by device ID ----
mkdir dir && python3 "$HERE/make_csrs.py" dir 5 dd >/dev/null && cp dir/dd-00000.csr "dir/not an id.csr"
expect 1 "$F" device issue --batch dir --model sensor --out-dir dout
[ "$(jq -r 'select(.status=="issued") | .file' "$T/out" | wc -l)" -eq 5 ] || fail "dir: $(cat "$T/out")"
jq -s -e 'any(.[]; .status == "refused" and .file == "not an id.csr")' "$T/out" >/dev/null ||
	fail "dir: a bad file name not refused"
[ "$("$F" device show dd-00003 --json | jq -r .model)" = sensor ] || fail "dir model"
ok

# ---- refusals the one-pass CSR parser and the resume rule own ----
# A CSR whose signature does not verify (last byte of the DER flipped), and
# one whose key is too weak (secp256k1), made by openssl.
csr p256 forged
openssl req -in "$T/forged.csr" -outform DER -out forged.der
python3 -c 'import sys; b = bytearray(open(sys.argv[1], "rb").read()); b[-1] ^= 1; open(sys.argv[1], "wb").write(b)' forged.der
csr secp256k1 weak
csr p384 p384dev
csr ed25519 eddev
printf 'forged,cam,forged.der\nweak,cam,%s\np384dev,cam,%s\neddev,cam,%s\n' \
	"$T/weak.csr" "$T/p384dev.csr" "$T/eddev.csr" >forged.csv
expect 1 "$F" device issue --batch forged.csv --out-dir o2
jq -s -e 'any(.[]; .id == "forged" and .status == "refused" and
	(.reason | test("self-signature does not verify")))' "$T/out" >/dev/null ||
	fail "a forged CSR was not refused: $(cat "$T/out")"
jq -s -e 'any(.[]; .id == "weak" and .status == "refused")' "$T/out" >/dev/null ||
	fail "a secp256k1 CSR was not refused: $(cat "$T/out")"
jq -s -e '[.[] | select(.status == "issued") | .id] == ["p384dev", "eddev"]' "$T/out" >/dev/null ||
	fail "P-384 and Ed25519 CSRs were not issued: $(cat "$T/out")"
"$F" device show forged >/dev/null 2>&1 && fail "the forged CSR's device was registered"
ok
# A keygen item whose device is registered but whose key file is gone, or
# holds another key, is not ours: refused, never re-issued.
mv o1/k-0001.key k-0001.key.saved
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out o1/k-0002.key.new 2>/dev/null
mv o1/k-0002.key k-0002.key.saved && mv o1/k-0002.key.new o1/k-0002.key
printf 'k-0001,thermo\nk-0002,thermo\n' >keys.csv
expect 1 "$F" device issue --batch keys.csv --out-dir o1
jq -s -e 'any(.[]; .id == "k-0001" and .status == "refused" and
	(.reason | test("has no key for it")))' "$T/out" >/dev/null || fail "k-0001: $(cat "$T/out")"
jq -s -e 'any(.[]; .id == "k-0002" and .status == "refused" and
	(.reason | test("another key")))' "$T/out" >/dev/null || fail "k-0002: $(cat "$T/out")"
[ ! -e o1/k-0001.key ] || fail "a refused keygen item wrote a key"
mv k-0001.key.saved o1/k-0001.key && mv k-0002.key.saved o1/k-0002.key
expect 0 "$F" device issue --batch keys.csv --out-dir o1
[ "$(jq -r .summary.already_done < <(tail -1 "$T/out"))" = 2 ] || fail "keys back: $(cat "$T/out")"
ok
# Key generation without --out-dir: the keys would exist nowhere durable.
printf 'k-0003,thermo\n' >keygen.csv
expect 2 "$F" device issue --batch keygen.csv --out-tar kt.tar
one_line_error "key generation (line 1) needs --out-dir"
[ ! -e kt.tar ] || fail "a refused batch created its tar"
"$F" device show k-0003 >/dev/null 2>&1 && fail "k-0003 registered without its key kept"
ok

# ---- usage refusals: one line, exit 2, nothing written ----
expect 2 "$F" device issue --batch csrs/line2.csv
one_line_error "--batch needs --out-dir DIR and/or --out-tar"
expect 2 "$F" device issue --batch csrs/line2.csv --model cam --out-dir o9
one_line_error "--model goes with a directory"
expect 2 "$F" device issue d9 --batch csrs/line2.csv --out-dir o9
one_line_error "a device ID goes without --batch"
expect 1 "$F" device issue --batch csrs/line.csv --out-tar /nonexistent/dir/t.tar
one_line_error "/nonexistent/dir/t.tar"
[ ! -e o9 ] || fail "a refused command made its output directory"
ok
printf '# nothing\n' >empty.csv
expect 1 "$F" device issue --batch empty.csv --out-dir o9
one_line_error "the batch lists no device"

echo "batch_issue: $checks checks passed (N=$N)"
