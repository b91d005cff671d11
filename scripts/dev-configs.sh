#!/usr/bin/env bash
# Real-world configs (../shared/corpus/dev-configs.tsv) through Kamailio and through our front end.
#
# Usage: [MUTANTS="03 38"] scripts/dev-configs.sh SOURCES [TSV]
#   SOURCES  either a mirror directory laid out as the project's fetch tool leaves it
#            (SOURCES/<owner>+<name>/repo[/.git], a git dir) or a folder of checkouts
#            (SOURCES/<owner>/<name> or SOURCES/<name>, git work trees or plain copies).
#   TSV      default: ../shared/corpus/dev-configs.tsv next to this repository.
#
# Steps (docs/config-frontend.md, "Real-world configs"):
#   1. each row's repository is exported at its listed commit (or, if the commit is absent, at its
#      newest version, noted in the manifest) into scratch/dev-configs/<id>/ (git-ignored: never commit);
#   2. the deployment fix-ups the TSV names are applied to that copy: `mpath`/`loadpath` pointed at
#      Debian's module directory, template placeholders rendered with sed, `-A` defines listed;
#   3. /usr/sbin/kamailio -c runs on each copy (if installed) and its first error is shown;
#   4. scratch/dev-configs/manifest.tsv (id, file, defines, expected verdict, expected line, note) is
#      written and the ignored test crates/config/tests/dev_configs.rs checks our verdict against it
#      and prints the table.
# The expected verdicts are Kamailio 5.6.3's after the fix-ups: "ok" also for rows Kamailio rejects only
# because a module (or a module function/parameter) is missing from Debian — that is not syntax.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
src=${1:?usage: scripts/dev-configs.sh SOURCES [TSV]}
tsv=${2:-$here/../shared/corpus/dev-configs.tsv}
out=$here/scratch/dev-configs
moddir=/usr/lib/x86_64-linux-gnu/kamailio/modules
mkdir -p "$out"
manifest=$out/manifest.tsv
: >"$manifest"
kamlog=$out/kamailio.tsv
: >"$kamlog"

# Per row: defines (-A), placeholder renderings (sed expressions), expected verdict and line.
# Verdicts and lines are Kamailio 5.6.3's (the TSV's last column, re-run here); "ok" rows that Kamailio
# still refuses are refused for module reasons only (see the TSV's check_detail).
fixups() {
	defs="" render="" want=ok line=- note=""
	case $1 in
	01) note="kamailio: missing module mi_fifo (module, not syntax)" ;;
	08) render='s/{{ *\(DBHOST\|KAM_PRIVATE_IP\|KAM_PUBLIC_IP\|HOMER_IP\) *}}/127.0.0.1/g; s/{{ *DBUSER *}}/kamailio/g; s/{{ *DBPASS *}}/secret/g; s/{{ *HOMER_PORT *}}/9060/g; s/{{ *LOCAL_SUBSCRIBER_REGEXP *}}/^1[0-9]{3}/g' ;;
	10)
		defs="MY_IP=127.0.0.1 UDP_SIP_PORT=5060 SBC_PORT=5060 ADVERTISE_IP=127.0.0.1 EN_SIPDUMP=127.0.0.1"
		want=error line=135 note="modparam value EN_SIPDUMP=127.0.0.1 is neither int nor string"
		;;
	11) defs="EPHEMERAL_IP_ADDR=127.0.0.1" ;;
	15) note="kamailio: missing module mi_rpc (module, not syntax)" ;;
	17) defs="LISTEN=127.0.0.1" ;;
	18) note="kamailio: dlg_set_var/5 not exported by 5.6.3 (module, not syntax)" ;;
	21) want=error line=54 note="listen=tcp:MY_IP4_ADDR:MY_WS_PORT placeholders" ;;
	23) note="kamailio: missing module mi_fifo (module, not syntax)" ;;
	24) note="kamailio: missing module mi_fifo (module, not syntax)" ;;
	29) note="kamailio: dispatcher dst_avp removed (module, not syntax)" ;;
	30)
		# The TSV's verdict is the first failure (an advertised name that does not resolve); Kamailio
		# goes on parsing and its first *syntax* error is line 420 (`"x.yourrealm.com, "subscriber"`).
		want=error line=420 note="unbalanced quotes in proxy_authorize(); also an unclosed #!ifdef (line 62)"
		;;
	35)
		defs="SERVER_HEADER=127.0.0.1"
		want=error line=13 note="server_header needs a quoted string"
		;;
	36) note="kamailio: dispatcher dst_avp removed (module, not syntax)" ;;
	37) render='s/<\(advertise\|external\|internal\|rtp_engine\)_ip_change_it>/127.0.0.1/g' ;;
	39) render='s/{{ *\(DB_HOST\) *}}/127.0.0.1/g; s/{{ *DB_USER *}}/homer/g; s/{{ *DB_PASS *}}/secret/g; s/{{ *DB_PORT *}}/3306/g; s/{{ *KAMAILIO_HEP_PORT *}}/9060/g; s/{{ *CAPTURE_NODE *}}/homer01/g' ;;
	42) note="kamailio: missing module app_python3s (module, not syntax)" ;;
	43) want=error line=44 note="import_files is not Kamailio syntax (Kazoo's own build)" ;;
	esac
}

