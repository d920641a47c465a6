#!/bin/sh
# The reference-transaction shim alone (hooks/shim.sh), fed a committed transaction of
# N ref updates through a pipe as git feeds it, beside an empty `sh` hook (the floor:
# what git charges for any hook) and, when REV is given, the shim as of REV (before;
# fefe0c0 is the last commit with the quadratic loop: 206 s for 16,000 tags).
# git-seal itself is a stand-in that reads its input and exits, so only the shim is
# timed.
#
#     sh bench/shim.sh [N=16000] [RUNS=5] [REV]
#
# Prints the median wall time of RUNS runs per case (one for "before"), and the ratio
# to the floor.
# Target (issue 10): 16,000 tag updates <= 1 s in the shim.
set -eu
n=${1:-16000}
runs=${2:-5}
rev=${3:-}
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/git-seal-shim-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

printf '#!/bin/sh\ncat >/dev/null\n' >"$tmp/git-seal"
printf '#!/bin/sh\nexit 0\n' >"$tmp/empty"
make_shim() { # template -> shim
    sed -e "s|@HOOK@|reference-transaction|g" -e "s|@BIN@|$tmp/git-seal|g" "$1" >"$2"
    chmod +x "$2"
}
make_shim "$root/hooks/shim.sh" "$tmp/shim"
has_before=
if [ -n "$rev" ] && git -C "$root" show "$rev:hooks/shim.sh" >"$tmp/before.sh" 2>/dev/null; then
    make_shim "$tmp/before.sh" "$tmp/shim-before"
    has_before=1
fi
chmod +x "$tmp/git-seal" "$tmp/empty"

zero=0000000000000000000000000000000000000000
oid=1111111111111111111111111111111111111111
awk -v n="$n" -v z="$zero" -v o="$oid" 'BEGIN { for (i = 0; i < n; i++) print z, o, "refs/tags/t" i }' >"$tmp/tags"
awk -v n="$n" -v z="$zero" -v o="$oid" 'BEGIN { for (i = 0; i < n; i++) print z, o, "refs/heads/b" i; print z, o, "refs/tags/last" }' >"$tmp/branches-then-tag"
awk -v n="$n" -v z="$zero" -v o="$oid" 'BEGIN { for (i = 0; i < n; i++) print z, o, "refs/heads/b" i }' >"$tmp/branches"

now_ms() { date +%s%N | awk '{ printf "%.1f", $1 / 1000000 }'; }

# median wall ms of `cat INPUT | sh HOOK committed`, over COUNT runs
time_hook() { # hook input count
    i=0
    : >"$tmp/times"
    while [ "$i" -lt "$3" ]; do
        t0=$(now_ms)
        cat "$2" | sh "$1" committed
        t1=$(now_ms)
        echo "$t0 $t1" | awk '{ printf "%.1f\n", $2 - $1 }' >>"$tmp/times"
        i=$((i + 1))
    done
    sort -n "$tmp/times" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

echo "reference-transaction shim, $n updates in one committed transaction, median of $runs runs"
printf '%-34s %12s %12s %8s' "input" "empty sh" "shim" "ratio"
[ -n "$has_before" ] && printf ' %14s' "before ($rev)"
echo
for input in tags branches-then-tag branches; do
    floor=$(time_hook "$tmp/empty" "$tmp/$input" "$runs")
    shim=$(time_hook "$tmp/shim" "$tmp/$input" "$runs")
    ratio=$(echo "$shim $floor" | awk '{ printf "%.1f", $1 / $2 }')
    printf '%-34s %9s ms %9s ms %7sx' "$n $input" "$floor" "$shim" "$ratio"
    if [ -n "$has_before" ]; then
        # One run: the quadratic loop takes tens of seconds.
        before=$(time_hook "$tmp/shim-before" "$tmp/$input" 1)
        printf ' %11s ms' "$before"
    fi
    echo
done
echo "target: 16000 tags <= 1000 ms in the shim. A transaction with no tag is read to"
echo "its end by the shell's read, which takes one byte a system call from a pipe:"
echo "linear, and the price of starting no process for it."
