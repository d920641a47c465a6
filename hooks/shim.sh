#!/bin/sh
# git-seal hook shim: installed by `git seal install`, removed by `git seal uninstall`.
# A hook that was here before install is kept beside this one as "<name>.seal-chained";
# it still runs first, with the same arguments and the same standard input.
hook='@HOOK@'
seal_bin='@BIN@'
chained="$0.seal-chained"
# git's pid, so that git-seal can read git's command line (a fetch's tags, a push's
# --dry-run).
SEAL_GIT_PID=$PPID
export SEAL_GIT_PID

# Hot path: git runs reference-transaction twice for every ref it updates (git 2.47
# fetch: twice per fetched ref). Only a committed transaction can concern us.
if [ "$hook" = reference-transaction ] && [ "$1" != committed ] && [ ! -e "$chained" ]; then
    exit 0
fi

case "$hook" in
pre-push | pre-receive | post-rewrite | reference-transaction) reads_stdin=1 ;;
*) reads_stdin= ;;
esac

if [ -x "$chained" ]; then
    if [ -n "$reads_stdin" ]; then
        input=$(mktemp "${TMPDIR:-/tmp}/git-seal-stdin.XXXXXX") || exit 1
        trap 'rm -f "$input"' EXIT
        cat >"$input"
        "$chained" "$@" <"$input"
        status=$?
        exec <"$input"
    else
        "$chained" "$@"
        status=$?
    fi
    # A gate that the chained hook closed stays closed.
    case "$hook" in
    pre-push | pre-receive | reference-transaction) [ "$status" -eq 0 ] || exit "$status" ;;
    esac
fi

if [ "$hook" = reference-transaction ]; then
    # Only a committed transaction that touches a tag or a fetched ledger
    # (refs/seal/remotes/) concerns git-seal: every other call ends here, without
    # starting a process. The loop stops at the first line that concerns it, and
    # git-seal gets that line and the rest of the transaction unread (it picks its
    # lines itself): linear in the refs, where a shell string grown line by line
    # costs the square of their number.
    [ "$1" = committed ] || exit 0
    first=
    while read -r old new ref; do
        case "$ref" in
        refs/tags/* | refs/seal/remotes/*)
            first="$old $new $ref"
            break
            ;;
        esac
    done
    [ -n "$first" ] || exit 0
fi

[ -x "$seal_bin" ] || seal_bin=$(command -v git-seal 2>/dev/null) || seal_bin=
if [ -z "$seal_bin" ]; then
    case "$hook" in
    pre-push | pre-receive)
        [ "$hook" = pre-push ] && [ "${SEAL_SKIP:-}" = 1 ] && exit 0
        echo "error: git-seal cannot check this push: its binary is gone (was @BIN@)" >&2
        echo "hint: reinstall it with ./install.sh, or put git-seal on PATH" >&2
        exit 1 ;;
    reference-transaction)
        cat >/dev/null
        exit 0 ;;
    *)
        echo "warning: git-seal ($hook): its binary is gone (was @BIN@); nothing was sealed" >&2
        echo "hint: reinstall it with ./install.sh, then run: git seal seal --missing" >&2
        exit 0 ;;
    esac
fi

if [ "$hook" = reference-transaction ]; then
    { printf '%s\n' "$first" && cat; } | "$seal_bin" hook "$hook" "$@"
    exit $?
fi
if [ -n "${input:-}" ]; then
    "$seal_bin" hook "$hook" "$@"
    exit $?
fi
exec "$seal_bin" hook "$hook" "$@"