# Kamailio 5.6.3's verdict on the rows whose fix-ups matter, run as is (no define, no rendering):
# "error LINE" (entry file) or "error FILE:LINE" (FILE relative to the entry's folder), or "ok" when
# Kamailio fails only to resolve an undefined host name (not syntax).
asis() {
	case $1 in
	08) echo "error 78" ;;
	10) echo "error 48" ;;
	11 | 17) echo "ok -" ;;
	35) echo "error 13" ;;
	37) echo "error kamailio-local.cfg:7" ;;
	39) echo "error 46" ;;
	esac
}

# Finds the git dir or the checkout of owner/name under $src.
locate() {
	local repo=$1 m
	m=$src/${repo/\//+}/repo
	[ -d "$m/.git" ] && m=$m/.git
	if [ -d "$m" ]; then echo "git:$m"; return; fi
	for m in "$src/$repo" "$src/${repo#*/}"; do
		if [ -d "$m/.git" ]; then echo "git:$m/.git"; return; fi
		if [ -d "$m" ]; then echo "dir:$m"; return; fi
	done
}

# Exports row $1 (repo $2, commit $3, config path $4) into $5; sets $at to the commit used.
export_row() {
	local id=$1 repo=$2 commit=$3 path=$4 dest=$5 where g
	rm -rf "$dest"
	mkdir -p "$dest"
	where=$(locate "$repo")
	at=$commit
	case $where in
	git:*)
		g=${where#git:}
		git --git-dir="$g" cat-file -e "$commit^{commit}" 2>/dev/null || at=HEAD
		# The whole tree when possible (includes may be anywhere); some snapshots lack large blobs,
		# then only the config's folder.
		if ! git --git-dir="$g" archive "$at" 2>/dev/null | tar -x -C "$dest" 2>/dev/null; then
			git --git-dir="$g" archive "$at" -- "$(dirname "$path")" | tar -x -C "$dest"
		fi
		;;
	dir:*) cp -a "${where#dir:}/." "$dest/" ;;
	*)
		echo "$id: $repo not found under $src" >&2
		return 1
		;;
	esac
	# mpath/loadpath -> Debian's module directory (same line count; our front end ignores the value).
	find "$dest" -name '*.cfg' -exec sed -i -E \
		"s|^([[:space:]]*)(mpath\|loadpath)([[:space:]]*=?[[:space:]]*)\"[^\"]*\"|\1\2\3\"$moddir/\"|" {} +
}

# Runs kamailio -c on $1 with defines $2 and logs its first syntax error (or first error) under id $3.
kamailio_check() {
	local file=$1 defs=$2 id=$3 msg args=()
	[ -x /usr/sbin/kamailio ] || return 0
	for d in $defs; do args+=(-A "$d"); done
	msg=$(cd "$(dirname "$file")" && timeout 20 /usr/sbin/kamailio -c -L "$moddir" "${args[@]}" \
		-f "$file" 2>&1)
	local mods
	mods=$(grep -o 'could not find module <[^>]*>' <<<"$msg" | sed 's/.*<\(.*\)>/\1/' | sort -u | paste -sd'|')
	# A syntax error names file and line; otherwise the first error (module, resolve …).
	msg=$(grep -m1 'parse error in config file' <<<"$msg" || grep -m1 -E 'ERROR|CRITICAL|config file ok' <<<"$msg")
	printf '%s\t%s\n' "$id" "${msg#*: }" >>"$kamlog"
	# Modules Debian lacks: check the rest of the syntax with their loadmodule/modparam lines
	# commented out (same line numbers) in a throw-away copy.
	if [ -n "$mods" ]; then
		local top=$out/${id%%-*} copy=$out/$id-nomod
		rm -rf "$copy"
		cp -a "$top" "$copy"
		find "$copy" -name '*.cfg' -exec sed -i -E \
			"s/^([[:space:]]*(loadmodule[[:space:]]*\"($mods)(\.so)?\"|modparam\(\"($mods)\"))/#\1/" {} +
		local f2=$copy/${file#"$top"/}
		msg=$(cd "$(dirname "$f2")" && timeout 20 /usr/sbin/kamailio -c -L "$moddir" "${args[@]}" -f "$f2" 2>&1)
		msg=$(grep -m1 'parse error in config file' <<<"$msg" || grep -m1 -E 'ERROR|CRITICAL|config file ok' <<<"$msg")
		printf '%s\t%s\n' "$id without ${mods//|/,}" "${msg#*: }" >>"$kamlog"
	fi
}

tail -n +2 "$tsv" | while IFS=$'\t' read -r id repo path commit _; do
	dest=$out/$id
	export_row "$id" "$repo" "$commit" "$path" "$dest" || continue
	fixups "$id"
	[ "$at" = HEAD ] && note="commit $commit absent: newest version used; $note"
	[ -n "$render" ] && find "$dest" -name '*.cfg' -exec sed -i "$render" {} +
	file=$dest/$path
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$id" "$file" "$defs" "$want" "$line" "$note" >>"$manifest"
	kamailio_check "$file" "$defs" "$id"
	# The same row as is, where the fix-ups change the verdict.
	v=$(asis "$id")
	if [ -n "$v" ]; then
		export_row "$id" "$repo" "$commit" "$path" "$out/$id-asis" || continue
		printf '%s\t%s\t\t%s\t%s\t%s\n' "$id-asis" "$out/$id-asis/$path" "${v% *}" "${v#* }" \
			"as is, no fix-up" >>"$manifest"
		kamailio_check "$out/$id-asis/$path" "" "$id-asis"
	fi
done

# Optional: MUTANTS="03 38" blanks each non-empty line of those rows' entry files in turn (line numbers
# kept), asks Kamailio for each mutant's verdict (syntax errors only; module/resolve failures count as
# accepted; loadmodule lines and conditional directives are not blanked: the first is module
# knowledge, the second breaks the #!ifdef balance, which Kamailio reports without a line) and checks ours.
mutants() {
	local id=$1 file dir n i m msg pe v l f mf=$out/mutants-$1.tsv
	file=$(awk -F'\t' -v i="$id" '$1==i{print $2}' "$manifest")
	[ -n "$file" ] || return
	dir=$(dirname "$file")
	n=$(wc -l <"$file")
	: >"$mf"
	for ((i = 1; i <= n; i++)); do
		[ -z "$(sed -n "${i}p" "$file" | tr -d '[:space:]')" ] && continue
		# Without a module Kamailio refuses its functions and variables: module knowledge, the
		# script compiler's job, not the front end's.
		sed -n "${i}p" "$file" | grep -qE '^[[:space:]]*loadmodule' && continue
		# A blanked conditional breaks the #!ifdef/#!endif balance, which Kamailio reports without
		# a line (and only after a clean parse): nothing to compare.
		sed -n "${i}p" "$file" | grep -qE '^[[:space:]]*(#!|!!)(ifn?def|ifexp|else|endif)' && continue
		m=$dir/mut-$i.cfg
		sed "${i}s/.*//" "$file" >"$m"
		msg=$(cd "$dir" && timeout 20 /usr/sbin/kamailio -c -L "$moddir" -f "$m" 2>&1)
		if grep -q 'config file ok' <<<"$msg"; then
			v=ok l=-
		elif grep -q 'different number of preprocessor directives' <<<"$msg"; then
			continue
		else
			pe=$(grep 'parse error in config file' <<<"$msg" | grep -v -E \
				"failed to load module|Can't set module parameter|unknown command, missing loadmodule|failed to find command|Can't get from cache" | head -1)
			if [ -n "$pe" ]; then
				v=error
				l=$(sed -E 's/.*config file ([^,]*), (from )?line ([0-9]+).*/\1:\3/' <<<"$pe")
				f=${l%:*} l=${l##*:}
				[ "$f" != "$m" ] && l="$(basename "$f"):$l"
			else
				v=ok l=-
			fi
		fi
		printf '%s\t%s\t\t%s\t%s\t%s\n' "$id-blank$i" "$m" "$v" "$l" "$(sed -n "${i}p" "$file" | tr -d '\t' | cut -c1-50)" >>"$mf"
	done
	echo "== mutants of $id =="
	DEV_CONFIGS_MANIFEST=$mf CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target-devcfg} \
		cargo test -q -p ferrosip-config --test dev_configs -- --ignored --nocapture 2>&1 |
		grep -E '\*\*no\*\*|rows disagree|test result'
}
if [ -n "${MUTANTS:-}" ] && [ -x /usr/sbin/kamailio ]; then
	for id in $MUTANTS; do (cd "$here" && mutants "$id"); done
fi

if [ -s "$kamlog" ]; then
	echo "== kamailio -c (first error line) =="
	cut -c1-220 "$kamlog"
fi
echo "== our front end =="
cd "$here" && CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target-devcfg} \
	cargo test -q -p ferrosip-config --test dev_configs -- --ignored --nocapture
